"""Ops on symbolic tensors: ``ops.concatenate([a, b])`` while defining a functional model.

Keras lets every op take the ``KerasTensor``s of ``keras.Input``; the op then records a node
of the graph instead of computing. Here each public op is wrapped: when an argument holds a
``KerasTensor``, the call becomes a ``TensorOp`` layer (from :mod:`lamina.layers.symbolic`)
that runs the op on the real arrays later; otherwise the op runs directly.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import jax

#: Ops that answer from static information or take functions; never recorded.
_NOT_RECORDED = {
    "convert_to_numpy", "custom_gradient", "dtype", "is_tensor", "ndim", "shape", "size",
    "vectorize",
}  # fmt: skip


def _is_kt(value) -> bool:
    return type(value).__name__ == "KerasTensor"


_LIVE = threading.local()


@contextlib.contextmanager
def live_values(resolve):
    """Inside the block, ops on a ``KerasTensor`` that ``resolve(tensor)`` knows run on its
    value instead of recording a node.

    Keras 2 code closes over graph tensors inside a layer's ``call`` ("Deep Learning with
    Python"'s VAE layer reads the global ``z_mean``): Keras 2 ran ``call`` once on the graph's
    tensors, so such a read was a graph edge.  Here ``call`` runs on arrays, inside the graph's
    forward pass, which resolves each tensor it has computed to its value (and the output
    shape trace to zeros of its shape).

    Args:
        resolve: ``KerasTensor -> value or None``.
    """
    stack = _LIVE.__dict__.setdefault("stack", [])
    stack.append(resolve)
    try:
        yield
    finally:
        stack.pop()


def _resolved(leaves):
    """The values of the KerasTensors among ``leaves`` from the live forward passes, or None
    when no forward pass is running.

    Raises:
        ValueError: a forward pass is running but has not computed one of them.
    """
    stack = getattr(_LIVE, "stack", None)
    if not stack:
        return None
    out = []
    for leaf in leaves:
        if not _is_kt(leaf):
            out.append(leaf)
            continue
        for resolve in reversed(stack):
            value = resolve(leaf)
            if value is not None:
                out.append(value)
                break
        else:
            raise ValueError(
                f"A layer's call() used the symbolic tensor {leaf!r} of the model's graph, "
                "which the model has not computed before that layer runs. Pass the tensor to "
                "the layer as an input (layer([x, tensor])) instead of reading it from "
                "outside call()."
            )
    return out


def has_keras_tensor(tree) -> bool:
    """Whether ``tree`` (arguments) holds a KerasTensor."""
    return any(_is_kt(v) for v in jax.tree_util.tree_leaves(tree, is_leaf=_is_kt))


def record(fn, name, args, kwargs, *, layer_name=None, saveable=True):
    """Records ``fn(*args, **kwargs)`` (some arguments KerasTensors) as a ``TensorOp`` node.

    Args:
        fn: the op, run on the real arrays when the model runs.
        name: its ``lamina.ops`` name, which also names its Keras op class for saving.
        args: positional arguments, KerasTensors among them.
        kwargs: keyword arguments.
        layer_name: the node's name (a loaded model keeps the file's); automatic otherwise.
        saveable: False for functions outside ``lamina.ops`` (no Keras op class).

    Returns:
        The output KerasTensor(s).
    """
    from lamina.layers.op_nodes import identify
    from lamina.layers.symbolic import TensorOp

    flat, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_kt)
    positions = [i for i, v in enumerate(flat) if _is_kt(v)]

    def run(xs):
        values = list(flat)
        for i, x in zip(positions, xs if len(positions) > 1 else [xs]):
            values[i] = x
        a, k = jax.tree_util.tree_unflatten(treedef, values)
        return fn(*a, **k)

    if saveable:
        keras_op, why = identify(name, tuple(args), dict(kwargs))
    else:
        keras_op, why = None, f"{name} is not a keras.ops function"
    tensors = [flat[i] for i in positions]
    op = TensorOp(run, name, keras_op=keras_op, unsaveable_reason=why, name=layer_name)
    return op(tensors if len(tensors) > 1 else tensors[0])


def symbolic_aware(fn, name, saveable=None):
    """``fn`` that records a graph node when called on KerasTensors.

    ``saveable``: whether the node may be saved as the Keras op class of ``name``; by default
    when ``fn`` is a ``lamina.ops`` function (a loss or a Keras 2 backend function of the same
    name is not that op).
    """
    if name in _NOT_RECORDED or getattr(fn, "_symbolic_aware", False):
        return fn
    if saveable is None:  # lamina.ops functions (a few made by exec() name no module)
        module = getattr(fn, "__module__", None) or "lamina.ops."
        saveable = module.startswith("lamina.ops.")

    @functools.wraps(fn)
    def op(*args, **kwargs):
        flat, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_kt)
        if any(_is_kt(v) for v in flat):
            values = _resolved(flat)
            if values is None:
                return record(fn, name, args, kwargs, saveable=saveable)
            args, kwargs = jax.tree_util.tree_unflatten(treedef, values)
        return fn(*args, **kwargs)

    op._symbolic_aware = True
    return op


def wrap_module(module, names):
    """Replaces each public op ``names`` of ``module`` by its symbolic-aware version."""
    saveable = module.__name__.startswith("lamina.ops.")  # Keras's ops; not keras2's backend
    for name in names:
        value = getattr(module, name, None)
        if callable(value) and not isinstance(value, type):
            setattr(module, name, symbolic_aware(value, name, saveable))
