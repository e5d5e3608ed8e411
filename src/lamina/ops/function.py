"""``lamina.Function``: Keras 3's ``keras.Function``, the graph linking symbolic inputs to
symbolic outputs, replayed on new values.

Like a functional ``Model`` without the model API: it holds no weights of its own and does not
train; each layer in the graph runs with its current weights (built on first use, as a layer
called on arrays), each op on the values.  It takes any nested structure of ``KerasTensor``s
(``lamina.Input`` or plain ``lamina.KerasTensor(shape)``) and returns its outputs in theirs.
Called with symbolic tensors, it records a node, as any :class:`~lamina.Operation`.

>>> import numpy as np
>>> import lamina as keras
>>> a, b = keras.KerasTensor(shape=(None, 3)), keras.KerasTensor(shape=(None, 3))
>>> fn = keras.Function(inputs=[a, b], outputs=keras.ops.sigmoid(a + b))
>>> fn([np.zeros((2, 3)), np.zeros((2, 3))]).tolist()
[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
>>> fn.compute_output_shape([(4, 3), (4, 3)])
(4, 3)
"""

from __future__ import annotations

import jax

from lamina.ops.operation import Operation, output_spec

__all__ = ["Function"]


def _is_kt(value) -> bool:
    from lamina.layers.symbolic import KerasTensor

    return isinstance(value, KerasTensor)


def _flatten(tree) -> list:
    return jax.tree_util.tree_leaves(tree, is_leaf=_is_kt)


class Function(Operation):
    """The computation from ``inputs`` to ``outputs``, callable on new values.

    Args:
        inputs: a ``KerasTensor`` or a nested structure (list, tuple, dict) of them.
        outputs: a ``KerasTensor`` or a nested structure of them, computable from ``inputs``
            alone.
        name: the function's name.

    Raises:
        ValueError: ``inputs`` or ``outputs`` is empty, holds something other than symbolic
            tensors, or an output needs a tensor ``inputs`` does not provide ("Graph
            disconnected", as Keras says).
    """

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = _flatten(inputs)
        self._outputs = _flatten(outputs)
        if not self._inputs:
            raise ValueError(
                f"`inputs` argument cannot be empty. Received:\ninputs={inputs}\noutputs={outputs}"
            )
        if not self._outputs:
            raise ValueError(
                f"`outputs` argument cannot be empty. Received:\ninputs={inputs}\noutputs={outputs}"
            )
        for kind, tensors in (("inputs", self._inputs), ("outputs", self._outputs)):
            loose = [t for t in tensors if not _is_kt(t)]
            if loose:
                raise ValueError(
                    f"All `{kind}` of a Function must be symbolic tensors (lamina.Input(...) "
                    f"or lamina.KerasTensor(shape)). Received: {loose[0]!r}."
                )
        self._nodes = _ordered_nodes(self._inputs, self._outputs)

    @property
    def inputs(self) -> list:
        """The symbolic inputs, flattened."""
        return self._inputs

    @property
    def outputs(self) -> list:
        """The symbolic outputs, flattened."""
        return self._outputs

    @property
    def operations(self) -> list:
        """The layers and ops of the graph, each once, inputs first."""
        seen: dict = {}
        for node in self._nodes:
            seen.setdefault(id(node.layer), node.layer)
        return list(seen.values())

    def call(self, inputs):
        """Runs the graph on ``inputs`` (the structure given at construction)."""
        from lamina.layers.symbolic import TensorOp, resolve_args

        values = self._bind(inputs)
        for node in self._nodes:
            if node.is_input:
                continue
            arg, kwargs = resolve_args(node, values)
            if isinstance(node.layer, TensorOp):
                out = node.layer.fn(arg)
            else:
                out = node.layer(arg, **kwargs)
            outs = list(out) if isinstance(out, list | tuple) else [out]
            for t, v in zip(node.output_tensors, outs):
                values[id(t)] = v
        leaves = [values[id(t)] for t in self._outputs]
        return jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(self._outputs_struct, is_leaf=_is_kt), leaves
        )

    def _bind(self, inputs) -> dict:
        expected = jax.tree_util.tree_structure(self._inputs_struct, is_leaf=_is_kt)
        given = _flatten(inputs)
        if len(given) != len(self._inputs) or (
            not isinstance(inputs, list | tuple)
            and jax.tree_util.tree_structure(inputs, is_leaf=_is_kt) != expected
        ):
            raise ValueError(
                f"Function {self.name!r} was called with an invalid input structure. Expected "
                f"input structure: {self._inputs_struct}. Received input structure: "
                f"{_describe(inputs)}. Pass the inputs in the structure the Function was "
                "built with."
            )
        return {id(t): v for t, v in zip(self._inputs, given)}

    def compute_output_spec(self, inputs):
        """The outputs as ``KerasTensor``s for symbolic ``inputs``."""
        from lamina.layers.symbolic import KerasTensor

        if all(a.shape == b.shape for a, b in zip(_flatten(inputs), self._inputs)):
            return jax.tree_util.tree_map(
                lambda t: KerasTensor(t.shape, t.dtype), self._outputs_struct, is_leaf=_is_kt
            )
        return output_spec(self.call, (inputs,), {}, self.name)

    def compute_output_shape(self, input_shape):
        """The output shape(s) for inputs of ``input_shape`` (the inputs' structure, a shape
        per tensor)."""
        from lamina.layers.symbolic import KerasTensor

        shapes = iter(_shape_leaves(input_shape))
        tensors = [KerasTensor(next(shapes), t.dtype) for t in self._inputs]
        structure = jax.tree_util.tree_structure(self._inputs_struct, is_leaf=_is_kt)
        spec = self.compute_output_spec(jax.tree_util.tree_unflatten(structure, tensors))
        return jax.tree_util.tree_map(lambda t: t.shape, spec, is_leaf=_is_kt)


def _shape_leaves(tree) -> list:
    """The shapes in a structure of shapes (a shape is a tuple of ints and ``None``s)."""
    if isinstance(tree, dict):
        return [s for k in sorted(tree) for s in _shape_leaves(tree[k])]
    if (
        isinstance(tree, list | tuple)
        and tree
        and not all(d is None or isinstance(d, int) for d in tree)
    ):
        return [s for v in tree for s in _shape_leaves(v)]
    return [tuple(tree)]


def _describe(inputs):
    return jax.tree_util.tree_map(
        lambda v: f"<{type(v).__name__} shape={getattr(v, 'shape', None)}>", inputs
    )


def _ordered_nodes(inputs: list, outputs: list) -> list:
    """The graph's nodes from ``inputs`` to ``outputs`` in an order that computes each before
    its use (depth first, post-order, without recursion: long chains are fine).

    Raises:
        ValueError: an output needs a tensor that ``inputs`` does not provide.
    """
    known = {id(t) for t in inputs}
    done: set = set()
    ordered: list = []
    for out in outputs:
        stack = [(out, False)]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in known and not expanded:
                continue
            history = tensor._keras_history
            node = None if history is None else history[0]._inbound_nodes[history[1]]
            if node is None or node.is_input:
                seen = [n.layer.name for n in ordered]
                raise ValueError(
                    f"Graph disconnected: cannot find parent for tensor {tensor!r}. The "
                    "Function's inputs must include every input the outputs depend on. The "
                    f"following previous operations were accessed without issue: {seen}"
                )
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                ordered.append(node)
                known.update(id(t) for t in node.output_tensors)
                continue
            stack.append((tensor, True))
            stack.extend((t, False) for t in reversed(node.input_tensors) if id(t) not in known)
    return ordered
