"""A model's weights as Keras's flat list of arrays: ``get_weights``, ``set_weights``,
``count_params``.

A model keeps its arrays in its ``TrainState``: one dict of params and one of state per layer.
Keras users see them as one list, layer by layer, each layer's trainable weights first
(``model._weight_order`` holds each layer's ``(param names, state names)`` in that order, since
pytrees sort dict keys).  ``Sequential`` and functional ``Model`` share these methods, so they
live apart from either class.

>>> from lamina.models import Sequential
>>> from lamina.layers import Dense, Input
>>> model = Sequential([Input((4,)), Dense(2)])
>>> [w.shape for w in get_weights(model)]
[(4, 2), (2,)]
>>> count_params(model)
10
"""

from __future__ import annotations

import jax
import numpy as np

from lamina.models.shared_copies import copies, tied


def entry_order(layer, p_names, s_names) -> list[tuple[str, bool]]:
    """``(key, trainable)`` of one layer's arrays in Keras's ``layer.weights`` order: its own
    weights (trainable first), then each sub-layer's in turn, recursively (a nested model's
    ``BatchNormalization`` lists its moving statistics before the next layer's kernel).

    >>> from lamina.models import Sequential
    >>> from lamina.layers import BatchNormalization, Dense, Input
    >>> inner = Sequential([Input((2,)), BatchNormalization(name="bn"), Dense(1, name="d")])
    >>> [k for k, _ in entry_order(inner, *inner_names(inner))]
    ['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance', 'd/kernel', 'd/bias']
    """
    listed = getattr(layer, "_keras_weight_list", None)
    if listed is not None:  # a layer listing its weights in its own order (Keras's)
        items = [(k, True) for k in p_names] + [(k, False) for k in s_names]
        return listed(items, lambda kt: kt[0])
    own = [(k, True) for k in p_names if "/" not in k]
    own += [(k, False) for k in s_names if "/" not in k]
    if not getattr(layer, "_is_model", False):
        # A layer's ``weights`` (``weight_views._keras_order``): its own, then its sub-layers'
        # in the order Keras tracked them (two lists filled in one loop interleave).
        from lamina.layers.weight_views import keras_grouped

        items = [(k, True) for k in p_names] + [(k, False) for k in s_names]
        return keras_grouped(items, lambda kt: kt[0], lambda kt: kt[1], layer)
    out, seen = list(own), {k for k, _ in own}
    for prefix, sub in _sublayers(layer):
        cut = len(prefix) + 1
        sub_p = [k[cut:] for k in p_names if k.startswith(prefix + "/") and k not in seen]
        sub_s = [k[cut:] for k in s_names if k.startswith(prefix + "/") and k not in seen]
        for k, t in entry_order(sub, sub_p, sub_s):
            out.append((f"{prefix}/{k}", t))
            seen.add(f"{prefix}/{k}")
    out += [(k, True) for k in p_names if k not in seen]
    seen.update(p_names)
    out += [(k, False) for k in s_names if k not in seen]
    return out


def inner_names(model) -> tuple[tuple, tuple]:
    """A built model's keys as a layer holding it sees them (``sublayer/key``)."""
    model._require_built("weights")
    order = model._weight_order
    return (
        tuple(f"{la.name}/{k}" for la, o in zip(model._layers, order) for k in o[0]),
        tuple(f"{la.name}/{k}" for la, o in zip(model._layers, order) for k in o[1]),
    )


def _sublayers(model) -> list[tuple[str, object]]:
    """``(key prefix, layer)`` of a nested model's layers (their arrays are held under it)."""
    return [(sub.name, sub) for sub in getattr(model, "_layers", None) or []]


def _ordered(model) -> list[tuple[int, str, bool]]:
    """``(layer index, key, trainable)`` of every weight of ``model``, in Keras's order; a
    layer used in several places is listed at the first (``shared_copies``)."""
    skip = copies(model)
    return [
        (i, k, t)
        for i, (layer, (p_names, s_names)) in enumerate(zip(model._layers, model._weight_order))
        for k, t in entry_order(layer, p_names, s_names)
        if (i, k) not in skip
    ]


def get_weights(model) -> list[np.ndarray]:
    """All weights of ``model`` as NumPy arrays, in Keras's order.

    Args:
        model: a model with ``_train_state`` and ``_weight_order`` (built on demand).

    Returns:
        A list of arrays, layer by layer, trainable weights first.
    """
    if not model.weights:  # unbuilt without an input shape (Keras's []), or no weights
        return []
    model._require_built("get_weights")
    ts = jax.device_get(model._train_state)
    return [np.asarray((ts.params if t else ts.state)[i][k]) for i, k, t in _ordered(model)]


def set_weights(model, weights) -> None:
    """Sets all weights of ``model`` from a list in :func:`get_weights`'s order.

    Args:
        model: a model with ``_train_state`` and ``_weight_order`` (built on demand).
        weights: the arrays (e.g. from Keras's ``get_weights()``).

    Raises:
        ValueError: the number of arrays or one array's shape does not match the model's.
    """
    model._require_built("set_weights")
    ts = model._train_state
    order = _ordered(model)
    expected = [
        (model._layers[i].name, k, (ts.params if t else ts.state)[i][k].shape) for i, k, t in order
    ]
    weights = list(weights)
    if len(weights) != len(expected):
        raise ValueError(
            f"set_weights expected a list of {len(expected)} arrays (the model's weights in "
            f"get_weights() order), but received {len(weights)}."
        )
    for (lname, wname, shape), w in zip(expected, weights):
        if tuple(np.shape(w)) != tuple(shape):
            raise ValueError(
                f"set_weights: weight {wname!r} of layer {lname!r} has shape {tuple(shape)}, "
                f"but the array given for it has shape {tuple(np.shape(w))}."
            )
    params = [dict() for _ in ts.params]
    # Carried RNN states are not weights (Keras): they stay as they are.
    state = [dict(s) for s in ts.state]
    for (i, k, t), w in zip(order, weights):
        old = (ts.params if t else ts.state)[i][k]
        # integer weights (a quantized kernel) keep their dtype, as Keras's assign casts
        dtype = old.dtype if np.issubdtype(old.dtype, np.integer) else np.float32
        (params if t else state)[i][k] = jax.numpy.asarray(np.asarray(w, dtype))
    pairs = copies(model)
    for i, k in pairs:  # placeholders: filled from their homes below
        for arrays, old in ((params, ts.params), (state, ts.state)):
            if k in old[i]:
                arrays[i][k] = old[i][k]
    params = [{k: p[k] for k in p_names} for p, (p_names, _) in zip(params, model._weight_order)]
    params, state = tied(params, state, pairs, fresh=True)
    model._train_state = ts._replace(params=tuple(params), state=tuple(state))


def count_params(model) -> int:
    """The number of scalars in all of ``model``'s weights (built on demand).

    Args:
        model: a model with ``_train_state`` and ``_weight_order``.

    Returns:
        The total size of the arrays :func:`get_weights` returns.
    """
    model._require_built("count_params")
    ts = model._train_state
    skip = copies(model)
    return int(
        sum(
            np.prod(np.shape(d[k]))
            for i, (p, s, (p_names, s_names)) in enumerate(
                zip(ts.params, ts.state, model._weight_order)
            )
            for d, names in ((p, p_names), (s, s_names))
            for k in names
            if (i, k) not in skip
        )
    )
