"""A functional model whose inputs are inner tensors of a graph, as Keras builds it.

``keras.Model(inputs=encoded_features, outputs=predictions)`` (keras.io's FeatureSpace
example: the model starts at a ``Concatenate``'s output) is legal in Keras 3: its
``Functional`` clones the part of the graph between the inputs and the outputs, with a new
``InputLayer`` (named ``<tensor name>CLONE``) in place of each input that is not one already.
:func:`clone_cut_inputs` does the same here, so the model's ``layers``, ``summary()``, its
saved config and its compiled program all start at those new inputs, as Keras's do.
"""

from __future__ import annotations

import copy
import dataclasses

import jax

from lamina.layers.symbolic import Input, KerasTensor, Node, TensorOp


def _is_kt(value) -> bool:
    return isinstance(value, KerasTensor)


def _node_of(tensor):
    layer, index, _ = tensor._keras_history
    return layer._inbound_nodes[index]


def _is_model_input(tensor) -> bool:
    # (a tensor without history is refused by ``map_graph`` with Keras's words)
    return tensor._keras_history is None or _node_of(tensor).is_input


def _substitute(value, mapping):
    """``value`` (a call argument: tensors, constants, slices nested in lists, tuples and
    dicts) with each KerasTensor replaced by its clone."""
    if _is_kt(value):
        return mapping.get(id(value), value)
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, mapping) for v in value)
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    return value


def _clone_input(tensor) -> KerasTensor:
    # Keras names the new input after the tensor; an unnamed tensor after its layer.
    base = tensor.name or tensor._keras_history[0].name
    return Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=f"{base}CLONE")


def clone_cut_inputs(inputs, outputs, nodes):
    """``(inputs, outputs)`` of a functional model, its graph cloned from new ``Input``s when
    an input is an inner tensor (Keras's ``clone_graph_nodes``); unchanged otherwise.

    Args:
        inputs: the model's inputs (a tensor, or a list or dict of them).
        outputs: the model's outputs.
        nodes: the nodes from ``inputs`` to ``outputs`` in execution order
            (``lamina.models.graph.map_graph``).

    Returns:
        The inputs and outputs to build the model on, in the structures given.

    Example:
        >>> import lamina
        >>> a, b = lamina.Input((3,)), lamina.Input((2,))
        >>> joined = lamina.layers.Concatenate()([a, b])
        >>> model = lamina.Model(joined, lamina.layers.Dense(4)(joined))
        >>> [layer.name for layer in model.layers][0].endswith("CLONE")
        True
    """
    flat_in = jax.tree_util.tree_leaves(inputs, is_leaf=_is_kt)
    if all(_is_model_input(t) for t in flat_in):
        return inputs, outputs
    mapping = {id(t): t if _is_model_input(t) else _clone_input(t) for t in flat_in}
    for node in nodes:
        if node.is_input:  # an Input among the model's inputs: kept as it is
            continue
        layer = node.layer
        if isinstance(layer, TensorOp) and layer.keras_op is not None:
            # The op keeps its call arguments for saving: the clone's name the new tensors
            # (the original op stays in the graph it was recorded in).
            layer = copy.copy(layer)
            layer._inbound_nodes = []
            op = layer.keras_op
            layer.keras_op = dataclasses.replace(
                op, args=_substitute(op.args, mapping), kwargs=_substitute(op.kwargs, mapping)
            )
        old_outputs = node.output_tensors
        outs = _substitute(node.outputs, {id(t): copy.copy(t) for t in old_outputs})
        clone = Node(
            layer, _substitute(node.args, mapping), _substitute(node.kwargs, mapping), outs
        )
        index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(clone)
        for i, (old, new) in enumerate(zip(old_outputs, clone.output_tensors)):
            new._keras_history = (layer, index, i)
            mapping[id(old)] = new
    return _substitute(inputs, mapping), _substitute(outputs, mapping)
