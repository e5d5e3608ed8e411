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


def get_weights(model) -> list[np.ndarray]:
    """All weights of ``model`` as NumPy arrays, in Keras's order.

    Args:
        model: a model with ``_train_state`` and ``_weight_order`` (built on demand).

    Returns:
        A list of arrays, layer by layer, trainable weights first.
    """
    model._require_built("get_weights")
    ts = jax.device_get(model._train_state)
    out = []
    for p, s, (p_names, s_names) in zip(ts.params, ts.state, model._weight_order):
        out.extend(np.asarray(p[k]) for k in p_names)
        out.extend(np.asarray(s[k]) for k in s_names)
    return out


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
    expected = [
        (layer.name, k, (p | s)[k].shape)
        for layer, p, s, (p_names, s_names) in zip(
            model._layers, ts.params, ts.state, model._weight_order
        )
        for k in (*p_names, *s_names)
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
    it = iter(np.asarray(w, np.float32) for w in weights)
    params, state = [], []
    for old_state, (p_names, s_names) in zip(ts.state, model._weight_order):
        params.append({k: jax.numpy.asarray(next(it)) for k in p_names})
        # Carried RNN states are not weights (Keras): they stay as they are.
        state.append({**old_state, **{k: jax.numpy.asarray(next(it)) for k in s_names}})
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
    return int(
        sum(
            np.prod(np.shape(d[k]))
            for p, s, (p_names, s_names) in zip(ts.params, ts.state, model._weight_order)
            for d, names in ((p, p_names), (s, s_names))
            for k in names
        )
    )
