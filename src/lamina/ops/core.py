"""``keras.ops`` core ops: conversion, dtype and shape queries, control flow, slicing, scatter.

Control flow maps onto ``jax.lax`` with Keras's calling conventions: ``cond(pred, true_fn,
false_fn)`` takes no operands, ``while_loop`` passes ``loop_vars`` unpacked and accepts
``maximum_iterations``, ``scan`` is ``lax.scan``. All work inside ``jax.jit``.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np

from lamina.ops._tensor import convert_to_tensor, jdtype, standardize_dtype, tensor

__all__ = [
    "associative_scan", "cast", "cond", "convert_to_numpy", "convert_to_tensor",
    "custom_gradient", "dtype", "fori_loop", "is_tensor", "map", "saturate_cast", "scan",
    "scatter", "scatter_update", "shape", "slice", "slice_update", "stop_gradient", "switch",
    "unstack", "vectorized_map", "while_loop",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _unwrap(tree):
    """Replaces ``Variable``s (objects with ``__jax_array__``) in a pytree by their arrays."""
    return jax.tree_util.tree_map(
        lambda v: (
            v.__jax_array__() if hasattr(v, "__jax_array__") and not isinstance(v, jax.Array) else v
        ),
        tree,
        is_leaf=lambda v: hasattr(v, "__jax_array__"),
    )


def cast(x, dtype):
    """``x`` converted to ``dtype`` (``keras.ops.cast``).

    >>> from lamina import ops
    >>> ops.cast([1.7, -1.7], "int32").tolist()
    [1, -1]
    """
    return jnp.asarray(tensor(x)).astype(jdtype(dtype))


def saturate_cast(x, dtype):
    """Casts, clipping values to ``dtype``'s range first (``keras.ops.saturate_cast``).

    >>> from lamina import ops
    >>> ops.saturate_cast(ops.convert_to_tensor([300.0, -5.0]), "uint8").tolist()
    [255, 0]
    """
    x = _a(x)
    target = jdtype(dtype)
    if jnp.issubdtype(target, jnp.integer):
        info = jnp.iinfo(target)
        lo, hi = info.min, info.max
        if jnp.issubdtype(x.dtype, jnp.integer):
            src = jnp.iinfo(x.dtype)
            lo, hi = builtins.max(lo, src.min), builtins.min(hi, src.max)
        x = jnp.clip(x, lo, hi)
    elif jnp.issubdtype(target, jnp.floating) and jnp.issubdtype(x.dtype, jnp.floating):
        info = jnp.finfo(target)
        x = jnp.clip(x, float(info.min), float(info.max))
    return x.astype(target)


def convert_to_numpy(x):
    """``x`` as a NumPy array (``keras.ops.convert_to_numpy``).

    >>> from lamina import ops
    >>> type(ops.convert_to_numpy(ops.ones((2,)))).__name__
    'ndarray'
    """
    if hasattr(x, "__jax_array__") and not isinstance(x, jax.Array):
        x = x.__jax_array__()
    return np.asarray(x)


def is_tensor(x):
    """Whether ``x`` is a JAX array (or a tracer inside ``jit``) (``keras.ops.is_tensor``).

    >>> from lamina import ops
    >>> ops.is_tensor(ops.ones(2)), ops.is_tensor([1.0])
    (True, False)
    """
    return isinstance(x, jax.Array)


def shape(x):
    """``x``'s shape as a tuple of ints (``keras.ops.shape``).

    >>> from lamina import ops
    >>> ops.shape(ops.ones((2, 3)))
    (2, 3)
    """
    if type(x).__name__ == "KerasTensor":
        return tuple(x.shape)  # symbolic: None where unknown, as Keras
    return tuple(_a(x).shape)


def dtype(x):
    """``x``'s dtype name, e.g. ``'float32'`` (``keras.ops.dtype``).

    >>> from lamina import ops
    >>> ops.dtype(ops.ones(2))
    'float32'
    """
    if type(x).__name__ == "KerasTensor":
        return standardize_dtype(x.dtype)
    return standardize_dtype(_a(x).dtype)


def stop_gradient(variable):
    """``variable`` as a constant for differentiation (``keras.ops.stop_gradient``).

    >>> import jax
    >>> from lamina import ops
    >>> float(jax.grad(lambda x: ops.stop_gradient(x) * x)(3.0))
    3.0
    """
    return jax.lax.stop_gradient(_a(variable))


def custom_gradient(f):
    """Decorates ``f`` returning ``(y, grad_fn)`` so that ``grad_fn(upstream)`` gives the
    gradients (``keras.ops.custom_gradient``, ``jax.custom_gradient``).

    >>> import jax
    >>> from lamina import ops
    >>> @ops.custom_gradient
    ... def clipped(x):
    ...     return x, lambda g: ops.clip(g, -0.5, 0.5)
    >>> float(jax.grad(clipped)(2.0))
    0.5
    """
    wrapped = jax.custom_gradient(f)

    def call(*args, **kwargs):
        args, kwargs = _unwrap((args, kwargs))
        return wrapped(*args, **kwargs)

    call.__name__ = getattr(f, "__name__", "custom_gradient")
    call.__doc__ = f.__doc__
    return call


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``, traceable (``keras.ops.cond``).

    Both branches must return the same structure, shapes and dtypes.

    >>> from lamina import ops
    >>> float(ops.cond(ops.convert_to_tensor(True), lambda: 1.0, lambda: 2.0))
    1.0
    """
    return jax.lax.cond(_a(pred), true_fn, false_fn)


