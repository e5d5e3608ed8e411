"""Keras 2's ``keras.backend`` shape ops, activations and losses (``K.dot``, ``K.concatenate``,
``K.softmax``, ``K.categorical_crossentropy(target, output, from_logits=False)``...).

>>> from lamina import backend as K
>>> K.concatenate([K.ones((2, 3)), K.zeros((2, 1))]).shape
(2, 4)
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from lamina import activations as _activations
from lamina.backend import config as _config
from lamina.ops import _symbolic as _symbolic_ops
from lamina.ops._tensor import float_tensor, jdtype, same_rank, tensor

__all__ = [
    "arange", "bias_add", "binary_crossentropy", "categorical_crossentropy", "concatenate",
    "dot", "elu", "expand_dims", "gather", "in_top_k", "l2_normalize", "one_hot",
    "permute_dimensions", "relu", "repeat", "repeat_elements", "reshape", "softmax",
    "sparse_categorical_crossentropy", "squeeze", "stack", "switch", "tile", "transpose",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def dot(x, y):
    """Matrix product with NumPy's ``dot`` rule for higher ranks (``K.dot``): the last axis of
    ``x`` with the second-to-last of ``y``, so ``(2, 3, 4) . (7, 4, 5) -> (2, 3, 7, 5)``.

    >>> from lamina import backend as K
    >>> K.dot(K.ones((2, 3)), K.ones((3, 4))).shape
    (2, 4)
    """
    return jnp.dot(_a(x), _a(y))


def transpose(x):
    """All axes reversed (``K.transpose``).

    >>> from lamina import backend as K
    >>> K.transpose(K.ones((2, 3))).shape
    (3, 2)
    """
    return jnp.transpose(_a(x))


def permute_dimensions(x, pattern):
    """Axes permuted by ``pattern`` (``K.permute_dimensions``).

    >>> from lamina import backend as K
    >>> K.permute_dimensions(K.ones((2, 3, 4)), (0, 2, 1)).shape
    (2, 4, 3)
    """
    return jnp.transpose(_a(x), tuple(pattern))


def concatenate(tensors, axis=-1):
    """Joins tensors along ``axis``, the last by default (``K.concatenate``).

    >>> from lamina import backend as K
    >>> K.concatenate([K.ones((2,)), K.ones((3,))]).shape
    (5,)
    """
    return jnp.concatenate([_a(t) for t in tensors], axis=axis)


def stack(x, axis=0):
    """Stacks a list of tensors along a new ``axis`` (``K.stack``).

    >>> from lamina import backend as K
    >>> K.stack([K.ones((2,)), K.ones((2,))]).shape
    (2, 2)
    """
    return jnp.stack([_a(t) for t in x], axis=axis)


def reshape(x, shape):
    """``x`` reshaped (``K.reshape``).

    >>> from lamina import backend as K
    >>> K.reshape(K.ones((2, 3)), (3, -1)).shape
    (3, 2)
    """
    return jnp.reshape(_a(x), tuple(shape))


def expand_dims(x, axis=-1):
    """Inserts a size-1 axis, at the end by default (``K.expand_dims``).

    >>> from lamina import backend as K
    >>> K.expand_dims(K.ones((2,))).shape
    (2, 1)
    """
    return jnp.expand_dims(_a(x), axis)


def squeeze(x, axis):
    """Removes the size-1 ``axis`` (``K.squeeze``).

    >>> from lamina import backend as K
    >>> K.squeeze(K.ones((2, 1)), -1).shape
    (2,)
    """
    return jnp.squeeze(_a(x), axis=axis)


def tile(x, n):
    """Repeats the whole tensor ``n`` times per axis (``K.tile``).

    >>> from lamina import backend as K
    >>> K.tile(K.ones((2, 3)), (2, 1)).shape
    (4, 3)
    """
    return jnp.tile(_a(x), n)


def repeat_elements(x, rep, axis):
    """Repeats each element ``rep`` times along ``axis`` (``K.repeat_elements``).

    >>> from lamina import backend as K
    >>> K.repeat_elements(K.constant([[1.0, 2.0]]), 2, axis=1).tolist()
    [[1.0, 1.0, 2.0, 2.0]]
    """
    return jnp.repeat(_a(x), rep, axis=axis)


def repeat(x, n):
    """``(batch, features)`` to ``(batch, n, features)`` (``K.repeat``).

    >>> from lamina import backend as K
    >>> K.repeat(K.ones((2, 3)), 4).shape
    (2, 4, 3)
    """
    x = _a(x)
    if x.ndim != 2:
        raise ValueError(
            f"K.repeat expects a 2-D tensor (batch, features). Received shape {x.shape}."
        )
    return jnp.repeat(x[:, None, :], n, axis=1)


def gather(reference, indices):
    """Rows ``indices`` of ``reference`` (``K.gather``).

    >>> from lamina import backend as K
    >>> K.gather(K.constant([[1.0], [2.0], [3.0]]), [2, 0]).tolist()
    [[3.0], [1.0]]
    """
    return jnp.take(_a(reference), _a(indices), axis=0)


def arange(start, stop=None, step=1, dtype="int32"):
    """``[start, stop)`` by ``step`` (``K.arange``; int32 by default).

    >>> from lamina import backend as K
    >>> K.arange(3).tolist()
    [0, 1, 2]
    """
    return jnp.arange(start, stop, step, dtype=jdtype(dtype))


def one_hot(indices, num_classes):
    """One-hot encoding in ``floatx()`` with a new last axis (``K.one_hot``).

    >>> from lamina import backend as K
    >>> K.one_hot(K.constant([1], dtype="int32"), 3).tolist()
    [[0.0, 1.0, 0.0]]
    """
    return jax.nn.one_hot(_a(indices), num_classes, dtype=jdtype(_config.floatx()))


def l2_normalize(x, axis=None):
    """``x / sqrt(max(sum(x**2), 1e-12))`` along ``axis`` (``K.l2_normalize``).

    >>> from lamina import backend as K
    >>> K.l2_normalize(K.constant([3.0, 4.0]), axis=0).tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    x = float_tensor(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis, keepdims=True), 1e-12))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (``K.softmax``).

    >>> from lamina import backend as K
    >>> K.softmax(K.zeros((1, 2))).tolist()
    [[0.5, 0.5]]
    """
    return jax.nn.softmax(float_tensor(x), axis=axis)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2's ``K.relu``: ``alpha`` is the negative slope.

    >>> from lamina import backend as K
    >>> K.relu(K.constant([-1.0, 2.0]), alpha=0.1).tolist()
    [-0.10000000149011612, 2.0]
    """
    return _activations.relu(
        float_tensor(x), negative_slope=alpha, max_value=max_value, threshold=threshold
    )


