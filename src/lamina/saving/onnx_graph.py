"""ONNX export of a functional model's graph: each node of ``Model(inputs, outputs)`` becomes
the ONNX nodes of its layer (the single-input translations of :mod:`lamina.saving.onnx_export`)
or of a merge (``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``,
``Concatenate``).  Inputs are named ``input`` (or ``input_0``, ``input_1``, ... when there are
several) and outputs ``output`` (or ``output_0``, ...), in the order of the model's
``inputs``/``outputs``; every one has a dynamic batch dimension.
"""

from __future__ import annotations

import jax

#: Merge layers and their ONNX operator; ``Sum``/``Mean``/``Max``/``Min`` take any number of
#: inputs, ``Sub``/``Mul`` two (longer ``Multiply`` lists are chained).
MERGES = {
    "Add": "Sum",
    "Average": "Mean",
    "Maximum": "Max",
    "Minimum": "Min",
    "Subtract": "Sub",
    "Multiply": "Mul",
}


def _is_kt(v) -> bool:
    from lamina.layers.symbolic import KerasTensor

    return isinstance(v, KerasTensor)


def _names(tensors, stem):
    return [stem if len(tensors) == 1 else f"{stem}_{j}" for j in range(len(tensors))]


def export_graph(g, model, translate):
    """Adds the ONNX nodes of ``model``'s graph to ``g``.

    Args:
        g: the :class:`lamina.saving.onnx_layers.Graph` being built.
        model: a functional model.
        translate: ``(g, model, i, layer, x, in_shape) -> name``, one single-input layer.

    Returns:
        ``(inputs, outputs)``: lists of ``(onnx name, shape, is_int64)``; an input is int64
        when its dtype is an integer or an ``Embedding`` reads it.

    Raises:
        ValueError: a layer with several outputs, a nested model, or a layer without an ONNX
            translation (named).
    """
    view = model.saving_view()
    graph = view.graph
    flat_in = list(graph.flat_inputs)
    flat_out = [t for t in jax.tree_util.tree_leaves(graph.outputs, is_leaf=_is_kt)]
    names = {id(t): n for t, n in zip(flat_in, _names(flat_in, "input"))}
    index = {id(layer): i for i, layer in enumerate(view.layers)}
    int_inputs = {id(t) for t in flat_in if "int" in str(t.dtype)}
    for node in graph.nodes:
        if node.is_input:
            continue
        layer, kind = node.layer, type(node.layer).__name__
        ins = [names[id(t)] for t in node.input_tensors]
        if len(node.output_tensors) != 1:
            raise ValueError(
                f"ONNX export: layer {layer.name!r} ({kind}) returns several tensors; only "
                "single-output layers can be exported."
            )
        if kind == "Embedding":
            int_inputs.update(id(t) for t in node.input_tensors)
        if kind in MERGES:
            op = MERGES[kind]
            y = ins[0]
            if op in ("Sub", "Mul"):
                for j, other in enumerate(ins[1:]):
                    y = g.op(op, [y, other], f"{layer.name}_{j}")
            else:
                y = g.op(op, ins, layer.name)
        elif kind == "Concatenate":
            y = g.op("Concat", ins, layer.name, axis=int(layer.axis))
        elif len(ins) == 1:
            shape = tuple(node.input_tensors[0].shape)
            y = translate(g, model, index[id(layer)], layer, ins[0], shape)
        else:
            raise ValueError(
                f"ONNX export: layer {layer.name!r} ({kind}) takes {len(ins)} inputs and has no "
                f"ONNX translation; merge layers supported: {', '.join(sorted(MERGES))}, "
                "Concatenate."
            )
        names[id(node.output_tensors[0])] = y
    inputs = [(names[id(t)], tuple(t.shape), id(t) in int_inputs) for t in flat_in]
    outputs = [(n, tuple(t.shape), False) for t, n in zip(flat_out, _names(flat_out, "output"))]
    for (n, _, _), src in zip(outputs, flat_out):
        g.nodes.append(g.h.make_node("Identity", [names[id(src)]], [n], name=n))
    return inputs, outputs