def switch(index, branches, *operands):
    """``branches[index](*operands)``, traceable; ``index`` is clamped (``keras.ops.switch``).

    >>> from lamina import ops
    >>> float(ops.switch(1, [lambda x: x + 1, lambda x: x * 10], 2.0))
    20.0
    """
    return jax.lax.switch(_a(index), list(branches), *_unwrap(operands))


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Runs ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (``keras.ops.while_loop``).

    Args:
        cond: a function of the loop variables returning a boolean scalar.
        body: a function of the loop variables returning new ones of the same structure.
        loop_vars: a tuple/list of loop variables (passed unpacked), or a single one.
        maximum_iterations: optional bound on the number of iterations.

    Returns:
        The final loop variables, a tuple when ``loop_vars`` was a tuple/list.

    >>> from lamina import ops
    >>> ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0).tolist()
    12
    """
    is_seq = isinstance(loop_vars, tuple | list)
    state = _unwrap(tuple(loop_vars) if is_seq else (loop_vars,))

    def pack(out):
        return tuple(out) if is_seq else (out,)

    if maximum_iterations is None:
        out = jax.lax.while_loop(lambda s: cond(*s), lambda s: pack(body(*s)), state)
        return out if is_seq else out[0]
    out = jax.lax.while_loop(
        lambda s: jnp.logical_and(cond(*s[0]), s[1] < maximum_iterations),
        lambda s: (pack(body(*s[0])), s[1] + 1),
        (state, 0),
    )[0]
    return out if is_seq else out[0]


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``[lower, upper)`` (``keras.ops.fori_loop``).

    >>> from lamina import ops
    >>> int(ops.fori_loop(0, 4, lambda i, v: v + i, 0))
    6
    """
    return jax.lax.fori_loop(lower, upper, body_fun, _unwrap(init_val))


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``lax.scan``: ``carry, y = f(carry, x)`` over the leading axis of ``xs``
    (``keras.ops.scan``); returns ``(final_carry, stacked_ys)``.

    >>> from lamina import ops
    >>> carry, ys = ops.scan(lambda c, x: (c + x, c), 0.0, ops.arange(3.0))
    >>> float(carry), ys.tolist()
    (3.0, [0.0, 0.0, 1.0])
    """
    return jax.lax.scan(
        f, _unwrap(init), _unwrap(xs), length=length, reverse=reverse, unroll=unroll
    )


def associative_scan(f, elems, reverse=False, axis=0):
    """Parallel prefix scan with an associative ``f`` (``keras.ops.associative_scan``).

    >>> from lamina import ops
    >>> ops.associative_scan(lambda a, b: a + b, ops.arange(4)).tolist()
    [0, 1, 3, 6]
    """
    return jax.lax.associative_scan(f, _unwrap(elems), reverse=reverse, axis=axis)


def map(f, xs):  # noqa: A001 - Keras's name
    """``f`` applied to each slice of ``xs`` along the leading axis, stacked (``keras.ops.map``).

    >>> from lamina import ops
    >>> ops.map(lambda x: x * 2, ops.arange(3)).tolist()
    [0, 2, 4]
    """
    return jax.lax.map(f, _unwrap(xs))


def vectorized_map(function, elements):
    """``function`` mapped over the leading axis of ``elements`` with ``jax.vmap``
    (``keras.ops.vectorized_map``).

    >>> from lamina import ops
    >>> ops.vectorized_map(lambda x: ops.sum(x), ops.ones((2, 3))).tolist()
    [3.0, 3.0]
    """
    return jax.vmap(function)(_unwrap(elements))


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """The block of ``shape`` starting at ``start_indices``; -1 takes the rest of an axis
    (``keras.ops.slice``).

    >>> from lamina import ops
    >>> ops.slice(ops.arange(5), (1,), (3,)).tolist()
    [1, 2, 3]
    """
    inputs = _a(inputs)
    starts = [start_indices[i] for i in range(inputs.ndim)]
    sizes = tuple(
        inputs.shape[i] - int(starts[i]) if s == -1 else int(s) for i, s in enumerate(shape)
    )
    return jax.lax.dynamic_slice(inputs, [_a(s) for s in starts], sizes)


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``
    (``keras.ops.slice_update``).

    >>> from lamina import ops
    >>> ops.slice_update(ops.zeros(4), (1,), ops.ones(2)).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    inputs = _a(inputs)
    updates = _a(updates).astype(inputs.dtype)
    starts = [_a(start_indices[i]) for i in range(inputs.ndim)]
    return jax.lax.dynamic_update_slice(inputs, updates, starts)


def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at ``indices`` (``keras.ops.scatter``).

    Args:
        indices: ``(..., k)`` integer coordinates into the first ``k`` axes.
        values: the values, one per index row (duplicates add up).
        shape: the output shape.

    >>> from lamina import ops
    >>> ops.scatter([[0], [2]], ops.ones(2), (4,)).tolist()
    [1.0, 0.0, 1.0, 0.0]
    """
    values = _a(values)
    idx = tuple(jnp.moveaxis(_a(indices), -1, 0))
    return jnp.zeros(tuple(shape), values.dtype).at[idx].add(values)


