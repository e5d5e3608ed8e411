"""``lamina.ops.nn``: Keras's neural-network ops (``keras.ops.nn``) on ``jax.nn``.

Activations, softmax over an axis or a tuple of axes, one-hot encodings, moments and the
normalizations, the three crossentropies (Keras's clipping by ``epsilon()`` when given
probabilities), ``dot_product_attention`` (``(batch, time, heads, depth)`` layout), and the
convolution and pooling ops of :mod:`lamina.ops._nn_conv`.

>>> from lamina.ops import nn
>>> nn.softmax(nn.one_hot([0, 1], 2) * 0.0).tolist()
[[0.5, 0.5], [0.5, 0.5]]
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops import _nn_conv, _nn_extra
from lamina.ops._nn_conv import *  # noqa: F403
from lamina.ops._nn_extra import *  # noqa: F403
from lamina.ops._tensor import float_tensor, jdtype, tensor

__all__ = list(_nn_conv.__all__)


def _f(x):
    return float_tensor(x)


def _act(name, fn, summary, keep_int=False):
    def op(x):
        if keep_int:  # Keras keeps integer dtypes here (bools become int32)
            x = jnp.asarray(tensor(x))
            return fn(x.astype(jnp.int32) if x.dtype == jnp.bool_ else x)
        return fn(_f(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary} (``keras.ops.{name}``).\n\nArgs:\n    x: input tensor.\n\nReturns:\n    A "
        f"tensor of ``x``'s shape.\n\n>>> from lamina import ops\n>>> ops.{name}(ops.zeros((2,"
        " 3))).shape\n(2, 3)\n"
    )
    globals()[name] = op
    __all__.append(name)


_act("relu", jax.nn.relu, "``max(x, 0)``", keep_int=True)
_act("hard_tanh", jax.nn.hard_tanh, "``clip(x, -1, 1)``", keep_int=True)
for _name, _fn, _doc in [
    ("relu6", jax.nn.relu6, "``min(max(x, 0), 6)``"),
    ("sigmoid", jax.nn.sigmoid, "``1 / (1 + exp(-x))``"),
    ("sparse_sigmoid", jax.nn.sparse_sigmoid, "Piecewise-linear sigmoid"),
    ("softplus", jax.nn.softplus, "``log(1 + exp(x))``"),
    ("softsign", jax.nn.soft_sign, "``x / (1 + |x|)``"),
    ("silu", jax.nn.silu, "``x * sigmoid(x)``"),
    ("swish", jax.nn.silu, "``x * sigmoid(x)``"),
    ("log_sigmoid", jax.nn.log_sigmoid, "``log(sigmoid(x))``"),
    ("hard_sigmoid", jax.nn.hard_sigmoid, "``relu6(x + 3) / 6``"),
    ("hard_silu", jax.nn.hard_silu, "``x * hard_sigmoid(x)``"),
    ("hard_swish", jax.nn.hard_silu, "``x * hard_sigmoid(x)``"),
    ("selu", jax.nn.selu, "Scaled exponential linear unit"),
    ("sparse_plus", jax.nn.sparse_plus, "Piecewise smooth softplus"),
    ("tanh_shrink", lambda x: x - jnp.tanh(x), "``x - tanh(x)``"),
]:
    _act(_name, _fn, _doc)


def leaky_relu(x, negative_slope=0.2):
    """``x`` if positive else ``negative_slope * x`` (``keras.ops.leaky_relu``).

    >>> from lamina import ops
    >>> ops.leaky_relu(ops.convert_to_tensor([-1.0, 2.0])).tolist()
    [-0.20000000298023224, 2.0]
    """
    return jax.nn.leaky_relu(_f(x), negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """``x`` if positive else ``alpha * (exp(x) - 1)`` (``keras.ops.elu``).

    >>> from lamina import ops
    >>> float(ops.elu(0.0))
    0.0
    """
    return jax.nn.elu(_f(x), alpha=alpha)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU (``keras.ops.celu``).

    >>> from lamina import ops
    >>> float(ops.celu(0.0))
    0.0
    """
    return jax.nn.celu(_f(x), alpha=alpha)


