"""Keras 3's variable paths (``variable.path``) for the weights Lamina's layers hold.

Keras names a variable by the name scopes open when it is made: a layer makes its weights
in a scope of its own name, opened under the scopes open where the layer was first built or
called (its recorded ``_parent_path``, :mod:`lamina.scopes`).  So a layer built by a
``Sequential`` is ``sequential/dense/kernel``, an ``LSTM``'s cell weights are
``lstm/lstm_cell/kernel`` and a custom layer's sub-layer is ``block/<sub-layer name>/kernel``.

Lamina keeps a layer's weights in one flat dict whose keys name sub-layers by attribute
path (``proj/kernel``) or by role (a ``Bidirectional``'s ``forward/kernel``, an ``LSTM``'s
bare ``kernel``); :func:`weight_path` maps such a key to the path Keras gives that weight.
The keys, and so the files Lamina writes, are unchanged.

>>> import lamina as keras
>>> model = keras.Sequential(
...     [keras.Input((5, 3)), keras.layers.LSTM(2, name="lstm")], name="seq")
>>> [w.path for w in model.weights]
['seq/lstm/lstm_cell/kernel', 'seq/lstm/lstm_cell/recurrent_kernel', 'seq/lstm/lstm_cell/bias']
"""

from __future__ import annotations

__all__ = ["layer_path", "weight_path"]

# A ``Bidirectional``'s weight keys start with these, for its two copies of the layer.
_DIRECTIONS = {"forward": "forward_layer", "backward": "backward_layer"}
# The names Keras gives the cells of its recurrent layers (fixed: no automatic numbering);
# Lamina's built-in recurrent layers keep the cell's weights under their own keys.
_CELL_NAMES = {
    "LSTM": "lstm_cell",
    "GRU": "gru_cell",
    "SimpleRNN": "simple_rnn_cell",
    "ConvLSTM1D": "conv_lstm_cell",
    "ConvLSTM2D": "conv_lstm_cell",
    "ConvLSTM3D": "conv_lstm_cell",
}


def weight_path(layer, key: str, parent: str | None = None) -> str:
    """The Keras path of ``layer``'s weight ``key`` (a key of its weight dicts).

    Args:
        layer: the layer holding the weight.
        key: the weight's key there (``"kernel"``, ``"proj/kernel"``, ``"forward/bias"``).
        parent: the path the layer's name comes under when it recorded none itself (a
            sub-layer Lamina never built on its own, such as an ``LSTM``'s cell).

    Returns:
        ``"<parent path>/<layer name>/<sub-layer names>/<weight name>"``.

    >>> from lamina.layers import Dense
    >>> weight_path(Dense(2, name="d"), "kernel", "block")
    'block/d/kernel'
    """
    noted = _noted_parent(layer)
    base = _joined(parent if noted is None else noted, layer.name)
    found = _sub_layer(layer, key)
    if found is None:
        cell = _builtin_cell_name(layer)
        return f"{base}/{key}" if cell is None else f"{base}/{cell}/{key}"
    sub, rest = found
    return weight_path(sub, rest, base)


def layer_path(layer) -> str:
    """The Keras path of ``layer`` itself: its weights' paths without the weight name, and
    the prefix of ``"<path>/output"``, the name ``ModelParallel`` gives its output.

    >>> from lamina.layers import Dense
    >>> layer_path(Dense(2, name="d"))
    'd'
    """
    return _joined(_noted_parent(layer), layer.name)


def _noted_parent(layer):
    """The path ``layer`` was first built under; a model's own variables take the model's."""
    if _holds_own(layer):
        layer = layer.__dict__["_model"]
    return layer.__dict__.get("_parent_path")


def _joined(parent, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _sub_layer(layer, key: str):
    """``(sub-layer, its key)`` when ``layer`` keeps weight ``key`` for a sub-layer Keras
    builds inside it, else None."""
    from lamina.layers.base import Layer

    head, _, rest = key.partition("/")
    if rest and head in _DIRECTIONS:
        sub = layer.__dict__.get(_DIRECTIONS[head])
        if isinstance(sub, Layer):
            return sub, rest
    if getattr(layer, "_is_model", False):
        if not rest:
            return None  # a subclassed model's own variable (``model/w``)
        for sub in getattr(layer, "_layers", None) or ():
            if sub.name == head and not _holds_own(sub):
                return sub, rest
        return None
    if rest:
        found = _by_attribute_path(layer, key)
        if found is not None:
            return found
    # An RNN keeps its cell's weights, a TimeDistributed its inner layer's, under their names.
    for attr in ("cell", "layer"):
        sub = layer.__dict__.get(attr)
        if isinstance(sub, Layer) and sub is not layer and _declares(sub, head):
            return sub, key
    return None


def _builtin_cell_name(layer):
    if getattr(layer, "_traced", False):
        return None
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("lamina.") and cls.__name__ in _CELL_NAMES:
            return _CELL_NAMES[cls.__name__]
    return None


def _declares(sub, head: str) -> bool:
    """Whether a wrapped layer makes weight ``head`` (a wrapper's own weights, such as
    ``SpectralNormalization``'s ``vector_u``, stay under the wrapper)."""
    if _holds_own(sub) or getattr(sub, "_traced", False):
        return not _holds_own(sub)
    try:
        names = tuple(sub._weight_regularizers())
    except (AttributeError, TypeError, ValueError):
        return True
    return not names or head in names or _builtin_cell_name(sub) is not None


def _holds_own(sub) -> bool:
    """A model's holder of its own variables (``self.add_weight`` on the model): Keras puts
    them directly under the model's name."""
    from lamina.models.own_variables import is_holder

    return is_holder(sub)


def _by_attribute_path(layer, key: str):
    """The sub-layer a key's leading parts name by attribute path (``proj``, ``blocks/0``,
    ``cells/1``, ``activation``) and the rest of the key."""
    from lamina.layers.base import Layer

    if getattr(layer, "_traced", False):
        from lamina.layers.tracing import tracked_layers

        for path, sub in tracked_layers(layer):
            if key.startswith(path + "/"):
                return sub, key[len(path) + 1 :]
        return None
    parts = key.split("/")
    value = layer
    for i, part in enumerate(parts[:-1]):
        if isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Layer) and isinstance(value.__dict__.get(part), Layer | list):
            value = value.__dict__[part]
        else:
            return None
        if isinstance(value, Layer):
            return value, "/".join(parts[i + 1 :])
    return None