def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with ``updates`` written at ``indices`` (``keras.ops.scatter_update``).

    Args:
        inputs: the tensor to update.
        indices: ``(n, k)`` integer coordinates into the first ``k`` axes.
        updates: ``n`` values (or slices).
        reduction: ``None`` (replace), ``'add'``, ``'max'``, ``'min'`` or ``'mul'``.

    Raises:
        ValueError: for another ``reduction``.

    >>> from lamina import ops
    >>> ops.scatter_update(ops.zeros(3), [[1]], ops.ones(1)).tolist()
    [0.0, 1.0, 0.0]
    """
    inputs = _a(inputs)
    idx = tuple(jnp.transpose(_a(indices)))
    updates = _a(updates)
    ref = inputs.at[idx]
    ops_ = {None: ref.set, "add": ref.add, "max": ref.max, "min": ref.min, "mul": ref.multiply}
    if reduction not in ops_:
        raise ValueError(
            f"Unsupported reduction: {reduction!r}. Expected None, 'add', 'max', 'min' or 'mul'."
        )
    return ops_[reduction](updates)


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list (``keras.ops.unstack``).

    >>> from lamina import ops
    >>> len(ops.unstack(ops.ones((3, 2))))
    3
    """
    x = _a(x)
    return [jax.lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])]
