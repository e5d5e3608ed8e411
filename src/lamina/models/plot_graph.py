"""The boxes and arrows of ``plot_model``: which layers a model draws and which feed which.

Keras's rules (``keras.utils.model_to_dot``): a ``Sequential`` draws its layers as a chain (no
input box); a functional model draws every layer of its graph, ``InputLayer`` included, with an
arrow per inbound tensor; a subclassed model is a single box.  With ``expand_nested=True`` a
nested functional or ``Sequential`` model is drawn as a frame around its own layers, and an
arrow into or out of it is joined to the layer inside that reads or makes the tensor.

>>> import lamina
>>> inp = lamina.Input((3,), name="x")
>>> out = lamina.layers.Dense(1, name="out")(lamina.layers.Dense(2, name="h")(inp))
>>> graph = model_graph(lamina.Model(inp, out))
>>> [box.layer.name for box in graph.boxes]
['x', 'h', 'out']
>>> [(graph.name(a), graph.name(b)) for a, b in graph.edges]
[('x', 'h'), ('h', 'out')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Box", "PlotGraph", "model_graph", "is_sequential", "is_graph_model"]


@dataclass
class Box:
    """One drawn layer: its key (``id`` of the layer), the layer, and the names of the nested
    models it is drawn inside (outermost first; empty at the top level)."""

    key: str
    layer: Any
    frames: tuple[str, ...] = ()


@dataclass
class PlotGraph:
    """The boxes in Keras's drawing order and the arrows ``(source key, destination key)``."""

    boxes: list[Box] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def name(self, key: str) -> str:
        """The layer name of the box ``key`` (for tests and messages)."""
        return next(b.layer.name for b in self.boxes if b.key == key)

    def add_edge(self, src, dst) -> None:
        edge = (str(id(src)), str(id(dst)))
        if edge not in self.edges:  # Keras draws one arrow per pair of layers
            self.edges.append(edge)


def is_sequential(model) -> bool:
    """A ``Sequential`` (its layers are a chain of positions, ``_stack``); Keras 1's
    ``Sequential`` of merged branches has ``add`` too but is a graph."""
    return getattr(model, "_is_model", False) and "_stack" in vars(model)


def is_graph_model(model) -> bool:
    """A functional model (a graph of layer calls), subclassed functional models included."""
    return (
        getattr(model, "_is_model", False)
        and not is_sequential(model)
        and getattr(model, "_nodes", None) is not None
    )


def _expandable(layer, expand_nested: bool) -> bool:
    return expand_nested and (is_sequential(layer) or is_graph_model(layer))


def model_graph(model, expand_nested: bool = False) -> PlotGraph:
    """The boxes and arrows Keras draws for ``model``.

    Args:
        model: a built model (``Sequential``, functional or subclassed).
        expand_nested: draw nested functional/``Sequential`` models' layers inside a frame.

    Returns:
        A :class:`PlotGraph`.
    """
    graph = PlotGraph()
    _add_boxes(graph, model, expand_nested, ())
    _add_edges(graph, model, expand_nested)
    return graph


def _layers_of(model) -> list:
    if is_sequential(model):
        return list(model.layers)
    if is_graph_model(model):  # Keras draws its ops (``x + y``) too: its ``_operations``
        return list(getattr(model, "_layers", None) or model.layers)
    return [model]


def _add_boxes(graph: PlotGraph, model, expand_nested: bool, frames: tuple) -> None:
    for layer in _layers_of(model):
        if layer is not model and _expandable(layer, expand_nested):
            _add_boxes(graph, layer, expand_nested, (*frames, layer.name))
        else:
            graph.boxes.append(Box(str(id(layer)), layer, frames))


def _add_edges(graph: PlotGraph, model, expand_nested: bool) -> None:
    layers = _layers_of(model)
    if is_sequential(model):
        for src, dst in zip(layers, layers[1:]):
            graph.add_edge(_last(src, expand_nested), _first(dst, expand_nested, 0))
    elif is_graph_model(model):
        in_model = {id(n) for n in model._nodes}
        for layer in layers:
            for node in getattr(layer, "_inbound_nodes", None) or []:
                if id(node) not in in_model or node.is_input:
                    continue
                for j, tensor in enumerate(node.input_tensors):
                    src, _, t = tensor._keras_history
                    if src is None:
                        continue
                    graph.add_edge(_producer(src, t, expand_nested), _first(layer, expand_nested, j))
    if expand_nested:
        for layer in layers:
            if layer is not model and _expandable(layer, True):
                _add_edges(graph, layer, True)


def _producer(src, tensor_index: int, expand_nested: bool):
    """The layer inside nested models that makes output ``tensor_index`` of ``src``."""
    while _expandable(src, expand_nested):
        if is_sequential(src):
            src, tensor_index = src.layers[-1], 0
        else:
            src, _, tensor_index = src.outputs[tensor_index]._keras_history
    return src


def _first(dst, expand_nested: bool, input_index: int):
    """The layer inside nested models that reads input ``input_index`` of ``dst``."""
    while _expandable(dst, expand_nested):
        if is_sequential(dst):
            dst = dst.layers[0]
        else:
            dst = dst.inputs[input_index]._keras_history[0]
            input_index = 0
    return dst


def _last(layer, expand_nested: bool):
    return _producer(layer, 0, expand_nested)
