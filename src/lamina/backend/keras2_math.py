"""Keras 2's ``keras.backend`` math (``K.mean``, ``K.sum``, ``K.square``, ``K.dot``...).

Custom losses and metrics written for Keras 2 call these, e.g.
``K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))``. They keep Keras 2's argument names
and meanings: ``axis=None, keepdims=False``; ``K.sqrt`` clips negatives to 0; ``K.clip``
treats ``None`` bounds as infinite; the crossentropies clip by ``epsilon()``; ``K.flatten``
gives 1-D, ``K.batch_flatten`` ``(batch, -1)``; ``K.hard_sigmoid`` is Keras 2's
``clip(0.2 x + 0.5, 0, 1)``. Everything is traceable (usable inside a compiled loss).

>>> from lamina import backend as K
>>> float(K.sqrt(K.mean(K.square(K.constant([3.0, 4.0]) - K.constant([0.0, 0.0])))))
3.535533905029297
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from lamina.backend import config as _config
from lamina.ops import _symbolic as _symbolic_ops
from lamina.ops._tensor import float_tensor, jdtype, same_rank, tensor

__all__ = [
    "abs", "all", "any", "argmax", "argmin", "batch_flatten", "cast", "cast_to_floatx", "clip",
    "cos", "cumprod", "cumsum", "equal", "exp", "flatten", "greater", "greater_equal",
    "hard_sigmoid", "less", "less_equal", "log", "logsumexp", "max", "maximum", "mean", "min",
    "minimum", "not_equal", "pow", "prod", "round", "sigmoid", "sign", "sin", "softplus",
    "softsign", "sqrt", "square", "std", "stop_gradient", "sum", "tanh", "var",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _as_float(x):
    """Keras 2 casts bool tensors to floatx before averaging."""
    x = _a(x)
    return x.astype(_config.floatx()) if x.dtype == jnp.bool_ else x


def _reduction(name, fn, summary, prepare=_a):
    def op(x, axis=None, keepdims=False):
        return fn(prepare(x), axis=_axis(axis), keepdims=keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary} along ``axis`` (Keras 2's ``K.{name}(x, axis=None, keepdims=False)``).\n\n"
        f">>> from lamina import backend as K\n>>> K.{name}(K.ones((2, 3)), axis=1).shape\n(2,)\n"
    )
    return op


sum = _reduction("sum", jnp.sum, "Sum")  # noqa: A001 - Keras 2's names
prod = _reduction("prod", jnp.prod, "Product")
max = _reduction("max", jnp.max, "Maximum")  # noqa: A001
min = _reduction("min", jnp.min, "Minimum")  # noqa: A001
any = _reduction("any", jnp.any, "Logical OR")  # noqa: A001
all = _reduction("all", jnp.all, "Logical AND")  # noqa: A001
mean = _reduction("mean", jnp.mean, "Mean", _as_float)
std = _reduction("std", jnp.std, "Standard deviation", _as_float)
var = _reduction("var", jnp.var, "Variance", _as_float)
logsumexp = _reduction("logsumexp", jax.scipy.special.logsumexp, "log(sum(exp(x)))", float_tensor)


def _unary(name, fn, summary, example=("(2, 3)", "(2, 3)")):
    def op(x):
        return fn(_a(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary} (Keras 2's ``K.{name}``).\n\n>>> from lamina import backend "
        f"as K\n>>> K.{name}(K.zeros({example[0]})).shape\n{example[1]}\n"
    )
    return op


square = _unary("square", jnp.square, "Square")
abs = _unary("abs", jnp.abs, "Absolute value")  # noqa: A001
exp = _unary("exp", jnp.exp, "Exponential")
log = _unary("log", jnp.log, "Natural logarithm")
round = _unary("round", jnp.round, "Rounding half to even")  # noqa: A001
sign = _unary("sign", jnp.sign, "Sign")
sin = _unary("sin", jnp.sin, "Sine")
cos = _unary("cos", jnp.cos, "Cosine")
tanh = _unary("tanh", jnp.tanh, "Hyperbolic tangent")
sigmoid = _unary("sigmoid", jax.nn.sigmoid, "Logistic sigmoid")
softplus = _unary("softplus", jax.nn.softplus, "``log(1 + exp(x))``")
softsign = _unary("softsign", jax.nn.soft_sign, "``x / (1 + |x|)``")
sqrt = _unary("sqrt", lambda x: jnp.sqrt(jnp.maximum(x, 0)), "Square root (negatives clipped to 0)")
hard_sigmoid = _unary(
    "hard_sigmoid",
    lambda x: jnp.clip(0.2 * x + 0.5, 0.0, 1.0),
    "Keras 2's ``clip(0.2 x + 0.5, 0, 1)``",
)
stop_gradient = _unary("stop_gradient", jax.lax.stop_gradient, "No gradient through")
flatten = _unary("flatten", jnp.ravel, "Flattened to 1-D", ("(2, 3)", "(6,)"))
batch_flatten = _unary(
    "batch_flatten",
    lambda x: jnp.reshape(x, (x.shape[0], -1)),
    "``(batch, -1)`` reshape",
    ("(2, 3, 4)", "(2, 12)"),
)


def _binary(name, fn, summary):
    def op(x, y):
        return fn(*same_rank(tensor(x), tensor(y)))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary}, elementwise (Keras 2's ``K.{name}(x, y)``).\n\n>>> from lamina import "
        f"backend as K\n>>> K.{name}(K.ones((2,)), K.zeros((2,))).shape\n(2,)\n"
    )
    return op


maximum = _binary("maximum", jnp.maximum, "Maximum")
minimum = _binary("minimum", jnp.minimum, "Minimum")
equal = _binary("equal", jnp.equal, "``x == y``")
not_equal = _binary("not_equal", jnp.not_equal, "``x != y``")
greater = _binary("greater", jnp.greater, "``x > y``")
greater_equal = _binary("greater_equal", jnp.greater_equal, "``x >= y``")
less = _binary("less", jnp.less, "``x < y``")
less_equal = _binary("less_equal", jnp.less_equal, "``x <= y``")


def pow(x, a):  # noqa: A001 - Keras 2's name
    """``x ** a`` (``K.pow``).

    >>> from lamina import backend as K
    >>> K.pow(K.constant([2.0]), 3).tolist()
    [8.0]
    """
    return jnp.power(_a(x), tensor(a))


def clip(x, min_value, max_value):
    """Clips to ``[min_value, max_value]``; ``None`` is unbounded and ``max < min`` clips to
    ``min`` (``K.clip``).

    >>> from lamina import backend as K
    >>> K.clip(K.constant([-1.0, 0.5, 2.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    if (
        isinstance(min_value, int | float)
        and isinstance(max_value, int | float)
        and max_value < min_value
    ):
        max_value = min_value
    lo = -np.inf if min_value is None else tensor(min_value)
    hi = np.inf if max_value is None else tensor(max_value)
    return jnp.clip(*same_rank(_a(x), lo, hi))


def cast(x, dtype):
    """``x`` cast to ``dtype`` (``K.cast``).

    >>> from lamina import backend as K
    >>> K.cast(K.constant([1.7]), "int32").tolist()
    [1]
    """
    return _a(x).astype(jdtype(dtype))


def cast_to_floatx(x):
    """``x`` as a NumPy array of ``floatx()`` (``K.cast_to_floatx``).

    >>> from lamina import backend as K
    >>> K.cast_to_floatx([1, 2]).dtype
    dtype('float32')
    """
    return np.asarray(x, dtype=_config.floatx())


def argmax(x, axis=-1):
    """Index of the maximum along ``axis`` (``K.argmax``; default the last axis).

    >>> from lamina import backend as K
    >>> K.argmax(K.constant([[1.0, 3.0, 2.0]])).tolist()
    [1]
    """
    return jnp.argmax(_a(x), axis=axis)


def argmin(x, axis=-1):
    """Index of the minimum along ``axis`` (``K.argmin``).

    >>> from lamina import backend as K
    >>> K.argmin(K.constant([[1.0, 3.0, 2.0]])).tolist()
    [0]
    """
    return jnp.argmin(_a(x), axis=axis)


def cumsum(x, axis=0):
    """Cumulative sum along ``axis`` (``K.cumsum``; default axis 0).

    >>> from lamina import backend as K
    >>> K.cumsum(K.constant([1.0, 2.0])).tolist()
    [1.0, 3.0]
    """
    return jnp.cumsum(_a(x), axis=axis)


def cumprod(x, axis=0):
    """Cumulative product along ``axis`` (``K.cumprod``).

    >>> from lamina import backend as K
    >>> K.cumprod(K.constant([2.0, 3.0])).tolist()
    [2.0, 6.0]
    """
    return jnp.cumprod(_a(x), axis=axis)


# Keras 2 code applies K.* math to the symbolic tensors of keras.Input (a VAE's
# ``K.sum(K.square(z_mean))`` before ``add_loss``): record a graph node there, as lamina.ops does.
_symbolic_ops.wrap_module(sys.modules[__name__], __all__)
