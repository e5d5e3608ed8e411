"""Functional models: ``lamina.Model(inputs, outputs)``, a graph of layer calls.

The graph (:mod:`lamina.models.graph`) gives the layers in Keras's order and a pure forward
pass; :class:`Functional` wraps it in the :class:`~lamina.models.model.Model` life cycle.  Its
config is Keras 3's (:mod:`lamina.models.functional_config`).

>>> import numpy as np
>>> import lamina
>>> a, b = lamina.Input((3,), name="a"), lamina.Input((2,), name="b")
>>> joined = lamina.layers.Concatenate()([a, b])
>>> model = lamina.Model([a, b], lamina.layers.Dense(1)(joined))
>>> model([np.ones((4, 3), "float32"), np.ones((4, 2), "float32")]).shape
(4, 1)
"""

from __future__ import annotations

import jax

from lamina._naming import unique_name
from lamina.layers.call_losses import log_term
from lamina.layers.keras_api import set_owner
from lamina.layers.symbolic import KerasTensor
from lamina.models import graph as _graph
from lamina.models.graph_clone import clone_cut_inputs
from lamina.models.model import Model
from lamina.models.nesting import NestedModelMixin
from lamina.models.shared_copies import copies, tie_network
from lamina.models.state_chain import StateChain
from lamina.models.weights_init import init_layers
from lamina.training.network import Network
from lamina.training.whole_batch import mark


def _is_kt(v):
    return isinstance(v, KerasTensor)


