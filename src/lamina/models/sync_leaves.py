"""Where a model's leaf layers keep their arrays, and the per-model record of
:mod:`lamina.models.weight_sync` that caches the map.

A *leaf* is a layer of the model that is not itself a model; the layers of a nested model are
leaves of the outer one, their arrays under ``"<layer name>/"`` in the nested model's dicts,
and a layer another one reads (tied weights) is a leaf where a custom layer holds a copy of
it.  :func:`leaves` maps each leaf to ``(index in model._layers, name prefix)``, and
:func:`arrays_in` reads the arrays at such a place of a ``TrainState``.

These names stay importable from :mod:`lamina.models.weight_sync`.
"""

from __future__ import annotations

import weakref

from lamina.layers.borrowed import held_copies


class _Sync:
    """A model's bookkeeping; never copied or pickled with the model (a copy starts afresh)."""

    __slots__ = ("model", "gen", "synced_at", "claimed_at", "pulled", "leaves", "box", "isolated")

    def __init__(self, model):
        self.model = weakref.ref(model)
        self.gen = 0
        self.synced_at = -1
        self.claimed_at = -1
        self.pulled: dict = {}
        self.leaves = None  # (key, {id(leaf): (leaf, index, prefix)})
        self.box = None  # [ts, weight order, leaves, weakref] for the death finalizer
        self.isolated = False

    def __reduce__(self):
        return (_fresh, ())

    def __copy__(self):
        return None

    def __deepcopy__(self, memo):
        return None


def _fresh():
    return None


def sync_of(model) -> _Sync:
    s = model.__dict__.get("_wsync")
    if s is None or s.model() is not model:
        s = _Sync(model)
        model.__dict__["_wsync"] = s
    return s


def isolate(model) -> None:
    """Makes ``model`` keep its weights to itself (``copy.copy`` of a model: the copy shares
    the layer objects but not their weights)."""
    sync_of(model).isolated = True


def leaves(model) -> dict:
    """``{id(leaf): (leaf, index in model._layers, name prefix)}`` of ``model``; a layer
    another one reads (tied weights) is a leaf where a custom layer holds a copy of it."""
    s = sync_of(model)
    layers = model.__dict__.get("_layers") or ()
    order = model.__dict__.get("_weight_order")
    key = (id(layers), len(layers), id(layers[-1]) if layers else None, id(order))
    if s.leaves is not None and s.leaves[0] == key:
        return s.leaves[1]
    found: dict = {}
    for i, layer in enumerate(layers):
        names = (*order[i][0], *order[i][1]) if order is not None and i < len(order) else ()
        _collect(layer, i, "", found, 0, names)
    s.leaves = (key, found)
    return found


def _collect(layer, i, prefix, found, depth, names=()):
    # ``prefix``: where ``layer``'s arrays start in the dicts of entry ``i`` (``names``).
    if getattr(layer, "_is_model", False) and depth < 16:
        for sub in layer.__dict__.get("_layers") or ():
            _collect(sub, i, f"{prefix}{sub.name}/", found, depth + 1, names)
        return
    found.setdefault(id(layer), (layer, i, prefix))
    if depth < 16:  # the copies a custom layer keeps of layers it reads (tied weights)
        for sub, at in held_copies(layer, prefix, names):
            _collect(sub, i, at, found, depth + 1, names)


def locate(model, layer):
    """``(index, prefix)`` of ``layer``'s arrays in ``model``'s state, or None."""
    for i, la in enumerate(model.__dict__.get("_layers") or ()):
        if la is layer:
            return _home(model, i)
    entry = leaves(model).get(id(layer))
    return None if entry is None else entry[1:]


def _home(model, i):
    """``(index, prefix)`` of the weights of ``model._layers[i]``: where a layer used at an
    earlier place too (a model nested before it) holds them (``shared_copies``)."""
    from lamina.models.shared_copies import copies

    order = model.__dict__.get("_weight_order")
    names = (*order[i][0], *order[i][1]) if order is not None and i < len(order) else ()
    pairs = copies(model)
    for k in names:
        home = pairs.get((i, k))
        if home is not None:
            return home[0], home[1][: len(home[1]) - len(k)]
    return i, ""


def arrays_in(ts, order, i, prefix):
    """``(params, state, names)`` of the arrays at ``(i, prefix)`` of ``ts``."""
    p, s = ts.params[i], ts.state[i]
    if not prefix:
        return p, s, order[i]
    cut = len(prefix)
    return (
        {k[cut:]: v for k, v in p.items() if k.startswith(prefix)},
        {k[cut:]: v for k, v in s.items() if k.startswith(prefix)},
        (
            tuple(k[cut:] for k in order[i][0] if k.startswith(prefix)),
            tuple(k[cut:] for k in order[i][1] if k.startswith(prefix)),
        ),
    )


def raw_state(model):
    return model.__dict__.get("_train_state")
