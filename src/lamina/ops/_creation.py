"""Keras's tensor-creating ops: ``zeros``, ``ones``, ``full``, ``arange``, ``eye``, windows...

Float results default to ``floatx()``, as in Keras (JAX's would be float32 regardless).
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops._tensor import jdtype, shape_arg, tensor

__all__ = [
    "arange", "array", "bartlett", "blackman", "empty", "empty_like", "eye", "full",
    "full_like", "geomspace", "hamming", "hanning", "identity", "kaiser", "linspace",
    "logspace", "meshgrid", "ones", "ones_like", "tri", "zeros", "zeros_like",
]  # fmt: skip


def _floatx(dtype):
    return jdtype(dtype or _config.floatx())


def zeros(shape, dtype=None):
    """A tensor of zeros (``keras.ops.zeros``); ``dtype`` defaults to ``floatx()``.

    >>> from lamina import ops
    >>> ops.zeros((2, 3)).shape
    (2, 3)
    """
    return jnp.zeros(shape_arg(shape), dtype=_floatx(dtype))


def ones(shape, dtype=None):
    """A tensor of ones (``keras.ops.ones``); ``dtype`` defaults to ``floatx()``.

    >>> from lamina import ops
    >>> ops.ones(3).tolist()
    [1.0, 1.0, 1.0]
    """
    return jnp.ones(shape_arg(shape), dtype=_floatx(dtype))


def empty(shape, dtype=None):
    """An uninitialized-by-contract tensor (zeros in JAX) (``keras.ops.empty``).

    >>> from lamina import ops
    >>> ops.empty((2,)).shape
    (2,)
    """
    return jnp.empty(shape_arg(shape), dtype=_floatx(dtype))


def full(shape, fill_value, dtype=None):
    """A tensor filled with ``fill_value`` (``keras.ops.full``).

    >>> from lamina import ops
    >>> ops.full((2,), 7).tolist()
    [7.0, 7.0]
    """
    return jnp.full(shape_arg(shape), tensor(fill_value), dtype=_floatx(dtype))


def _like(name, fn, what):
    def op(x, dtype=None):
        return fn(jnp.asarray(tensor(x)), dtype=jdtype(dtype))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"A tensor of {what} with ``x``'s shape and (unless ``dtype``) dtype "
        f"(``keras.ops.{name}``).\n\n>>> from lamina import ops\n>>> ops.{name}(ops.ones((2,"
        " 3))).shape\n(2, 3)\n"
    )
    return op


zeros_like = _like("zeros_like", jnp.zeros_like, "zeros")
ones_like = _like("ones_like", jnp.ones_like, "ones")
empty_like = _like("empty_like", jnp.empty_like, "unspecified values")


def full_like(x, fill_value, dtype=None):
    """A tensor of ``fill_value`` with ``x``'s shape and dtype (``keras.ops.full_like``).

    >>> from lamina import ops
    >>> ops.full_like(ops.ones((2,)), 3.0).tolist()
    [3.0, 3.0]
    """
    return jnp.full_like(jnp.asarray(tensor(x)), tensor(fill_value), dtype=jdtype(dtype))


def array(x, dtype=None):
    """A tensor from ``x`` (``keras.ops.array``); ``dtype`` optional.

    >>> from lamina import ops
    >>> ops.array([1, 2]).dtype
    dtype('int32')
    """
    return jnp.array(tensor(x), dtype=jdtype(dtype))


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (``keras.ops.arange``).

    The dtype follows the arguments: any float gives ``floatx()``, all ints give int32.

    >>> from lamina import ops
    >>> ops.arange(3).tolist(), ops.arange(0, 1, 0.5).dtype
    ([0, 1, 2], dtype('float32'))
    """
    if dtype is None:
        values = [v for v in (start, stop, step) if v is not None]
        kinds = [getattr(v, "dtype", None) for v in values]
        if any(isinstance(v, float) for v in values):
            dtype = _config.floatx()
        elif kinds and any(k is not None for k in kinds):
            dtype = jnp.result_type(*[k or jnp.int32 for k in kinds])
        else:
            dtype = "int32"
    step = 1 if step is None else step
    return jnp.arange(start, stop, step, dtype=jdtype(dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's names
    """A 2-D tensor with ones on the ``k``-th diagonal (``keras.ops.eye``).

    >>> from lamina import ops
    >>> ops.eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    return jnp.eye(N, M, k, dtype=_floatx(dtype))


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix (``keras.ops.identity``).

    >>> from lamina import ops
    >>> ops.identity(3).shape
    (3, 3)
    """
    return jnp.identity(n, dtype=_floatx(dtype))


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's names
    """Ones at and below the ``k``-th diagonal (``keras.ops.tri``).

    >>> from lamina import ops
    >>> ops.tri(2).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return jnp.tri(N, M, k, dtype=_floatx(dtype))


def _space(fn, name, what, extra_args):
    return (
        f"{what} (``keras.ops.{name}``).\n\nArgs:\n    start, stop: the range ends.\n    num: "
        f"number of samples.\n    endpoint: include ``stop``.{extra_args}\n    dtype: result "
        "dtype (``floatx()`` by default).\n    axis: where the samples go when start/stop are "
        f"arrays.\n\n>>> from lamina import ops\n>>> ops.{name}(1, 4, num=4).shape\n(4,)\n"
    )


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    out = jnp.linspace(
        tensor(start), tensor(stop), num, endpoint=endpoint, retstep=retstep,
        dtype=_floatx(dtype), axis=axis,
    )  # fmt: skip
    return out


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    return jnp.logspace(
        tensor(start), tensor(stop), num, endpoint=endpoint, base=base,
        dtype=_floatx(dtype), axis=axis,
    )  # fmt: skip


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    return jnp.geomspace(
        tensor(start), tensor(stop), num, endpoint=endpoint, dtype=_floatx(dtype), axis=axis
    )


linspace.__doc__ = _space(jnp.linspace, "linspace", "Evenly spaced samples", "\n    retstep: "
                          "also return the spacing.")  # fmt: skip
logspace.__doc__ = _space(jnp.logspace, "logspace", "Samples evenly spaced on a log scale",
                          "\n    base: the log base.")  # fmt: skip
geomspace.__doc__ = _space(jnp.geomspace, "geomspace", "A geometric progression", "")


def _window(name, fn):
    def op(x):
        return fn(int(tensor(x))).astype(_floatx(None))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"The {name.capitalize()} window of ``x`` points, in ``floatx()`` (``keras.ops.{name}``)"
        f".\n\n>>> from lamina import ops\n>>> ops.{name}(5).shape\n(5,)\n"
    )
    return op


bartlett = _window("bartlett", jnp.bartlett)
blackman = _window("blackman", jnp.blackman)
hamming = _window("hamming", jnp.hamming)
hanning = _window("hanning", jnp.hanning)


def kaiser(x, beta):
    """The Kaiser window of ``x`` points with shape ``beta`` (``keras.ops.kaiser``).

    >>> from lamina import ops
    >>> ops.kaiser(5, 14.0).shape
    (5,)
    """
    return jnp.kaiser(int(tensor(x)), beta).astype(_floatx(None))


def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D tensors (``keras.ops.meshgrid``).

    Args:
        *x: 1-D tensors.
        indexing: ``'xy'`` (Cartesian) or ``'ij'`` (matrix).

    >>> from lamina import ops
    >>> [g.shape for g in ops.meshgrid(ops.arange(2), ops.arange(3))]
    [(3, 2), (3, 2)]
    """
    return jnp.meshgrid(*[jnp.asarray(tensor(v)) for v in x], indexing=indexing)