def gelu(x, approximate=True):
    """Gaussian error linear unit; the tanh approximation by default (``keras.ops.gelu``).

    >>> from lamina import ops
    >>> float(ops.gelu(0.0))
    0.0
    """
    return jax.nn.gelu(_f(x), approximate)


def glu(x, axis=-1):
    """Gated linear unit: ``a * sigmoid(b)`` for the halves of ``axis`` (``keras.ops.glu``).

    >>> from lamina import ops
    >>> ops.glu(ops.ones((2, 4))).shape
    (2, 2)
    """
    return jax.nn.glu(_f(x), axis=axis)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0 (``keras.ops.hard_shrink``).

    >>> from lamina import ops
    >>> ops.hard_shrink(ops.convert_to_tensor([0.2, 1.0])).tolist()
    [0.0, 1.0]
    """
    x = _f(x)
    return jnp.where(jnp.abs(x) > threshold, x, jnp.zeros_like(x))


def soft_shrink(x, threshold=0.5):
    """Shrinks towards 0 by ``threshold``, zeroing ``|x| <= threshold`` (``keras.ops.soft_shrink``).

    >>> from lamina import ops
    >>> ops.soft_shrink(ops.convert_to_tensor([0.2, 1.0])).tolist()
    [0.0, 0.5]
    """
    x = _f(x)
    zero = jnp.zeros_like(x)
    return jnp.where(x > threshold, x - threshold, jnp.where(x < -threshold, x + threshold, zero))


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value`` (``keras.ops.threshold``).

    >>> from lamina import ops
    >>> ops.threshold(ops.convert_to_tensor([0.2, 1.0]), 0.5, -1.0).tolist()
    [-1.0, 1.0]
    """
    x = _f(x)
    return jnp.where(x > threshold, x, jnp.asarray(default_value, x.dtype))


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2`` (``keras.ops.squareplus``).

    >>> from lamina import ops
    >>> float(ops.squareplus(0.0))
    1.0
    """
    return jax.nn.squareplus(_f(x), b=b)


def _over_axes(fn, x, axis):
    """Applies ``fn(x, axis=-1)`` jointly over a tuple of axes, as Keras does."""
    if not isinstance(axis, tuple | list):
        return fn(x, axis=axis)
    axes = [a % x.ndim for a in axis]
    keep = [a for a in range(x.ndim) if a not in axes]
    moved = jnp.transpose(x, (*keep, *axes))
    flat = fn(jnp.reshape(moved, (*[x.shape[a] for a in keep], -1)), axis=-1)
    order = [*keep, *axes]
    return jnp.transpose(
        jnp.reshape(flat, moved.shape), sorted(range(x.ndim), key=order.__getitem__)
    )


def softmax(x, axis=-1):
    """Softmax along ``axis`` (an int or a tuple of axes) (``keras.ops.softmax``).

    Warns (as Keras does) when the axis has size 1: the result is then always 1.

    >>> from lamina import ops
    >>> ops.softmax(ops.zeros((1, 2))).tolist()
    [[0.5, 0.5]]
    """
    x = _f(x)
    if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {x.shape}. This axis "
            "has size 1. The softmax operation will always return the value 1, which is likely "
            "not what you intended. Did you mean to use a sigmoid instead?",
            stacklevel=2,
        )
    return _over_axes(jax.nn.softmax, x, axis)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` computed stably (``keras.ops.log_softmax``).

    >>> from lamina import ops
    >>> ops.log_softmax(ops.zeros((2, 3))).shape
    (2, 3)
    """
    return _over_axes(jax.nn.log_softmax, _f(x), axis)


