"""Activation functions with Keras 3 names, signatures, defaults and formulas (pure ``jnp``).

Lookup helpers mirror ``keras.activations``: :func:`get` (``None`` -> :func:`linear`, names,
Keras-serialized dicts, callables), :func:`serialize` (a built-in's name; Keras's entry for a
user function or a layer) and :func:`deserialize`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from lamina._activation_configs import (
    _REGISTRY,
    _from_dict,
    _from_name,
    checked_callable,
    to_config,
)

# ``deserialize`` lives with the registry; ``name as name`` re-exports it from here.
from lamina._activation_configs import deserialize as deserialize
from lamina._activation_sparse import (
    hard_shrink,
    soft_shrink,
    sparse_plus,
    sparse_sigmoid,
    sparsemax,
    threshold,
)
from lamina._activation_symbolic import symbolic_activation


def linear(x):
    """Identity activation: returns ``x`` unchanged.

    >>> linear(jnp.array([-1.0, 2.0])).tolist()
    [-1.0, 2.0]
    """
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, with optional leak, cap and threshold (Keras 3 formula).

    Args:
        x: Input array.
        negative_slope: Slope for values below ``threshold``.
        max_value: Optional upper bound on the output.
        threshold: Values below it are damped (or zeroed).

    >>> relu(jnp.array([-2.0, 1.0, 8.0]), negative_slope=0.5, max_value=6.0).tolist()
    [-1.0, 1.0, 6.0]
    """
    x = jnp.asarray(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return jax.nn.leaky_relu(x, negative_slope=negative_slope)
        negative_part = jax.nn.relu(-x + threshold) if threshold != 0 else jax.nn.relu(-x)
    else:
        negative_part = 1
    clip_max = max_value is not None
    if threshold != 0:
        x = jnp.where(x > jnp.asarray(threshold, x.dtype), x, jnp.zeros((), x.dtype))
    elif max_value == 6:
        x = jax.nn.relu6(x)
        clip_max = False
    else:
        x = jax.nn.relu(x)
    if clip_max:
        x = jnp.clip(x, jnp.asarray(0.0, x.dtype), jnp.asarray(max_value, x.dtype))
    if negative_slope != 0.0:
        x = x - negative_slope * negative_part
    return x


def _takes_keras2_alpha(fn):
    """``fn`` also taking Keras 2's ``alpha=`` for ``negative_slope`` (``relu(x, alpha=0.1)``);
    its signature stays Keras 3's (``inspect.signature`` follows ``__wrapped__``)."""

    @functools.wraps(fn)
    def wrapper(*args, alpha=None, **kwargs):
        if alpha is not None:
            kwargs["negative_slope"] = alpha
        return fn(*args, **kwargs)

    return wrapper


relu = _takes_keras2_alpha(relu)


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU: ``x`` if ``x >= 0`` else ``negative_slope * x``.

    >>> leaky_relu(jnp.array([-1.0, 2.0])).tolist()
    [-0.20000000298023224, 2.0]
    """
    return jax.nn.leaky_relu(jnp.asarray(x), negative_slope=negative_slope)


def relu6(x):
    """ReLU capped at 6: ``min(max(x, 0), 6)``.

    >>> relu6(jnp.array([-1.0, 7.0])).tolist()
    [0.0, 6.0]
    """
    return jax.nn.relu6(jnp.asarray(x))


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``.

    >>> sigmoid(jnp.array([0.0])).tolist()
    [0.5]
    """
    return jax.nn.sigmoid(jnp.asarray(x))


def tanh(x):
    """Hyperbolic tangent.

    >>> tanh(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jnp.tanh(jnp.asarray(x))


def softmax(x, axis=-1):
    """Softmax ``exp(x) / sum(exp(x))`` along ``axis``.

    >>> softmax(jnp.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    return jax.nn.softmax(jnp.asarray(x), axis=axis)


def log_softmax(x, axis=-1):
    """Log of the softmax along ``axis``.

    >>> round(float(log_softmax(jnp.array([0.0, 0.0]))[0]), 4)
    -0.6931
    """
    return jax.nn.log_softmax(jnp.asarray(x), axis=axis)


def softplus(x):
    """Softplus ``log(exp(x) + 1)``.

    >>> round(float(softplus(jnp.array(0.0))), 4)
    0.6931
    """
    return jax.nn.softplus(jnp.asarray(x))


def softsign(x):
    """Softsign ``x / (abs(x) + 1)``.

    >>> softsign(jnp.array([1.0])).tolist()
    [0.5]
    """
    return jax.nn.soft_sign(jnp.asarray(x))


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    >>> elu(jnp.array([2.0])).tolist()
    [2.0]
    """
    return jax.nn.elu(jnp.asarray(x), alpha=alpha)


def selu(x):
    """Scaled ELU with ``alpha=1.67326324`` and ``scale=1.05070098``.

    >>> selu(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jax.nn.selu(jnp.asarray(x))


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    >>> celu(jnp.array([1.0])).tolist()
    [1.0]
    """
    return jax.nn.celu(jnp.asarray(x), alpha=alpha)


def exponential(x):
    """Exponential ``exp(x)``.

    >>> exponential(jnp.array([0.0])).tolist()
    [1.0]
    """
    return jnp.exp(jnp.asarray(x))


def silu(x):
    """Swish / SiLU: ``x * sigmoid(x)``.

    >>> silu(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jax.nn.silu(jnp.asarray(x))


swish = silu


def gelu(x, approximate=False):
    """Gaussian error linear unit; exact (erf) unless ``approximate=True`` (tanh form).

    >>> gelu(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jax.nn.gelu(jnp.asarray(x), approximate=approximate)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid, Keras 3 definition ``relu6(x + 3) / 6``.

    >>> hard_sigmoid(jnp.array([-4.0, 0.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return jax.nn.hard_sigmoid(jnp.asarray(x))


def hard_silu(x):
    """Hard SiLU / hard swish: ``x * relu6(x + 3) / 6``.

    >>> hard_silu(jnp.array([-4.0, 4.0])).tolist()
    [-0.0, 4.0]
    """
    return jax.nn.hard_silu(jnp.asarray(x))


hard_swish = hard_silu


def hard_tanh(x):
    """Hard tanh: ``clip(x, -1, 1)``.

    >>> hard_tanh(jnp.array([-2.0, 0.5])).tolist()
    [-1.0, 0.5]
    """
    return jax.nn.hard_tanh(jnp.asarray(x))


def mish(x):
    """Mish: ``x * tanh(softplus(x))``.

    >>> mish(jnp.array([0.0])).tolist()
    [0.0]
    """
    x = jnp.asarray(x)
    return x * jnp.tanh(jax.nn.softplus(x))


def glu(x, axis=-1):
    """Gated linear unit: splits ``x`` in two halves ``a, b`` along ``axis``; ``a * sigmoid(b)``.

    >>> glu(jnp.array([2.0, 0.0])).tolist()
    [1.0]
    """
    return jax.nn.glu(jnp.asarray(x), axis=axis)


def log_sigmoid(x):
    """Log of the sigmoid: ``-softplus(-x)``.

    >>> round(float(log_sigmoid(jnp.array(0.0))), 4)
    -0.6931
    """
    return jax.nn.log_sigmoid(jnp.asarray(x))


def tanh_shrink(x):
    """Tanh shrink: ``x - tanh(x)``.

    >>> tanh_shrink(jnp.array([0.0])).tolist()
    [0.0]
    """
    x = jnp.asarray(x)
    return x - jnp.tanh(x)


def squareplus(x, b=4):
    """Squareplus: ``(x + sqrt(x**2 + b)) / 2``.

    >>> squareplus(jnp.array([0.0])).tolist()
    [1.0]
    """
    return jax.nn.squareplus(jnp.asarray(x), b=b)


_FUNCTIONS = [linear, relu, leaky_relu, relu6, sigmoid, tanh, softmax, log_softmax, softplus]
_FUNCTIONS += [softsign, elu, selu, celu, exponential, silu, gelu, hard_sigmoid, hard_silu]
_FUNCTIONS += [hard_tanh, mish, glu, log_sigmoid, tanh_shrink, soft_shrink, hard_shrink]
_FUNCTIONS += [threshold, sparse_plus, sparse_sigmoid, squareplus, sparsemax]

#: Name -> function, as ``keras.activations`` resolves names (including the aliases).
# Called on a symbolic tensor, each records a graph node (``_activation_symbolic``).
_FUNCTIONS = [symbolic_activation(fn) for fn in _FUNCTIONS]
for _fn in _FUNCTIONS:
    globals()[_fn.__name__] = _fn
swish, hard_swish = silu, hard_silu  # noqa: F811 - the aliases follow the wrapped functions

#: Name -> function, as ``keras.activations`` resolves names (including the aliases).
ALL_OBJECTS_DICT: dict[str, Callable] = {fn.__name__: fn for fn in _FUNCTIONS}
ALL_OBJECTS_DICT["swish"] = silu
ALL_OBJECTS_DICT["hard_swish"] = hard_silu


def serialize(activation: Callable) -> str | dict:
    """Returns Keras's config of an activation: a built-in's name, else Keras's entry for a
    user function or a layer (see :func:`lamina._activation_configs.to_config`).

    >>> serialize(swish)
    'silu'
    """
    for name, fn in ALL_OBJECTS_DICT.items():
        if fn is activation:
            return name
    return to_config(activation)


_REGISTRY.update(ALL_OBJECTS_DICT)


def get(identifier: Any) -> Callable:
    """Resolves an activation identifier: ``None`` (linear), a name, a dict or a callable.

    Names are case-sensitive, as in Keras; unknown names raise a ``ValueError`` naming the
    closest valid one.

    >>> get(None) is linear, get("swish") is silu
    (True, True)
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return _from_name(identifier)
    if isinstance(identifier, dict):
        return checked_callable(_from_dict(identifier))
    if callable(identifier):
        return checked_callable(identifier)
    raise TypeError(
        f"Could not interpret activation identifier of type {type(identifier).__name__}: "
        f"{identifier!r}"
    )
