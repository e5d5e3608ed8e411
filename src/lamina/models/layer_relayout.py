"""Changing the layout of one built layer's arrays where they live (``enable_lora`` moves a
kernel from the trainable ``params`` to the non-trainable ``state`` and adds weights).

The owner of record (:mod:`lamina.models.weight_sync`) gets the new arrays; a model nested
between it and the layer gets the new names and a copy in the new layout, without claiming
the layer; a standalone layer changes its own store.  The optimizer's state is dropped: its
slots no longer match the trainable weights (the next ``fit`` makes new ones, as a
re-``compile`` would).
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.models import weight_sync


def relayout(layer, arrays: Callable, names: Callable) -> None:
    """Applies a new layout to ``layer``'s arrays in every model between its owner and it.

    Args:
        layer: a built layer.
        arrays: ``arrays(params, state, prefix) -> (params, state)``: one state entry's dicts
            in the new layout (the layer's keys start with ``prefix``).
        names: ``names((param names, state names), prefix) -> (param names, state names)``.
    """
    owner, tail = _holding_model(layer)
    chain = _chain(owner, tail[0]) if owner is not None else None
    if not chain:
        store = layer.__dict__.get("_standalone")
        p, s = arrays(store[0], store[1], "")
        layer._standalone = [p, s, names(store[2], "")]
        weight_sync.standalone_written(layer)
        return
    for depth, (model, j) in enumerate(chain):
        prefix = "".join(f"{m._layers[k].name}/" for m, k in chain[depth + 1 :]) + tail[1]
        ts = model._train_state if depth == 0 else model.__dict__.get("_train_state")
        order = list(model._weight_order)
        old = order[j]
        order[j] = names(old, prefix)
        model.__dict__["_weight_order"] = tuple(order)
        if ts is None or j >= len(ts.params):
            continue
        if any(k not in ts.params[j] for k in old[0] if k.startswith(prefix)):
            continue  # a copy in another layout (rebuilt since): pulled from the owner
        params, state = list(ts.params), list(ts.state)
        params[j], state[j] = arrays(params[j], state[j], prefix)
        new = ts._replace(params=tuple(params), state=tuple(state), opt_state=None)
        if depth == 0:
            model._train_state = new  # the owner of record: the models sharing it follow
        else:
            weight_sync.relaid(model, new)


def _holding_model(layer):
    """``(model, (layer listed by it, key prefix))``: a layer held by a Keras-style layer's
    attribute (``self.dense = Dense(4)``) has its arrays in the model listing that holder,
    under the attribute path (``dense/kernel``)."""
    listed, path = layer, ""
    owner = layer._owner_model()
    for _ in range(16):
        if owner is None or getattr(owner, "_is_model", False):
            return owner, (listed, path)
        from lamina.layers.tracing import tracked_layers

        attr = next((p for p, sub in tracked_layers(owner) if sub is listed), None)
        if attr is None:
            return None, (layer, "")
        listed, path = owner, f"{attr}/{path}"
        owner = owner._owner_model()
    return None, (layer, "")


def _chain(model, layer, depth: int = 0):
    """``[(model, index), ...]`` from ``model`` down to the model listing ``layer``."""
    for j, la in enumerate(model.__dict__.get("_layers") or ()):
        if la is layer:
            return [(model, j)]
        if getattr(la, "_is_model", False) and depth < 16:
            inner = _chain(la, layer, depth + 1)
            if inner:
                return [(model, j), *inner]
    return None