def sparsemax(x, axis=-1):
    """Sparsemax: the Euclidean projection onto the simplex (``keras.ops.sparsemax``).

    >>> from lamina import ops
    >>> ops.sparsemax(ops.convert_to_tensor([1.0, 0.0])).tolist()
    [1.0, 0.0]
    """
    x = _f(x)
    srt = -jnp.sort(-x, axis=axis)
    csum = jnp.cumsum(srt, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    r = jnp.reshape(jnp.arange(1, x.shape[axis] + 1, dtype=x.dtype), shape)
    support = srt - (csum - 1) / r > 0
    k = jnp.sum(support, axis=axis, keepdims=True)
    tau = (jnp.sum(jnp.where(support, csum, 0.0), axis=axis, keepdims=True) - 1) / k
    return jnp.maximum(x - tau, 0.0)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encodes integer ``x`` (``keras.ops.one_hot``); negative ids give zeros.

    Args:
        x: integer class ids.
        num_classes: the encoding depth.
        axis: where the new axis goes.
        dtype: the result dtype (``floatx()`` by default).
        sparse: must be False (Lamina has dense tensors only).

    >>> from lamina import ops
    >>> ops.one_hot([1], 3).tolist()
    [[0.0, 1.0, 0.0]]
    """
    if sparse:
        raise ValueError("one_hot(sparse=True) is not supported: Lamina has dense tensors only.")
    return jax.nn.one_hot(
        jnp.asarray(tensor(x)), num_classes, axis=axis, dtype=jdtype(dtype or _config.floatx())
    )


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Multi-hot encodes rows of integer ids (``keras.ops.multi_hot``).

    Args:
        inputs: ``(ids,)`` or ``(batch, ids)`` integer tensor.
        num_classes: the encoding depth (Keras 2: ``num_tokens``).
        axis: where the class axis goes.
        dtype: result dtype (``floatx()`` by default).
        sparse: must be False.

    Raises:
        ValueError: when ``num_classes`` is missing.

    >>> from lamina import ops
    >>> ops.multi_hot([[0, 2]], 3).tolist()
    [[1.0, 0.0, 1.0]]
    """
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"multi_hot got unexpected keyword argument(s): {sorted(kwargs)}.")
    if num_classes is None:
        raise ValueError("Argument `num_classes` must be specified.")
    x = jnp.asarray(tensor(inputs)).astype(jnp.int32)
    hot = one_hot(x, num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return jnp.max(hot, axis=1 if x.ndim > 1 else 0)


def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and variance over ``axes`` (``keras.ops.moments``); half precision in float32.

    Raises:
        NotImplementedError: for ``synchronized=True``.

    >>> from lamina import ops
    >>> [m.tolist() for m in ops.moments(ops.convert_to_tensor([1.0, 3.0]), axes=[0])]
    [2.0, 1.0]
    """
    if synchronized:
        raise NotImplementedError("moments(synchronized=True) is not supported with JAX.")
    x = _f(x)
    dtype = x.dtype
    axes = tuple(axes) if isinstance(axes, list | tuple) else (axes,)
    xc = x.astype(jnp.float32) if dtype in (jnp.float16, jnp.bfloat16) else x
    mean = jnp.mean(xc, axis=axes, keepdims=keepdims)
    var = jnp.var(xc, axis=axes, keepdims=keepdims)
    if xc is not x:
        big = float(jnp.finfo(dtype).max)
        mean, var = jnp.clip(mean, -big, big).astype(dtype), jnp.clip(var, -big, big).astype(dtype)
    return mean, var


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset`` with 1-D statistics along
    ``axis`` (``keras.ops.batch_normalization``).

    >>> from lamina import ops
    >>> ops.batch_normalization(ops.ones((2, 3)), ops.ones(3), ops.ones(3), axis=-1).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    x = _f(x)
    shape = [1] * x.ndim
    mean = jnp.asarray(tensor(mean))
    shape[axis] = mean.shape[0]

    def r(v):
        return jnp.reshape(jnp.asarray(tensor(v)), shape)

    inv = jax.lax.rsqrt(r(variance) + epsilon)
    if scale is not None:
        inv = inv * r(scale)
    res = -r(mean) * inv
    if offset is not None:
        res = res + r(offset)
    return x * inv + res


__all__ += ["batch_normalization", "celu", "elu", "gelu", "glu", "hard_shrink", "leaky_relu",
            "log_softmax", "moments", "multi_hot", "one_hot", "soft_shrink", "softmax",
            "sparsemax", "squareplus", "threshold", *_nn_extra.__all__]  # fmt: skip
