"""Symbolic tensors: ``Input(...)`` and layers called on them, the graph of a functional model.

``Input(shape)`` returns a :class:`KerasTensor` (a shape and a dtype, no values).  Calling a
layer on KerasTensors records a :class:`Node` (the layer, its arguments) and returns new
KerasTensors whose ``_keras_history`` is ``(layer, node_index, tensor_index)``, exactly the
connectivity Keras records; ``lamina.Model(inputs, outputs)`` walks it back.

Output shapes come from the layer's ``compute_output_shape``, or, for layers written Keras's
way (``call``) and nested models, from tracing ``init``/``apply`` abstractly with
``jax.eval_shape`` at two batch sizes (dimensions that follow the batch become ``None``): see
:mod:`lamina.layers.symbolic_shapes`, whose functions stay importable from here.

>>> from lamina.layers import Input, Dense
>>> x = Input((8,), name="features")
>>> y = Dense(3)(x)
>>> x.shape, y.shape
((None, 8), (None, 3))
"""

from __future__ import annotations

from typing import Any

import jax

from lamina._naming import snake_case, unique_name
from lamina.layers import symbolic_masks as _masks
from lamina.layers.base import Layer
from lamina.layers.dtype_names import dtype_name
from lamina.layers.symbolic_shapes import (  # noqa: F401 - re-exported: imported from here
    _CALL_DTYPES,
    _as_shapes,
    _is_shape_list,
    call_dtypes,
    output_shape,
    traced_output_shape,
    with_context,
)
from lamina.layers.trace_inputs import keep_order


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

    @property
    def _keras_mask(self):
        """The symbolic mask this tensor carries (a boolean ``KerasTensor``), or ``None``, as
        Keras 3 sets it on the outputs of a masking layer (``Embedding(mask_zero=True)``)."""
        shape = self.__dict__.get("_mask_shape")
        if shape is None or not isinstance(shape, tuple):
            return None
        return KerasTensor(shape, dtype="bool")

    @_keras_mask.setter
    def _keras_mask(self, mask) -> None:
        self._mask_shape = None if mask is None else tuple(mask.shape)

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
        return _ops().get_item(self, idx)

    def __round__(self, ndigits=None):
        return _ops().round(self, decimals=ndigits or 0)


def _ops():
    import lamina.ops

    return lamina.ops


def _binary(op, reflected):
    # Keras's KerasTensor dunders: ``x + 3.0`` is ``ops.add(x, 3.0)``, ``2.0 * x`` is
    # ``ops.multiply(2.0, x)`` (the order Keras records, so a saved graph matches Keras's).
    if reflected:
        return lambda self, other: getattr(_ops(), op)(other, self)
    return lambda self, other: getattr(_ops(), op)(self, other)


for _dunder, _op in {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "mod", "matmul": "matmul", "pow": "power",
    "and": "logical_and", "or": "logical_or", "xor": "logical_xor",
}.items():  # fmt: skip
    setattr(KerasTensor, f"__{_dunder}__", _binary(_op, False))
    setattr(KerasTensor, f"__r{_dunder}__", _binary(_op, True))
for _dunder, _op in {
    "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "ne": "not_equal",
}.items():  # fmt: skip
    setattr(KerasTensor, f"__{_dunder}__", _binary(_op, False))
KerasTensor.__neg__ = lambda self: _ops().negative(self)
KerasTensor.__abs__ = lambda self: _ops().absolute(self)
KerasTensor.__invert__ = lambda self: _ops().logical_not(self)


