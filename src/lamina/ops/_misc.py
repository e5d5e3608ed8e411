"""Keras's products, sorting/searching, comparisons of whole tensors and other numpy ops."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.ops._tensor import float_tensor, is_int, same_rank, tensor

__all__ = [
    "allclose", "argpartition", "argsort", "bincount", "clip", "corrcoef", "correlate",
    "cross", "diff", "digitize", "dot", "einsum", "histogram", "inner", "isclose", "isin",
    "kron", "matmul", "nan_to_num", "nonzero", "outer", "searchsorted", "select", "slogdet",
    "sort", "tensordot", "trace", "trapezoid", "unique", "vander", "vdot", "vectorize",
    "view", "where",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _doc(fn, summary, example, result):
    fn.__doc__ = (
        f"{summary} (``keras.ops.{fn.__name__}``).\n\n>>> from lamina import ops\n"
        f">>> {example}\n{result}\n"
    )


def matmul(x1, x2):
    x1, x2 = _a(x1), _a(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(
            f"matmul needs inputs of rank >= 1. Received shapes {x1.shape} and {x2.shape}; "
            "use ops.multiply for scalars."
        )
    both_int8 = x1.dtype == jnp.int8 and x2.dtype == jnp.int8
    return jnp.matmul(x1, x2, preferred_element_type=jnp.int32 if both_int8 else None)


def dot(x1, x2):
    return jnp.dot(_a(x1), _a(x2))


def vdot(x1, x2):
    return jnp.vdot(_a(x1), _a(x2))


def inner(x1, x2):
    return jnp.inner(_a(x1), _a(x2))


def outer(x1, x2):
    return jnp.outer(_a(x1), _a(x2))


def kron(x1, x2):
    return jnp.kron(_a(x1), _a(x2))


def tensordot(x1, x2, axes=2):
    return jnp.tensordot(_a(x1), _a(x2), axes=axes)


def einsum(subscripts, *operands, **kwargs):
    operands = [_a(o) for o in operands]
    if all(o.dtype == jnp.int8 for o in operands) and operands:
        kwargs.setdefault("preferred_element_type", jnp.int32)
    return jnp.einsum(subscripts, *operands, **kwargs)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    return jnp.cross(_a(x1), _a(x2), axisa=axisa, axisb=axisb, axisc=axisc, axis=axis)


def correlate(x1, x2, mode="valid"):
    x1, x2 = _a(x1), _a(x2)
    if is_int(x1) and is_int(x2):
        x1 = float_tensor(x1)
    return jnp.correlate(x1, x2, mode=mode)


def corrcoef(x):
    return jnp.corrcoef(float_tensor(x))


def trace(x, offset=0, axis1=0, axis2=1):
    x = _a(x)
    dtype = jnp.int32 if x.dtype == jnp.bool_ else None
    return jnp.trace(x, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype)


def clip(x, x_min, x_max):
    x = _a(x)
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.int32)
    return jnp.clip(*same_rank(x, tensor(x_min), tensor(x_max)))


def where(condition, x1=None, x2=None):
    if (x1 is None) != (x2 is None):
        raise ValueError(
            "`x1` and `x2` either both should be `None` or both should have non-None value. "
            f"Received: x1={x1!r}, x2={x2!r}."
        )
    if x1 is None:
        return jnp.nonzero(_a(condition))
    return jnp.where(*same_rank(_a(condition), tensor(x1), tensor(x2)))


def select(condlist, choicelist, default=0):
    return jnp.select([_a(c) for c in condlist], [_a(c) for c in choicelist], tensor(default))


def nonzero(x):
    return jnp.nonzero(_a(x))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    return jnp.nan_to_num(_a(x), nan=nan, posinf=posinf, neginf=neginf)


def sort(x, axis=-1):
    return jnp.sort(_a(x), axis=axis)


def argsort(x, axis=-1):
    x = _a(x)
    return jnp.argsort(x, axis=None if x.ndim == 0 else axis).astype(jnp.int32)


def argpartition(x, kth, axis=-1):
    return jnp.argpartition(_a(x), kth, axis=axis).astype(jnp.int32)


def searchsorted(sorted_sequence, values, side="left"):
    seq = _a(sorted_sequence)
    if seq.ndim != 1:
        raise ValueError(
            "`searchsorted` only supports 1-D sorted sequences; use ops.vectorized_map to "
            f"extend it to N-D sequences. Received: sorted_sequence.shape={seq.shape}."
        )
    return jnp.searchsorted(seq, _a(values), side=side).astype(jnp.int32)


def digitize(x, bins):
    return jnp.digitize(_a(x), _a(bins)).astype(jnp.int32)


def isin(x1, x2, assume_unique=False, invert=False):
    return jnp.isin(_a(x1), _a(x2), assume_unique=assume_unique, invert=invert)


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return jnp.isclose(*same_rank(_a(x1), _a(x2)), rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return jnp.allclose(*same_rank(_a(x1), _a(x2)), rtol=rtol, atol=atol, equal_nan=equal_nan)


def bincount(x, weights=None, minlength=0, sparse=False):
    if sparse:
        raise ValueError("bincount(sparse=True) is not supported: Lamina has dense arrays only.")
    x = _a(x)
    if x.ndim == 2:
        # Keras counts each row of a 2-D input separately.
        length = int(jnp.max(x)) + 1 if x.size else 0
        length = max(length, minlength)
        w = None if weights is None else _a(weights)
        rows = [
            jnp.bincount(x[i], None if w is None else w[i], minlength=length, length=length)
            for i in range(x.shape[0])
        ]
        return jnp.stack(rows)
    return jnp.bincount(x, None if weights is None else _a(weights), minlength=minlength)


def histogram(x, bins=10, range=None):  # noqa: A002 - Keras's name
    x = _a(x)
    if x.ndim != 1:
        raise ValueError(f"histogram expects a 1-D tensor. Received shape {x.shape}.")
    return jnp.histogram(x, bins=bins, range=range)


def diff(a, n=1, axis=-1):
    return jnp.diff(_a(a), n=n, axis=axis)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = float_tensor(y)
    return jnp.trapezoid(y, x=None if x is None else float_tensor(x), dx=dx, axis=axis)


def vander(x, N=None, increasing=False):  # noqa: N803 - Keras's name
    return jnp.vander(_a(x), N=N, increasing=increasing)


def slogdet(x):
    return tuple(jnp.linalg.slogdet(_a(x)))


def unique(
    x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
    axis=None, size=None, fill_value=None,
):  # fmt: skip
    """The unique elements of ``x`` (``keras.ops.unique``).

    Args:
        x: input tensor.
        sorted: accepted for Keras compatibility; results are always sorted.
        return_index, return_inverse, return_counts: also return these, as NumPy does.
        axis: an axis to find unique slices along; ``None`` flattens.
        size: a fixed output length, needed inside ``jit`` (padded with ``fill_value``).
        fill_value: the padding value when ``size`` is larger than the number of uniques.

    >>> from lamina import ops
    >>> ops.unique(ops.convert_to_tensor([3, 1, 3])).tolist()
    [1, 3]
    """
    return jnp.unique(
        _a(x), return_index=return_index, return_inverse=return_inverse,
        return_counts=return_counts, axis=axis, size=size, fill_value=fill_value,
    )  # fmt: skip


def view(x, dtype=None):
    return _a(x).view(dtype)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """A vectorized version of ``pyfunc`` (``keras.ops.vectorize``, ``jnp.vectorize``).

    >>> from lamina import ops
    >>> ops.vectorize(lambda a, b: a + b)(ops.ones((2,)), ops.ones((2,))).tolist()
    [2.0, 2.0]
    """
    return jnp.vectorize(pyfunc, excluded=excluded or set(), signature=signature)


_V = "ops.convert_to_tensor([1., 2.])"
for _fn, _summary, _example, _result in [
    (matmul, "Matrix product with NumPy's batching rules", "ops.matmul(ops.ones((2, 3)), ops.ones((3, 4))).shape", "(2, 4)"),
    (dot, "Dot product (``np.dot``)", f"float(ops.dot({_V}, {_V}))", "5.0"),
    (vdot, "Dot product of the flattened inputs", f"float(ops.vdot({_V}, {_V}))", "5.0"),
    (inner, "Inner product over the last axes", f"float(ops.inner({_V}, {_V}))", "5.0"),
    (outer, "Outer product of the flattened inputs", f"ops.outer({_V}, {_V}).shape", "(2, 2)"),
    (kron, "Kronecker product", "ops.kron(ops.eye(2), ops.ones((2, 2))).shape", "(4, 4)"),
    (tensordot, "Sum of products over ``axes``", "ops.tensordot(ops.ones((2, 3)), ops.ones((3, 4)), axes=1).shape", "(2, 4)"),
    (einsum, "Einstein summation", "ops.einsum('ij,jk->ik', ops.ones((2, 3)), ops.ones((3, 4))).shape", "(2, 4)"),
    (cross, "Cross product of 3-vectors", "ops.cross(ops.eye(3)[0], ops.eye(3)[1]).tolist()", "[0.0, 0.0, 1.0]"),
    (correlate, "Cross-correlation of two 1-D tensors ('valid', 'same' or 'full')", f"ops.correlate({_V}, {_V}).tolist()", "[5.0]"),
    (corrcoef, "Pearson correlation coefficients of the rows", "ops.corrcoef(ops.ones((2, 3))).shape", "(2, 2)"),
    (trace, "Sum along a diagonal", "float(ops.trace(ops.eye(3)))", "3.0"),
    (clip, "Limits values to ``[x_min, x_max]``", "ops.clip(ops.arange(4), 1, 2).tolist()", "[1, 1, 2, 2]"),
    (where, "``x1`` where ``condition`` else ``x2``; the indices of true values when both are None", f"ops.where({_V} > 1, 0.0, 1.0).tolist()", "[1.0, 0.0]"),
    (select, "Picks from ``choicelist`` by the first true ``condlist`` entry", "ops.select([ops.arange(3) < 1], [ops.arange(3)], -1).tolist()", "[0, -1, -1]"),
    (nonzero, "Indices of the non-zero elements, one array per axis", "ops.nonzero(ops.convert_to_tensor([0, 2]))[0].tolist()", "[1]"),
    (nan_to_num, "Replaces NaN and infinities with finite numbers", "ops.nan_to_num(ops.convert_to_tensor([float('nan')])).tolist()", "[0.0]"),
    (sort, "Sorted along ``axis``", "ops.sort(ops.convert_to_tensor([2, 1])).tolist()", "[1, 2]"),
    (argsort, "Indices that sort along ``axis`` (int32)", "ops.argsort(ops.convert_to_tensor([2, 1])).tolist()", "[1, 0]"),
    (argpartition, "Indices that partition around the ``kth`` element", "ops.argpartition(ops.convert_to_tensor([3, 1, 2]), 1).shape", "(3,)"),
    (searchsorted, "Insertion indices of ``values`` into a 1-D sorted tensor", f"ops.searchsorted({_V}, 1.5).tolist()", "1"),
    (digitize, "Index of the bin each value falls in", f"ops.digitize({_V}, {_V}).tolist()", "[1, 2]"),
    (isin, "Whether each element of ``x1`` is in ``x2``", f"ops.isin({_V}, [2.0]).tolist()", "[False, True]"),
    (isclose, "Elementwise closeness within tolerances", f"ops.isclose({_V}, {_V}).tolist()", "[True, True]"),
    (allclose, "Whether all elements are close", f"bool(ops.allclose({_V}, {_V}))", "True"),
    (bincount, "Counts of each non-negative integer (per row for 2-D input)", "ops.bincount(ops.convert_to_tensor([0, 1, 1])).tolist()", "[1, 2]"),
    (histogram, "Histogram of a 1-D tensor: ``(counts, bin_edges)``", f"ops.histogram({_V}, bins=2)[0].tolist()", "[1.0, 1.0]"),
    (diff, "The ``n``-th discrete difference along ``axis``", f"ops.diff({_V}).tolist()", "[1.0]"),
    (trapezoid, "Integral by the trapezoidal rule", f"float(ops.trapezoid({_V}))", "1.5"),
    (vander, "Vandermonde matrix", f"ops.vander({_V}).shape", "(2, 2)"),
    (slogdet, "``(sign, log|det|)`` of square matrices", "[float(v) for v in ops.slogdet(ops.eye(2))]", "[1.0, 0.0]"),
    (view, "The same bytes viewed as ``dtype``", "ops.view(ops.zeros((2,), 'int32'), 'float32').tolist()", "[0.0, 0.0]"),
]:  # fmt: skip
    _doc(_fn, _summary, _example, _result)