class Functional(Model):
    """A model defined by its inputs and outputs (``lamina.Model(inputs, outputs)``)."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        kwargs.pop("dtype", None)
        inputs, outputs = keras1_graph_args(inputs, outputs, kwargs)
        if kwargs:
            raise TypeError(f"Model(inputs, outputs) got unexpected arguments {sorted(kwargs)}.")
        self._init_engine_state(name or unique_name("functional"), trainable)
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        flat_in = jax.tree_util.tree_leaves(inputs, is_leaf=_is_kt)
        for t in flat_in:
            if not _is_kt(t):
                raise TypeError(
                    f"Model inputs must be Input(...) tensors; received {t!r} "
                    f"(type {type(t).__name__})."
                )
        flat_out = jax.tree_util.tree_leaves(outputs, is_leaf=_is_kt)
        self._nodes, layers = _graph.map_graph(flat_in, flat_out)
        cut = clone_cut_inputs(inputs, outputs, self._nodes)  # inner tensors as inputs (Keras)
        if cut[0] is not inputs:
            inputs, outputs = self._inputs_struct, self._outputs_struct = cut
            flat_in = jax.tree_util.tree_leaves(inputs, is_leaf=_is_kt)
            flat_out = jax.tree_util.tree_leaves(outputs, is_leaf=_is_kt)
            self._nodes, layers = _graph.map_graph(flat_in, flat_out)
        self._flat_inputs = flat_in
        self._layers = layers
        shapes = [t.shape for t in flat_in]
        self._input_shape = shapes[0] if len(shapes) == 1 and _is_kt(inputs) else shapes
        # Layers already holding weights (in another model) keep pointing there until this
        # model is built (it then starts from a copy of them); fresh layers point here.
        for layer in layers:
            if layer._owner_model() is None and layer.__dict__.get("_standalone") is None:
                set_owner(layer, self)

    # --------------------------------------------------------------- graph
    @property
    def inputs(self) -> list:
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list:
        return jax.tree_util.tree_leaves(self._outputs_struct, is_leaf=_is_kt)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def output_shape(self):
        shapes = jax.tree_util.tree_map(lambda t: t.shape, self._outputs_struct, is_leaf=_is_kt)
        one = isinstance(shapes, list | tuple) and len(shapes) == 1
        return shapes[0] if one else shapes  # Keras unpacks a single output's shape

    @property
    def output_names(self):
        if isinstance(self._outputs_struct, dict):
            return sorted(self._outputs_struct)
        return [t._keras_history[0].name for t in self.outputs]

    def _engine_network(self) -> Network:
        nodes, layers = self._nodes, tuple(self._layers)
        flat_inputs, out_struct = self._flat_inputs, self._outputs_struct
        in_struct = self._inputs_struct

        # Keras unpacks a one-element list of outputs (``Model(inputs=[i], outputs=[y])``
        # predicts an array, not a list of one).
        single = isinstance(out_struct, list | tuple) and len(out_struct) == 1

        graph_losses = tuple(self.__dict__.get("_graph_losses", ()))
        graph_metrics = tuple(self.__dict__.get("_graph_metrics", ()))
        model = self
        chain = StateChain(copies(self))  # a layer at several places: updates in call order

        def forward(params, state, x, *, training, key=None, batch_mask=None, input_masks=None):
            xs = _flatten_inputs(in_struct, x)
            capture = {
                id(t): None for gl in graph_losses + graph_metrics for t in gl.boundary
            }
            y, new_state, aux = _graph.graph_forward(
                nodes, layers, flat_inputs, out_struct, params, state, xs,
                training=training, key=key, batch_mask=batch_mask, input_masks=input_masks,
                capture=capture, chain=chain,
            )  # fmt: skip
            for gl in graph_losses:  # Keras 2's model.add_loss(symbolic tensor)
                term = gl(
                    params, state, capture, training=training, key=key, batch_mask=batch_mask
                )
                aux = aux + term
                log_term(model, term)
            if graph_losses:
                mark()  # the terms reduce over the batch: a short batch runs at its real size
            for gm in graph_metrics:  # Keras 2's model.add_metric(symbolic tensor, name=...)
                value = gm.values(
                    params, state, capture, training=training, key=key, batch_mask=batch_mask
                )
                gm.metric.update_state(value[0])
            return (y[0] if single else y), new_state, aux

        spec_key = (
            "functional",
            tuple(la._spec_key() for la in layers),
            wiring(nodes, layers, flat_inputs),  # an input may be an inner tensor (Keras)
        )
        if graph_losses:
            spec_key += (tuple(gl.spec_key() for gl in graph_losses),)
        if graph_metrics:
            spec_key += (tuple((gm.metric.name, gm.spec_key()) for gm in graph_metrics),)
        n_out = len(self.outputs)
        net = Network(
            layers=layers,
            forward=forward,
            spec_key=spec_key,
            output_names=None if n_out == 1 else tuple(self.output_names),
            runs_user_code=bool(graph_losses or graph_metrics),
        )
        prefix = self._host_prefix()  # string inputs: their layers run on the host first
        return tie_network(self, net if prefix is None else prefix.wrap(net))

    def _add_graph_loss(self, loss) -> None:
        """Keras 2's ``model.add_loss(tensor)`` with a symbolic tensor of this model's graph
        (:mod:`lamina.models.graph_losses`)."""
        from lamina.models.graph_losses import GraphLoss

        term = GraphLoss(self, loss)  # raises before anything changes
        self.__dict__.setdefault("_graph_losses", []).append(term)
        self._program = None  # compiled without the term

    def _add_graph_metric(self, value, name) -> None:
        """Keras 2's ``model.add_metric(tensor, name=...)`` with a symbolic tensor of this
        model's graph: the tensor is computed in the forward pass (as an ``add_loss`` term
        is, :mod:`lamina.models.graph_losses`) and its mean logged as ``name``."""
        from lamina.metrics.base import Mean
        from lamina.models.graph_losses import GraphLoss

        term = GraphLoss(self, value)  # raises before anything changes
        if len(term.outputs) != 1:
            raise TypeError(
                f"model.add_metric(name={name!r}) takes one symbolic tensor; received "
                f"{len(term.outputs)}. Add one metric per tensor."
            )
        added = self.__dict__.setdefault("_added_metrics", {})
        term.metric = added.setdefault(name, Mean(name=name))
        self.__dict__.setdefault("_graph_metrics", []).append(term)
        self._program = None  # compiled without the metric

    def _layer_input_shapes(self, input_shape=None):
        shapes = {}
        # A shared layer is built on its first call's inputs, wherever that node runs.
        first = {}
        for node in self._nodes:
            held = first.get(id(node.layer))
            if held is None or _call_index(node) < _call_index(held):
                first[id(node.layer)] = node
        for node in first.values():
            if node.is_input:
                shapes.setdefault(id(node.layer), None)
                continue
            if id(node.layer) not in shapes or shapes[id(node.layer)] is None:
                arg = node.args[0]
                shape = jax.tree_util.tree_map(lambda t: t.shape, arg, is_leaf=_is_kt)
                shapes[id(node.layer)] = (
                    list(shape)
                    if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple)
                    else shape
                )
        return [shapes.get(id(la)) for la in self._layers]

    def build(self, input_shape=None):
        """Draws the initial weights (a functional model knows its shapes already)."""
        params, state, order = init_layers(self._layers, self._layer_input_shapes(), builder=self)
        self._set_weights_state(params, state, order)

    def init(self, key, input_shape):
        return NestedModelMixin.init(self, key, input_shape)

    def _outputs_known(self) -> bool:
        return True

    def _ensure_built(self, data_shape):
        if self._train_state is None:
            self.build()

    def _require_built(self, what):
        if self._train_state is None:
            self.build()

    def _output_shape_of(self, input_shape):
        return [t.shape for t in self.outputs]

    def _predict_width(self) -> int:
        """Values per row of the widest activation of the graph: every node's outputs, and
        what a layer holds inside (an attention layer's scores), which size predict's tiles."""
        import math

        widths = [Model._predict_width(self)]
        for node in self._nodes:
            if node.is_input:
                continue
            outs = node.outputs if isinstance(node.outputs, list | tuple) else [node.outputs]
            widths += [math.prod(d for d in t.shape[1:] if d) for t in outs if _is_kt(t)]
            peak = getattr(node.layer, "peak_activation_values", None)
            if peak is not None:
                widths.append(peak([tuple(t.shape) for t in node.input_tensors]))
        return max(widths)

    def get_config(self) -> dict:
        from lamina.models.functional_config import functional_config

        return functional_config(self)


def _flatten_inputs(in_struct, x):
    if _is_kt(in_struct):
        if isinstance(x, list | tuple) and len(x) == 1:
            x = x[0]
        return [x]
    if isinstance(in_struct, dict):
        if not isinstance(x, dict):
            x = dict(zip(sorted(in_struct), x))
        return [x[k] for k in sorted(in_struct)]
    if isinstance(x, dict):
        return [x[t.name] for t in in_struct]
    if not isinstance(x, list | tuple):  # Model([inp], ...) called with one array
        if len(in_struct) != 1:
            raise ValueError(
                f"The model has {len(in_struct)} inputs; pass a list of {len(in_struct)} arrays "
                f"(or a dict keyed by input name). Received one array of shape {x.shape}."
            )
        return [x]
    return list(x)


def wiring(nodes, layers, inputs=()) -> tuple:
    """The connections of a graph's nodes (layer indices, tensor positions, constant call
    arguments): with the layers' spec keys, what a compiled program of the graph depends on.
    A tensor among ``inputs`` (a graph fed tensors of another one) is named by position."""
    index = {id(la): i for i, la in enumerate(layers)}
    given = {id(t): i for i, t in enumerate(inputs)}

    def source(t):
        if id(t) in given:
            return ("input", given[id(t)])
        return (index[id(t._keras_history[0])], t._keras_history[1], t._keras_history[2])

    return tuple(
        (
            index[id(n.layer)],
            tuple(source(t) for t in n.input_tensors),
            _freeze_kwargs(n.kwargs),
        )
        for n in nodes
    )


def _freeze_kwargs(kwargs):
    return tuple(sorted((k, repr(v)) for k, v in kwargs.items() if not _is_kt(v)))


def keras1_graph_args(inputs, outputs, kwargs: dict):
    """``Model(input=..., output=...)``, Keras 1's names (Keras 2 accepted them with a
    warning); pops them from ``kwargs``.

    Raises:
        TypeError: a graph without inputs or outputs, or both spellings of one.
    """
    import warnings

    for old, new, value in (("input", "inputs", inputs), ("output", "outputs", outputs)):
        if old in kwargs:
            if value is not None:
                raise TypeError(f"Model() got both {new}= and Keras 1's {old}=; pass {new}= only.")
            warnings.warn(
                f"Model({old}=...) is Keras 1's spelling; Keras 2 and 3 name it {new}=.",
                DeprecationWarning,
                stacklevel=4,
            )
            if old == "input":
                inputs = kwargs.pop(old)
            else:
                outputs = kwargs.pop(old)
    if inputs is None or outputs is None:
        raise TypeError(
            "Model(inputs, outputs) needs both the Input tensor(s) and the output tensor(s) of "
            "a graph, e.g. Model(inputs=x, outputs=y)."
        )
    return inputs, outputs


def _call_index(node) -> int:
    """Which call of its layer ``node`` records (0: the first); nodes not listed come last."""
    for i, n in enumerate(getattr(node.layer, "_inbound_nodes", None) or ()):
        if n is node:
            return i
    return 1 << 30