class TensorOp(Layer):
    """An operation on KerasTensors (``x + y``, ``x[:, 0]``, ``ops.concatenate``) in a
    functional model: a weightless node of the graph, which Keras calls an op.

    It is saved as Keras saves it: an entry of Keras's op class (``Add``, ``GetItem``) with the
    op's constructor arguments as ``config`` and its call arguments in its node. An op that
    Keras's format cannot hold (an argument that is a Python function, a function that is no
    ``keras.ops`` op) makes ``get_config`` raise.

    Args:
        fn: runs the op on the values of the node's input tensors.
        op_name: the ``lamina.ops`` function name.
        keras_op: the op in Keras's terms (``lamina.layers.op_nodes.KerasOp``), or None.
        unsaveable_reason: why it is None.
    """

    def __init__(self, fn, op_name: str, keras_op=None, unsaveable_reason="", **kwargs):
        name = kwargs.pop("name", None)
        if name is None and keras_op is not None:  # Keras's automatic op names: "add", "add_1"
            name = unique_name(snake_case(keras_op.spec.class_name))
        super().__init__(name=name, **kwargs)
        self.fn = fn
        self.op_name = op_name
        self.keras_op = keras_op
        self._unsaveable_reason = unsaveable_reason

    def apply(self, params, state, x, *, training=False, key=None):
        if isinstance(x, list):
            x = [v for v in x]
        return self.fn(x), state

    def compute_output_shape(self, input_shape):
        nodes = getattr(self, "_inbound_nodes", None)
        if not nodes:
            return traced_output_shape(self, input_shape)
        # Traced with the recorded inputs' dtypes: an op may need integer indices.
        many = _is_shape_list(input_shape)
        shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
        dtypes = [t.dtype for t in nodes[0].input_tensors]
        if len(dtypes) != len(shapes) or "string" in dtypes:
            return traced_output_shape(self, input_shape)
        return _traced_op_spec(self, shapes, dtypes, many)[0]

    def get_config(self):
        if self.keras_op is None:
            raise NotImplementedError(
                f"The functional model holds the operation {self.op_name!r} applied directly to "
                f"symbolic tensors, which cannot be saved: {self._unsaveable_reason}. Use a layer "
                "instead (e.g. a Lambda or a custom layer) to save the model."
            )
        return {"name": self.name, **self.keras_op.config}

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
    shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
    name=None, tensor=None, optional=False,
) -> KerasTensor:  # fmt: skip
    """A model input, as ``keras.Input``: a symbolic tensor to call layers on.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. ``(8,)``.
        batch_size: optional fixed batch size.
        dtype: e.g. ``"int32"`` for token ids; ``"float32"`` by default.
        batch_shape: the full shape, batch dimension first (instead of ``shape``).
        name: the input's name (also its ``InputLayer``'s name).
        sparse, ragged, optional: Keras's arguments, accepted at their defaults; ``True``
            raises a ``ValueError`` (Lamina's inputs are dense arrays, always given).

    Returns:
        A :class:`KerasTensor`; pass it to ``Model(inputs, outputs)`` or first in a
        ``Sequential``.

    >>> from lamina import Input
    >>> Input(shape=(28, 28)).shape
    (None, 28, 28)
    """
    from lamina.layers.core import InputLayer
    from lamina.layers.input_args import check_dense_input

    check_dense_input(sparse=sparse, ragged=ragged, optional=optional)
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
    from lamina.scopes import note_parent_path

    note_parent_path(layer)  # Keras builds the layer here: its weights' paths start with the
    # name scopes open now, even when the model makes the arrays later
    draw_build_seeds = getattr(layer, "_draw_build_seeds", None)
    if draw_build_seeds is not None:  # the seeds Keras's build draws, drawn in Keras's order
        draw_build_seeds()
    if len(args) != 1:
        loose = [a for a in args[1:] if not _is_kt(a) and not hasattr(a, "shape")]
        if loose:  # Keras's rule and words
            raise ValueError(
                "Only input tensors may be passed as positional arguments. The following "
                f"argument value should be passed as a keyword argument: {loose[0]!r} (of "
                f"type {type(loose[0])}), e.g. {layer.name}(x, training=...)."
            )
        raise TypeError(
            f"Layer {layer.name!r} was called with {len(args)} positional arguments; Lamina "
            "layers take their input(s) as one argument: pass several tensors as a list, "
            "e.g. layers.Concatenate()([a, b])."
        )
    outputs, shapes, in_mask = _output_tensors(layer, args[0])
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


def output_spec(layer, inputs):
    """The KerasTensor(s) ``layer`` outputs on the KerasTensor(s) ``inputs``, with Keras's
    shapes and dtypes, recording no node (Keras's ``compute_output_spec``)."""
    return _output_tensors(layer, inputs)[0]


