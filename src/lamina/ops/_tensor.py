"""Turning user values into JAX arrays the way Keras's JAX backend does.

Every op converts its array arguments here first: Lamina ``Variable``s (and anything else with
``__jax_array__``) become their array, nested lists become arrays, and Python scalars pass
through untouched so JAX's weak typing gives Keras's dtype rules (``int8 + 2 -> int8``,
``int32 + 1.5 -> float32``, ``float16 + 1.5 -> float16``).
"""

from __future__ import annotations

import builtins

import jax.numpy as jnp
import numpy as np


def _floatx() -> str:
    from lamina.backend import config  # lazy: lamina.backend itself imports this module

    return config.floatx()


_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", complex: "complex64"}
_ALLOWED = (
    "float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
    "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2",
    "complex64", "complex128",
)  # fmt: skip


def standardize_dtype(dtype) -> str:
    """Keras's dtype name for ``dtype`` (``None`` means ``floatx()``).

    Raises:
        ValueError: for a dtype Keras does not know.
    """
    if dtype is None:
        return _floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype)
    if dtype == "int":
        dtype = "int32"
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "jax.numpy" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in _ALLOWED:
        raise ValueError(f"Invalid dtype: {dtype}. Expected one of {_ALLOWED}.")
    return dtype


def jdtype(dtype):
    """The JAX dtype for a Keras dtype name (``None`` stays ``None``)."""
    return None if dtype is None else jnp.dtype(standardize_dtype(dtype))


def _python_leaves(x):
    if isinstance(x, list | tuple):
        for item in x:
            yield from _python_leaves(item)
    else:
        yield x


def tensor(x, dtype=None):
    """``x`` as a JAX array (or a Python scalar, kept weakly typed); ``dtype`` casts."""
    if hasattr(x, "__jax_array__") and not isinstance(x, jnp.ndarray):
        x = x.__jax_array__()
    if dtype is not None:
        return jnp.asarray(x, dtype=jdtype(dtype))
    if isinstance(x, bool | int | float | complex):
        return x
    if isinstance(x, list | tuple):
        return convert_to_tensor(x)
    return x if isinstance(x, jnp.ndarray) else jnp.asarray(x)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """Converts ``x`` to a JAX array, as ``keras.ops.convert_to_tensor``.

    Python floats (and lists holding one) become ``floatx()``, Python ints ``int32``; NumPy
    arrays keep their dtype (float64 becomes float32, as JAX runs without 64-bit types).

    Args:
        x: an array, a Lamina ``Variable``, a NumPy array, a Python scalar or nested list.
        dtype: optional target dtype.
        sparse, ragged: accepted for Keras compatibility; Lamina has dense arrays only.

    Returns:
        A ``jax.Array``.

    Raises:
        ValueError: when ``sparse=True`` or ``ragged=True`` is asked for.

    >>> from lamina import ops
    >>> ops.convert_to_tensor([1, 2.5]).dtype
    dtype('float32')
    """
    if sparse or ragged:
        raise ValueError(
            "convert_to_tensor(sparse=True / ragged=True) is not supported: Lamina's tensors "
            "are dense JAX arrays. Pass a dense array instead."
        )
    if hasattr(x, "__jax_array__") and not isinstance(x, jnp.ndarray):
        x = x.__jax_array__()
    if dtype is None and isinstance(x, bool | int | float | complex | list | tuple):
        kinds = {type(v) for v in _python_leaves(x)}
        if kinds and all(k in (bool, int, float, complex) for k in kinds):
            if complex in kinds:
                dtype = "complex64"
            elif float in kinds:
                dtype = _floatx()
            elif int in kinds:
                dtype = "int32"
            else:
                dtype = "bool"
    if dtype is not None:
        return jnp.asarray(x, dtype=jdtype(dtype))
    return jnp.asarray(x)


def is_int(x) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return isinstance(x, bool | int)
    return jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.bool_)


def float_tensor(x):
    """``x`` as an array of a float dtype: ints and bools become ``floatx()`` (Keras's rule)."""
    x = tensor(x)
    if is_int(x):
        return jnp.asarray(x, dtype=_floatx())
    return jnp.asarray(x)


def axis_arg(axis):
    """Keras accepts a list for ``axis``; JAX wants an int or a tuple."""
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def shape_arg(shape):
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(builtins.int(d) for d in shape)


def same_rank(*xs):
    """Pads lower-rank arrays with leading size-1 axes: NumPy broadcasting made explicit, so
    Keras's broadcasting works even where JAX's rank promotion is set to raise."""
    ranks = [jnp.ndim(x) for x in xs if not isinstance(x, bool | int | float | complex)]
    if not ranks:
        return xs
    rank = builtins.max(ranks)
    return tuple(
        x
        if isinstance(x, bool | int | float | complex) or jnp.ndim(x) in (0, rank)
        else jnp.reshape(x, (1,) * (rank - jnp.ndim(x)) + tuple(jnp.shape(x)))
        for x in xs
    )
