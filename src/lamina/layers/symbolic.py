"""Symbolic tensors: ``Input(...)`` and layers called on them, the graph of a functional model.

``Input(shape)`` returns a :class:`KerasTensor` (a shape and a dtype, no values).  Calling a
layer on KerasTensors records a :class:`Node` (the layer, its arguments) and returns new
KerasTensors whose ``_keras_history`` is ``(layer, node_index, tensor_index)``, exactly the
connectivity Keras records; ``lamina.Model(inputs, outputs)`` walks it back.

Output shapes come from the layer's ``compute_output_shape``, or, for layers written Keras's
way (``call``) and nested models, from tracing ``init``/``apply`` abstractly with
``jax.eval_shape`` at two batch sizes (dimensions that follow the batch become ``None``).

>>> from lamina.layers import Input, Dense
>>> x = Input((8,), name="features")
>>> y = Dense(3)(x)
>>> x.shape, y.shape
((None, 8), (None, 3))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers import symbolic_masks as _masks
from lamina.layers.base import Layer, check_rank
from lamina.layers.dtype_names import dtype_name


class KerasTensor:
    """A symbolic tensor: the shape and dtype of a value in a functional model being defined.

    Args:
        shape: shape including the batch dimension (``None`` where unknown).
        dtype: the dtype name, ``"float32"`` by default.
        name: optional name (an ``Input``'s name).
    """

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype_name(dtype)  # "string" for text inputs (fed on the host)
        self.name = name
        self._keras_history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError(
            "A symbolic KerasTensor has no value, so it cannot be used as a Python bool (in "
            "`if`, `and`, `while`). Use lamina.ops.cond / ops.where inside a layer's call()."
        )

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic (it has no values yet): it cannot become a NumPy array. Use "
            "layers and lamina.ops on it, then build a Model(inputs, outputs) and call "
            "predict() or the model on data."
        )

    def __getitem__(self, idx):
        return TensorOp(lambda x: x[idx], "getitem")(self)


def _binary(name, fn):
    def method(self, other):
        if _is_kt(other):
            return TensorOp(fn, name)([self, other])
        # A Python number or an array: a constant of the op, not a graph input (Keras's
        # ``1 + x``, ``x * 2.0``).
        return TensorOp(lambda x: fn([x, other]), name)(self)

    return method


for _name, _fn in {
    "__add__": lambda xs: xs[0] + xs[1],
    "__radd__": lambda xs: xs[1] + xs[0],
    "__sub__": lambda xs: xs[0] - xs[1],
    "__rsub__": lambda xs: xs[1] - xs[0],
    "__mul__": lambda xs: xs[0] * xs[1],
    "__rmul__": lambda xs: xs[1] * xs[0],
    "__truediv__": lambda xs: xs[0] / xs[1],
    "__rtruediv__": lambda xs: xs[1] / xs[0],
    "__floordiv__": lambda xs: xs[0] // xs[1],
    "__rfloordiv__": lambda xs: xs[1] // xs[0],
    "__mod__": lambda xs: xs[0] % xs[1],
    "__rmod__": lambda xs: xs[1] % xs[0],
    "__matmul__": lambda xs: xs[0] @ xs[1],
    "__rmatmul__": lambda xs: xs[1] @ xs[0],
    "__pow__": lambda xs: xs[0] ** xs[1],
    "__rpow__": lambda xs: xs[1] ** xs[0],
    "__lt__": lambda xs: xs[0] < xs[1],
    "__le__": lambda xs: xs[0] <= xs[1],
    "__gt__": lambda xs: xs[0] > xs[1],
    "__ge__": lambda xs: xs[0] >= xs[1],
    "__ne__": lambda xs: xs[0] != xs[1],
    "__and__": lambda xs: xs[0] & xs[1],
    "__rand__": lambda xs: xs[1] & xs[0],
    "__or__": lambda xs: xs[0] | xs[1],
    "__ror__": lambda xs: xs[1] | xs[0],
    "__xor__": lambda xs: xs[0] ^ xs[1],
    "__rxor__": lambda xs: xs[1] ^ xs[0],
}.items():
    setattr(KerasTensor, _name, _binary(_name.strip("_"), _fn))
KerasTensor.__neg__ = lambda self: TensorOp(lambda x: -x, "negative")(self)
KerasTensor.__abs__ = lambda self: TensorOp(jnp.abs, "absolute")(self)
KerasTensor.__invert__ = lambda self: TensorOp(lambda x: ~x, "invert")(self)


class TensorOp(Layer):
    """An arithmetic operation on KerasTensors (``x + y``, ``x[:, 0]``) inside a functional
    model.  It runs in training and predict; it has no Keras config, so such a model cannot be
    saved: write the operation as a layer (``layers.Add()``, a ``Lambda``) to save it."""

    def __init__(self, fn, op_name: str, **kwargs):
        super().__init__(name=kwargs.pop("name", None), **kwargs)
        self.fn = fn
        self.op_name = op_name

    def apply(self, params, state, x, *, training=False, key=None):
        if isinstance(x, list):
            x = [v for v in x]
        return self.fn(x), state

    def compute_output_shape(self, input_shape):
        return traced_output_shape(self, input_shape)

    def get_config(self):
        raise NotImplementedError(
            f"The functional model holds the operation {self.op_name!r} applied directly to "
            "symbolic tensors; Lamina cannot serialize it. Use a layer instead (e.g. "
            "layers.Add()([a, b]) rather than a + b) to save the model."
        )

    def _spec_key(self):
        return ("TensorOp", self.op_name, id(self))


class Node:
    """One call of a layer in a functional graph: its arguments and its output tensors."""

    def __init__(self, layer, args: tuple, kwargs: dict, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs  # a KerasTensor, or a list of them
        self.input_tensors = [
            t for t in jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_kt) if _is_kt(t)
        ]

    @property
    def output_tensors(self) -> list:
        return list(self.outputs) if isinstance(self.outputs, list | tuple) else [self.outputs]

    @property
    def is_input(self) -> bool:
        from lamina.layers.core import InputLayer

        return isinstance(self.layer, InputLayer)

    @property
    def parent_nodes(self) -> list:
        out = []
        for t in self.input_tensors:
            layer, i, _ = t._keras_history
            out.append(layer._inbound_nodes[i])
        return out


def _is_kt(v) -> bool:
    return isinstance(v, KerasTensor)


def has_symbolic(tree) -> bool:
    return any(_is_kt(v) for v in jax.tree_util.tree_leaves(tree, is_leaf=_is_kt))


def Input(  # noqa: N802 - Keras's name
    shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
    tensor=None, optional=False,
) -> KerasTensor:  # fmt: skip
    """A model input, as ``keras.Input``: a symbolic tensor to call layers on.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. ``(8,)``.
        batch_size: optional fixed batch size.
        dtype: e.g. ``"int32"`` for token ids; ``"float32"`` by default.
        batch_shape: the full shape, batch dimension first (instead of ``shape``).
        name: the input's name (also its ``InputLayer``'s name).

    Returns:
        A :class:`KerasTensor`; pass it to ``Model(inputs, outputs)`` or first in a
        ``Sequential``.

    >>> from lamina import Input
    >>> Input(shape=(28, 28)).shape
    (None, 28, 28)
    """
    from lamina.layers.core import InputLayer

    if sparse:
        raise ValueError("Input(sparse=True) is not supported by Lamina: pass dense arrays.")
    if tensor is not None:
        raise ValueError("Input(tensor=...) is not supported by Lamina.")
    if shape is None and batch_shape is None:
        raise ValueError("Input() needs shape=, the shape of one sample, e.g. Input(shape=(8,)).")
    if batch_shape is not None:
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    if isinstance(shape, int):
        shape = (shape,)
    layer = InputLayer(shape=tuple(shape), batch_size=batch_size, name=name)
    layer._input_dtype = dtype_name(dtype)
    return input_tensor(layer)


def input_tensor(layer) -> KerasTensor:
    """The symbolic output of an ``InputLayer`` (made once, on first use)."""
    if getattr(layer, "_inbound_nodes", None):
        return layer._inbound_nodes[0].outputs
    kt = KerasTensor(
        (layer._batch_size_arg, *layer.shape),
        getattr(layer, "_input_dtype", "float32"),
        name=layer.name,
        history=(layer, 0, 0),
    )
    layer._inbound_nodes = [Node(layer, (), {}, kt)]
    return kt


# ------------------------------------------------------------------ layer calls
def symbolic_call(layer, args: tuple, kwargs: dict):
    """Records ``layer(*args, **kwargs)`` on KerasTensors; returns the output KerasTensor(s)."""
    if len(args) != 1:
        raise TypeError(
            f"Layer {layer.name!r} was called with {len(args)} positional arguments; Lamina "
            "layers take their input(s) as one argument: pass several tensors as a list, "
            "e.g. layers.Concatenate()([a, b])."
        )
    inputs = args[0]
    shapes = jax.tree_util.tree_map(lambda t: t.shape, inputs, is_leaf=_is_kt)
    if isinstance(inputs, tuple):
        shapes = list(shapes)
    in_mask = _masks.input_mask_shapes(inputs)
    out_shape = output_shape(layer, shapes, mask_shape=in_mask)
    from lamina.training.autocast import output_dtype

    dtype = output_dtype(layer)  # the compute dtype of a mixed-precision layer
    if _is_shape_list(out_shape):
        outputs = [KerasTensor(s, dtype) for s in out_shape]
    else:
        outputs = KerasTensor(out_shape, dtype)
    if not hasattr(layer, "_inbound_nodes") or layer._inbound_nodes is None:
        layer._inbound_nodes = []
    node = Node(layer, tuple(args), dict(kwargs), outputs)
    index = len(layer._inbound_nodes)
    layer._inbound_nodes.append(node)
    for i, t in enumerate(node.output_tensors):
        t._keras_history = (layer, index, i)
    if _is_kt(outputs):
        outputs._mask_shape = _masks.output_mask_shape(layer, shapes, in_mask)
    return outputs


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list | tuple) and bool(shape) and isinstance(shape[0], list | tuple)


def output_shape(layer, input_shape, mask_shape=None):
    """The output shape of ``layer`` for inputs of ``input_shape`` (a shape or list of them);
    ``mask_shape``: the inputs' mask, passed to a Keras-style ``call(..., mask=)``."""
    if _is_model(layer):
        return _as_shapes(layer.compute_output_shape(input_shape))
    if getattr(layer, "_traced", False):
        own = type(layer).compute_output_shape
        if own is not Layer.compute_output_shape:
            return _as_shapes(own(layer, input_shape))
        if mask_shape is not None and layer.uses_mask:
            return traced_output_shape(layer, input_shape, mask_shape=mask_shape)
        return traced_output_shape(layer, input_shape)
    if not _is_shape_list(input_shape):
        check_rank(layer, tuple(input_shape))
        return tuple(layer.compute_output_shape(tuple(input_shape)))
    return _as_shapes(layer.compute_output_shape(input_shape))