def _output_tensors(layer, inputs):
    """``(output KerasTensor(s), input shapes, input mask shapes)`` of ``layer`` on
    ``inputs``."""
    shapes = jax.tree_util.tree_map(lambda t: t.shape, inputs, is_leaf=_is_kt)
    shapes = keep_order(shapes, inputs)  # ``build`` gets a dict of shapes in the user's order
    if isinstance(inputs, tuple):
        shapes = list(shapes)
    in_mask = _masks.input_mask_shapes(inputs)
    spec = _op_output_spec(layer, inputs) if isinstance(layer, TensorOp) else None
    if spec is not None:  # an op's output dtype is its own (``x > 0`` is bool), as in Keras
        out_shape, dtypes = spec
    else:
        leaves = jax.tree_util.tree_leaves(inputs, is_leaf=_is_kt)
        token = _CALL_DTYPES.set(tuple(t.dtype if _is_kt(t) else "float32" for t in leaves))
        try:  # a traced call() sees its inputs' dtypes (an integer Input may index a table)
            out_shape = output_shape(layer, shapes, mask_shape=in_mask)
        finally:
            _CALL_DTYPES.reset(token)
        from lamina.training.autocast import output_dtype

        dtypes = output_dtype(layer)  # the compute dtype of a mixed-precision layer
    if _is_shape_list(out_shape):
        if isinstance(dtypes, str):
            dtypes = [dtypes] * len(out_shape)
        outputs = [KerasTensor(s, d) for s, d in zip(out_shape, dtypes)]
    else:
        outputs = KerasTensor(out_shape, dtypes)
    return outputs, shapes, in_mask


def _op_output_spec(op, inputs):
    """``(shape(s), dtype name(s))`` of a ``TensorOp``'s output on KerasTensors ``inputs``
    (one, or a list), traced with their own dtypes; None for host strings (not traceable)."""
    from lamina.layers.string_ops import moves_strings

    tensors = inputs if isinstance(inputs, list | tuple) else [inputs]
    if moves_strings(op, [t.dtype for t in tensors]):  # run on the host: traced on positions
        many = isinstance(inputs, list | tuple)
        shapes, _ = _traced_op_spec(op, [t.shape for t in tensors], ["int32"] * len(tensors), many)
        return shapes, "string"
    if any(t.dtype == "string" for t in tensors):
        return None
    shapes = [t.shape for t in tensors]
    return _traced_op_spec(op, shapes, [t.dtype for t in tensors], isinstance(inputs, list | tuple))


def _traced_op_spec(op, shapes, dtypes, many_inputs):
    """Traces ``op.fn`` at two batch sizes (dimensions that change become ``None``)."""

    def run(fill):
        structs = [
            jax.ShapeDtypeStruct(tuple(fill if d is None else d for d in shape), dtype)
            for shape, dtype in zip(shapes, dtypes)
        ]
        out = jax.eval_shape(op.fn, structs if many_inputs else structs[0])
        return out if isinstance(out, list | tuple) else None, out

    try:
        (many, a), (_, b) = run(3), run(4)
    except Exception as e:  # the op does not apply to these inputs: say which and how
        shown = shapes if many_inputs else shapes[0]
        again = with_context(e, f"ops.{op.op_name} on symbolic inputs of shape {shown} failed")
        if again is None:
            raise
        raise again from e

    def merge(x, y):
        return tuple(None if p != q else p for p, q in zip(x.shape, y.shape))

    if many is not None:
        return [merge(x, y) for x, y in zip(a, b)], [dtype_name(x.dtype) for x in a]
    return merge(a, b), dtype_name(a.dtype)


def resolve_args(node: Node, values: dict) -> tuple[Any, dict]:
    """The node's first argument and kwargs with each KerasTensor replaced by its value."""

    def sub(v):
        return values[id(v)] if _is_kt(v) else v

    # A dict of inputs reaches ``call`` in the order the user built it, as in Keras.
    args = keep_order(jax.tree_util.tree_map(sub, node.args, is_leaf=_is_kt), node.args)
    kwargs = keep_order(jax.tree_util.tree_map(sub, node.kwargs, is_leaf=_is_kt), node.kwargs)
    return args[0], kwargs
