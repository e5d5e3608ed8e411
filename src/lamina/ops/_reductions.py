"""Keras's reductions and statistics (``keras.ops.sum``, ``mean``, ``std``, ``quantile``...).

Keras's dtype rules: ``mean``/``var``/``std``/``median``/``quantile`` of integers give
float32; float16 inputs are reduced in float32 and cast back; ``sum``/``prod`` of small
integers and bools give int32 (as JAX does).
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops._tensor import axis_arg, float_tensor, is_int, jdtype, tensor

__all__: list[str] = []


def _arr(x):
    return jnp.asarray(tensor(x))


def _reduction(name, fn, summary, *, float_out=False, extra=""):
    def op(x, axis=None, keepdims=False):
        x = _arr(x)
        if float_out:
            # Keras: integers reduce to float32 here (not floatx); half precision computes in
            # float32 and casts back.
            x = x.astype(jnp.float32) if is_int(x) else x
            out_dtype = x.dtype
            if x.dtype in (jnp.float16, jnp.bfloat16):
                x = x.astype(jnp.float32)
            return fn(x, axis=axis_arg(axis), keepdims=keepdims).astype(out_dtype)
        return fn(x, axis=axis_arg(axis), keepdims=keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary} along ``axis`` (``keras.ops.{name}``).\n\n"
        "Args:\n    x: input tensor.\n    axis: an int, a tuple/list of ints, or ``None`` "
        "for all axes.\n    keepdims: keep the reduced axes with size 1.\n\n"
        f"Returns:\n    The reduced tensor{extra}.\n\n>>> from lamina import ops\n"
        f">>> ops.{name}(ops.ones((2, 3)), axis=1).shape\n(2,)\n"
    )
    globals()[name] = op
    __all__.append(name)


for _name, _fn, _doc in [
    ("sum", jnp.sum, "Sum"),
    ("all", jnp.all, "Logical AND"),
    ("any", jnp.any, "Logical OR"),
    ("amax", jnp.max, "Maximum"),
    ("amin", jnp.min, "Minimum"),
    ("ptp", jnp.ptp, "Range (max - min)"),
    ("nanmax", jnp.nanmax, "Maximum ignoring NaNs"),
    ("nanmin", jnp.nanmin, "Minimum ignoring NaNs"),
    ("nanprod", jnp.nanprod, "Product ignoring NaNs"),
    ("nansum", jnp.nansum, "Sum ignoring NaNs"),
]:
    _reduction(_name, _fn, _doc)

for _name, _fn, _doc in [
    ("mean", jnp.mean, "Arithmetic mean"),
    ("var", jnp.var, "Variance (population, ddof=0)"),
    ("std", jnp.std, "Standard deviation (population, ddof=0)"),
    ("median", jnp.median, "Median"),
    ("nanmean", jnp.nanmean, "Mean ignoring NaNs"),
    ("nanmedian", jnp.nanmedian, "Median ignoring NaNs"),
    ("nanstd", jnp.nanstd, "Standard deviation ignoring NaNs"),
    ("nanvar", jnp.nanvar, "Variance ignoring NaNs"),
]:
    _reduction(_name, _fn, _doc, float_out=True, extra=" (integers give float32)")


def _argreduction(name, fn, summary):
    def op(x, axis=None, keepdims=False):
        return fn(_arr(x), axis=axis, keepdims=keepdims).astype(jnp.int32)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Index of the {summary} along ``axis`` (``keras.ops.{name}``); ``None`` flattens.\n\n"
        "Args:\n    x: input tensor.\n    axis: an int or ``None``.\n    keepdims: keep the "
        "reduced axis with size 1.\n\nReturns:\n    An int32 tensor.\n\n"
        f">>> from lamina import ops\n>>> int(ops.{name}(ops.convert_to_tensor([1., 3., 2.])))\n"
        f"{1 if 'max' in name else 0}\n"
    )
    globals()[name] = op
    __all__.append(name)


for _name, _fn, _doc in [
    ("argmax", jnp.argmax, "maximum"),
    ("argmin", jnp.argmin, "minimum"),
    ("nanargmax", jnp.nanargmax, "maximum, ignoring NaNs,"),
    ("nanargmin", jnp.nanargmin, "minimum, ignoring NaNs,"),
]:
    _argreduction(_name, _fn, _doc)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    """Maximum along ``axis`` (``keras.ops.max``).

    Args:
        x: input tensor.
        axis: an int, a tuple/list of ints, or ``None`` for all axes.
        keepdims: keep the reduced axes with size 1.
        initial: a value the maximum starts from (needed for empty inputs).

    Returns:
        The reduced tensor.

    >>> from lamina import ops
    >>> float(ops.max(ops.convert_to_tensor([1., 3., 2.])))
    3.0
    """
    return jnp.max(_arr(x), axis=axis_arg(axis), keepdims=keepdims, initial=initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    """Minimum along ``axis`` (``keras.ops.min``); arguments as :func:`max`.

    >>> from lamina import ops
    >>> float(ops.min(ops.convert_to_tensor([1., 3., 2.])))
    1.0
    """
    return jnp.min(_arr(x), axis=axis_arg(axis), keepdims=keepdims, initial=initial)


def prod(x, axis=None, keepdims=False, dtype=None):
    """Product along ``axis`` (``keras.ops.prod``).

    Args:
        x: input tensor.
        axis: an int, a tuple/list of ints, or ``None`` for all axes.
        keepdims: keep the reduced axes with size 1.
        dtype: optional accumulation and result dtype.

    >>> from lamina import ops
    >>> float(ops.prod(ops.convert_to_tensor([2., 3.])))
    6.0
    """
    return jnp.prod(_arr(x), axis=axis_arg(axis), keepdims=keepdims, dtype=jdtype(dtype))


def count_nonzero(x, axis=None):
    """Number of non-zero entries along ``axis`` (``keras.ops.count_nonzero``), as int32.

    >>> from lamina import ops
    >>> int(ops.count_nonzero(ops.convert_to_tensor([0, 1, 2])))
    2
    """
    return jnp.count_nonzero(_arr(x), axis=axis_arg(axis)).astype(jnp.int32)


def average(x, axis=None, weights=None):
    """Weighted average along ``axis`` (``keras.ops.average``).

    Args:
        x: input tensor.
        axis: an int or ``None`` for all axes.
        weights: optional weights, of ``x``'s shape or 1-D along ``axis``.

    >>> from lamina import ops
    >>> float(ops.average(ops.convert_to_tensor([1., 3.]), weights=ops.convert_to_tensor([3., 1.])))
    1.5
    """
    x = float_tensor(x)
    if weights is not None:
        weights = jnp.asarray(tensor(weights))
        dtype = jnp.result_type(x.dtype, weights.dtype)
        if jnp.issubdtype(dtype, jnp.integer):
            dtype = jdtype(_config.floatx())
        x, weights = x.astype(dtype), weights.astype(dtype)
    return jnp.average(x, axis=axis, weights=weights)


def _quantile_like(name, fn, scale):
    def op(x, q, axis=None, method="linear", keepdims=False):
        x = _arr(x)
        x = x.astype(jnp.float32) if is_int(x) else x
        out_dtype = x.dtype
        q = float_tensor(q)  # an integer q (e.g. 50) works too
        out = fn(x.astype(jnp.float32), q, axis=axis_arg(axis), method=method, keepdims=keepdims)
        return out.astype(out_dtype)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"The ``q``-th {'percentile' if scale == 100 else 'quantile'} along ``axis`` "
        f"(``keras.ops.{name}``).\n\nArgs:\n    x: input tensor.\n    q: a scalar or 1-D "
        f"tensor in [0, {scale}].\n    axis: an int, a tuple of ints or ``None``.\n    method: "
        "'linear', 'lower', 'higher', 'midpoint' or 'nearest'.\n    keepdims: keep reduced "
        f"axes.\n\nReturns:\n    A float tensor.\n\n>>> from lamina import ops\n"
        f">>> float(ops.{name}(ops.convert_to_tensor([1., 2., 3.]), {scale / 2:g}))\n2.0\n"
    )
    globals()[name] = op
    __all__.append(name)


_quantile_like("quantile", jnp.quantile, 1)
_quantile_like("percentile", jnp.percentile, 100)
_quantile_like("nanquantile", jnp.nanquantile, 1)
_quantile_like("nanpercentile", jnp.nanpercentile, 100)


def _cumulative(name, fn, summary):
    def op(x, axis=None, dtype=None):
        x = _arr(x)
        if is_int(x) and dtype is None and x.dtype == jnp.bool_:
            dtype = "int32"
        return fn(x, axis=axis, dtype=jdtype(dtype))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Cumulative {summary} along ``axis`` (``keras.ops.{name}``); ``None`` flattens.\n\n"
        "Args:\n    x: input tensor.\n    axis: an int or ``None``.\n    dtype: optional "
        f"result dtype.\n\n>>> from lamina import ops\n>>> ops.{name}(ops.ones((2, 3)), "
        "axis=1).shape\n(2, 3)\n"
    )
    globals()[name] = op
    __all__.append(name)


_cumulative("cumsum", jnp.cumsum, "sum")
_cumulative("cumprod", jnp.cumprod, "product")
_cumulative("nancumsum", jnp.nancumsum, "sum ignoring NaNs")
_cumulative("nancumprod", jnp.nancumprod, "product ignoring NaNs")

__all__ += ["average", "count_nonzero", "max", "min", "prod"]