def _as_shapes(shape):
    if _is_shape_list(shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _is_model(layer) -> bool:
    return getattr(layer, "_is_model", False)


def traced_output_shape(layer, input_shape, dtypes=None, mask_shape=None):
    """Output shape(s) found by tracing ``init`` + ``apply`` abstractly at two batch sizes
    (with all-true masks of ``mask_shape`` passed as ``mask``, when given)."""

    def run(fill):
        def zeros(shape):
            return jnp.zeros(tuple(fill if d is None else d for d in shape), jnp.float32)

        def f(key):
            if _is_shape_list(input_shape):
                x = [zeros(s) for s in input_shape]
            else:
                x = zeros(input_shape)
            params, state = layer.init(key, input_shape)
            if mask_shape is not None:
                mask = _masks.mask_values(mask_shape, fill)
                y, _ = layer.apply(params, state, x, training=False, mask=mask)
            else:
                y, _ = layer.apply(params, state, x, training=False)
            return y

        out = jax.eval_shape(f, jax.random.key(0))
        return [tuple(o.shape) for o in out] if isinstance(out, list | tuple) else out.shape

    try:
        a, b = run(3), run(4)
    except Exception as e:  # the user's call() failed: say which layer and which shapes
        raise type(e)(
            f"Calling layer {layer.name!r} ({type(layer).__name__}) on inputs of shape "
            f"{input_shape} failed: {e}"
        ) from e

    def merge(sa, sb):
        return tuple(None if x != y else x for x, y in zip(sa, sb))

    if isinstance(a, list):
        return [merge(x, y) for x, y in zip(a, b)]
    return merge(a, b)


def resolve_args(node: Node, values: dict) -> tuple[Any, dict]:
    """The node's first argument and kwargs with each KerasTensor replaced by its value."""

    def sub(v):
        return values[id(v)] if _is_kt(v) else v

    args = jax.tree_util.tree_map(sub, node.args, is_leaf=_is_kt)
    kwargs = jax.tree_util.tree_map(sub, node.kwargs, is_leaf=_is_kt)
    return args[0], kwargs
