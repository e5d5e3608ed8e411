"""Ops on symbolic tensors: ``ops.concatenate([a, b])`` while defining a functional model.

Keras lets every op take the ``KerasTensor``s of ``keras.Input``; the op then records a node
of the graph instead of computing. Here each public op is wrapped: when an argument holds a
``KerasTensor``, the call becomes a ``TensorOp`` layer (from :mod:`lamina.layers.symbolic`)
that runs the op on the real arrays later; otherwise the op runs directly.
"""

from __future__ import annotations

import functools

import jax

#: Ops that answer from static information or take functions; never recorded.
_NOT_RECORDED = {
    "convert_to_numpy", "custom_gradient", "dtype", "is_tensor", "ndim", "shape", "size",
    "vectorize",
}  # fmt: skip


def _is_kt(value) -> bool:
    return type(value).__name__ == "KerasTensor"


def _record(fn, name, args, kwargs):
    from lamina.layers.symbolic import TensorOp

    flat, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_kt)
    positions = [i for i, v in enumerate(flat) if _is_kt(v)]

    def run(xs):
        values = list(flat)
        for i, x in zip(positions, xs if len(positions) > 1 else [xs]):
            values[i] = x
        a, k = jax.tree_util.tree_unflatten(treedef, values)
        return fn(*a, **k)

    tensors = [flat[i] for i in positions]
    return TensorOp(run, name)(tensors if len(tensors) > 1 else tensors[0])


def symbolic_aware(fn, name):
    """``fn`` that records a graph node when called on KerasTensors."""
    if name in _NOT_RECORDED or getattr(fn, "_symbolic_aware", False):
        return fn

    @functools.wraps(fn)
    def op(*args, **kwargs):
        leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_kt)
        if any(_is_kt(v) for v in leaves):
            return _record(fn, name, args, kwargs)
        return fn(*args, **kwargs)

    op._symbolic_aware = True
    return op


def wrap_module(module, names):
    """Replaces each public op ``names`` of ``module`` by its symbolic-aware version."""
    for name in names:
        value = getattr(module, name, None)
        if callable(value) and not isinstance(value, type):
            setattr(module, name, symbolic_aware(value, name))