def elu(x, alpha=1.0):
    """Exponential linear unit (``K.elu``).

    >>> from lamina import backend as K
    >>> K.elu(K.constant([0.0])).tolist()
    [0.0]
    """
    return jax.nn.elu(float_tensor(x), alpha=alpha)


def switch(condition, then_expression, else_expression):
    """``then_expression`` where ``condition`` else ``else_expression`` (``K.switch``).

    Either expression may be a callable (called with no arguments). A condition of lower
    rank than the expressions is broadcast over their trailing axes, as Keras 2 does.

    >>> from lamina import backend as K
    >>> K.switch(K.constant([True, False], dtype="bool"), K.ones((2,)), K.zeros((2,))).tolist()
    [1.0, 0.0]
    """
    then = then_expression() if callable(then_expression) else then_expression
    other = else_expression() if callable(else_expression) else else_expression
    cond = _a(condition)
    then, other = _a(then), _a(other)
    rank = max(then.ndim, other.ndim)
    if 0 < cond.ndim < rank:
        cond = jnp.reshape(cond, cond.shape + (1,) * (rank - cond.ndim))
    return jnp.where(*same_rank(cond, then, other))


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary crossentropy, Keras 2's formula (``K.binary_crossentropy``):
    ``-(t log(p + eps) + (1 - t) log(1 - p + eps))`` with ``p`` clipped to
    ``[eps, 1 - eps]``.

    >>> from lamina import backend as K
    >>> round(float(K.binary_crossentropy(K.constant([1.0]), K.constant([0.5]))[0]), 4)
    0.6931
    """
    target, output = float_tensor(target), float_tensor(output)
    if from_logits:
        return -target * jax.nn.log_sigmoid(output) - (1.0 - target) * jax.nn.log_sigmoid(-output)
    eps = _config.epsilon()
    output = jnp.clip(output, eps, 1.0 - eps)
    return -(target * jnp.log(output + eps) + (1.0 - target) * jnp.log(1.0 - output + eps))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-sum(target * log(output))`` along ``axis`` with ``output`` renormalized and clipped
    to ``[eps, 1 - eps]`` (``K.categorical_crossentropy``).

    >>> from lamina import backend as K
    >>> round(float(K.categorical_crossentropy(K.constant([[0.0, 1.0]]), K.constant([[0.5, 0.5]]))[0]), 4)
    0.6931
    """
    target, output = float_tensor(target), float_tensor(output)
    if from_logits:
        return -jnp.sum(target * jax.nn.log_softmax(output, axis=axis), axis=axis)
    eps = _config.epsilon()
    output = jnp.clip(output / jnp.sum(output, axis=axis, keepdims=True), eps, 1.0 - eps)
    return -jnp.sum(target * jnp.log(output), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Categorical crossentropy with integer targets (``K.sparse_categorical_crossentropy``).

    >>> from lamina import backend as K
    >>> round(float(K.sparse_categorical_crossentropy(K.constant([1]), K.constant([[0.5, 0.5]]))[0]), 4)
    0.6931
    """
    output = float_tensor(output)
    target = _a(target).astype(jnp.int32)
    if target.ndim == output.ndim:
        target = jnp.squeeze(target, -1)
    hot = jax.nn.one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return categorical_crossentropy(hot, output, from_logits=from_logits, axis=axis)


def bias_add(x, bias, data_format=None):
    """Adds a bias vector on the channel axis (``K.bias_add``).

    >>> from lamina import backend as K
    >>> K.bias_add(K.zeros((2, 3)), K.ones((3,))).tolist()[0]
    [1.0, 1.0, 1.0]
    """
    x, bias = _a(x), _a(bias)
    fmt = data_format or _config.image_data_format()
    if fmt == "channels_first" and x.ndim > 2:
        return x + jnp.reshape(bias, (1, bias.shape[0]) + (1,) * (x.ndim - 2))
    return x + jnp.reshape(bias, (1,) * (x.ndim - bias.ndim) + bias.shape)


def in_top_k(predictions, targets, k):
    """Whether each target is among the ``k`` highest predictions (``K.in_top_k``).

    >>> from lamina import backend as K
    >>> K.in_top_k(K.constant([[0.1, 0.9]]), K.constant([1], dtype="int32"), 1).tolist()
    [True]
    """
    from lamina.ops.math import in_top_k as _in_top_k

    return _in_top_k(targets, predictions, k)


# Keras 2 code applies K.* math to the symbolic tensors of keras.Input (a VAE's
# ``K.sum(K.square(z_mean))`` before ``add_loss``): record a graph node there, as lamina.ops does.
_symbolic_ops.wrap_module(sys.modules[__name__], __all__)
