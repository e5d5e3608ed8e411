"""A subclassed model's attribute layer used only inside a nested model gets its own entry.

Keras lists a model's weights layer by layer in tracking order, each variable once, at the
first place it is found.  In ``self.enc_input = Embed(); self.encoder = Sequential([
self.enc_input, ...])`` (keras.io's speech-recognition Transformer), ``call`` only runs the
``Sequential``, yet Keras lists ``enc_input``'s weights first, at its own attribute, before
the rest of the encoder's.  Lamina's build records only the layers ``call`` ran, so such a
layer had no entry and its weights came out in the nested model's place.  Here it gets an
entry holding a copy of its arrays taken from the nested model; that first place becomes the
weights' home (:mod:`lamina.models.shared_copies`) and the nested model's arrays its copies.

>>> import lamina
>>> from lamina import layers
>>> class Net(lamina.Model):
...     def __init__(self):
...         super().__init__()
...         self.head = layers.Dense(2, name="head")
...         self.body = lamina.Sequential([layers.Dense(3, name="d3"), self.head])
...     def call(self, x):
...         return self.body(x)
>>> net = Net()
>>> net.build((None, 4))
>>> [w.shape for w in net.get_weights()]
[(3, 2), (2,), (4, 3), (3,)]
"""

from __future__ import annotations

_MAX_DEPTH = 16


def arrays_in_nested(layer, entries) -> tuple[dict, dict] | None:
    """``layer``'s ``(params, state)`` as held inside one of the nested models of
    ``entries`` (``[(model layer, params, state)]``, in the outer model's order), keyed as
    the layer keys them itself; None when no nested model holds it."""
    for holder, params, state in entries:
        if not getattr(holder, "_is_model", False):
            continue
        prefix = _prefix_in(holder, layer, "", 0)
        if prefix is None:
            continue
        cut = len(prefix)
        own_params = {k[cut:]: v for k, v in params.items() if k.startswith(prefix)}
        own_state = {k[cut:]: v for k, v in state.items() if k.startswith(prefix)}
        if own_params or own_state:
            return own_params, own_state
    return None


def _prefix_in(model, layer, prefix, depth):
    """The key prefix (``"inner/dense/"``) of ``layer``'s arrays in ``model``'s entry, as
    :func:`lamina.models.shared_copies.copies` walks it; None when ``model`` lacks it."""
    if depth >= _MAX_DEPTH:
        return None
    for sub in model.__dict__.get("_layers") or ():
        if sub is layer:
            return f"{prefix}{sub.name}/"
        if getattr(sub, "_is_model", False):
            found = _prefix_in(sub, layer, f"{prefix}{sub.name}/", depth + 1)
            if found is not None:
                return found
    return None
