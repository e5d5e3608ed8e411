"""The model/saving contract: what code outside ``lamina.models`` (the savers in
``lamina.saving``, the guardrails) may read and write on a model.

The engine reaches a model only through :class:`lamina.training.network.Binding`; the savers
and other host-side tools reach it only through a :class:`SaveView`, which every model kind
(``Sequential``, functional and subclassed ``Model``) returns from ``model.saving_view()``.
Nothing outside ``lamina.models`` reads a model's private attributes.

The contract (stable)
---------------------

* ``layers``: the layers owning weights, aligned with ``weight_order`` and with the
  ``params``/``state`` tuples of the ``TrainState`` (a functional model's ``InputLayer`` s
  included, with no weights); ``listed_layers``: ``model.layers`` as Keras lists them;
  ``applied_layers``: :attr:`layers` in the order Keras's saving names them (a layer a
  ``Sequential`` repeats at each of its positions).
* ``weight_order``: per layer, ``(trainable names, non-trainable names)`` in Keras's order
  (``get_weights`` order); the arrays are ``train_state.params[i][name]`` and
  ``train_state.state[i][name]``.
* ``copies``: ``{(index, name): (home index, home name)}``, the arrays that repeat a layer's
  weights held at an earlier place (a layer two nested models share,
  :mod:`lamina.models.shared_copies`): Keras saves such a layer once, at its first place;
  ``set_weights_state`` fills the copies from their homes.
* ``train_state``: the model's :class:`~lamina.training.state.TrainState` (``None`` before it
  is built); ``require_built(what)`` builds it from the known input shape or raises Keras's
  ``ValueError``.
* ``compile_settings``: ``None`` before ``compile``, else a read-only mapping with
  ``optimizer``, ``loss``, ``metrics``, ``weighted_metrics``, ``loss_weights``,
  ``run_eagerly`` and ``steps_per_execution``; ``optimizer`` is its optimizer.
* ``optimizer_state()``: the optax state of the trained weights (created fresh when the model
  has none yet); ``trainable_mask()``: which layers train.
* Writers: ``set_weights_state(params, state)`` (loaded weights),
  ``set_optimizer_state(opt_state)``, ``reset_optimizer()``, ``set_input_shape(shape)`` (an
  unbuilt model's input shape, before ``build``).
* Shapes: ``input_shape``, ``layer_input_shapes()``, ``layer_output_shapes()``.
* ``graph``: a functional model's ``(flat inputs, outputs structure, nodes)``, else ``None``.
* ``notes``: a dict that travels with the model (pickles and copies too) where host-side
  tools keep what they remember about it (the guardrails' training-data fingerprints).

>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2, name="d")])
>>> view = model.saving_view()
>>> [layer.name for layer in view.layers], view.weight_order
(['d'], ((('kernel', 'bias'), ()),))
>>> view.compile_settings is None
True
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NamedTuple


class GraphView(NamedTuple):
    """A functional model's graph: its ``Input`` tensors (flat, in order), the outputs'
    structure of symbolic tensors, and the nodes in execution order."""

    flat_inputs: tuple
    outputs: Any
    nodes: tuple


class SaveView:
    """What saving code may read and write on one model (see the module docstring).

    Args:
        model: a ``Sequential`` or ``Model`` (any object with the models' engine attributes).
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    # ------------------------------------------------------------------ reads
    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def layers(self) -> tuple:
        """The layers owning the ``TrainState``'s per-layer dicts, in weight order."""
        return tuple(self.model._layers)

    @property
    def listed_layers(self) -> list:
        """``model.layers``: what Keras lists (a subclassed model's tracked layers)."""
        return list(self.model.layers)

    @property
    def applied_layers(self) -> tuple:
        """:attr:`layers` as Keras's saving walks them: a ``Sequential``'s positions (a layer
        used at several positions at each of them), else :attr:`layers` itself."""
        stack = self.model.__dict__.get("_stack")
        return self.layers if stack is None else tuple(stack)

    def graph_layers(self) -> list:
        """:attr:`layers` without a graph's ops on symbolic tensors (``x + y``): Keras's
        ``model.layers`` of a functional model or ``Sequential``."""
        from lamina.layers.symbolic import TensorOp

        return [layer for layer in self.layers if not isinstance(layer, TensorOp)]

    @property
    def weight_order(self) -> tuple:
        """Per layer of :attr:`layers`, ``(trainable names, non-trainable names)``."""
        self.require_built("weights")
        return tuple(self.model._weight_order)

    @property
    def copies(self) -> dict:
        """``{(index, name): (home index, home name)}``: the arrays that repeat the weights
        of a layer used at an earlier place too (saved once, at that place)."""
        from lamina.models.shared_copies import copies

        return copies(self.model)

    @property
    def train_state(self):
        """The model's ``TrainState`` (``None`` until it is built)."""
        return self.model._train_state

    @property
    def built(self) -> bool:
        """Whether the model holds weights."""
        return self.model._train_state is not None

    @property
    def input_shape(self):
        """The model's input shape (batch dimension first), a list of them, or ``None``."""
        return self.model._input_shape

    @property
    def compile_settings(self):
        """``None`` before ``compile``; else the settings, read-only."""
        c = getattr(self.model, "_compiled", None)
        return None if c is None else MappingProxyType(c)

    @property
    def optimizer(self):
        """The compiled optimizer, or ``None``."""
        c = self.compile_settings
        return None if c is None else c["optimizer"]

    @property
    def graph(self) -> GraphView | None:
        """The graph of a functional model; ``None`` for other model kinds."""
        nodes = getattr(self.model, "_nodes", None)
        if nodes is None:
            return None
        m = self.model
        return GraphView(tuple(m._flat_inputs), m._outputs_struct, tuple(nodes))

    @property
    def notes(self) -> dict:
        """Host-side tools' memory about this model (kept through pickling and copies)."""
        return self.model.__dict__.setdefault("_tool_notes", {})

    def require_built(self, what: str) -> None:
        """Builds the model from its known input shape, or raises Keras's ``ValueError``
        naming ``what`` needed the weights."""
        self.model._require_built(what)

    def trainable_mask(self) -> tuple:
        """Per layer of :attr:`layers`, whether ``fit`` trains it."""
        return tuple(self.model._trainable_mask())

    def optimizer_state(self):
        """The optimizer's state for the trained weights; ``None`` when not compiled.

        A model built after ``compile`` (or loaded) gets a fresh state first.
        """
        if self.optimizer is None or self.model._train_state is None:
            return None
        if self.model._train_state.opt_state is None:
            self.model._reset_optimizer()
        return self.model._train_state.opt_state

    def layer_input_shapes(self) -> list:
        """Each layer's input shape (functional and ``Sequential`` models)."""
        return list(self.model._layer_input_shapes(self.model._input_shape))

    def layer_output_shapes(self, input_shape=None) -> list:
        """Each layer's output shape for ``input_shape`` (default: the model's)."""
        shape = self.model._input_shape if input_shape is None else input_shape
        return list(self.model._output_shape_of(shape))

    # ----------------------------------------------------------------- writes
    def set_weights_state(self, params: tuple, state: tuple) -> None:
        """Replaces the weights: ``params``/``state`` tuples with one dict per layer, of the
        structure the model holds (shapes and dtypes are the caller's to check)."""
        from lamina.models.shared_copies import tied

        params, state = tied(params, state, self.copies, fresh=True)  # a shared layer's other places
        ts = self.model._train_state
        self.model._train_state = ts._replace(params=tuple(params), state=tuple(state))

    def set_optimizer_state(self, opt_state) -> None:
        """Replaces the optimizer's state (the structure ``optimizer_state()`` returned)."""
        self.model._train_state = self.model._train_state._replace(opt_state=opt_state)

    def reset_optimizer(self) -> None:
        """A fresh optimizer state for the current weights (as a re-``compile`` gives)."""
        if self.optimizer is None:
            raise ValueError(
                f"reset_optimizer: model {self.name!r} is not compiled; call compile() first."
            )
        self.require_built("reset_optimizer")
        self.model._reset_optimizer()

    def set_input_shape(self, shape) -> None:
        """Gives an unbuilt model its input shape (batch dimension first, then ignored)."""
        if self.model._train_state is not None:
            raise ValueError(
                f"set_input_shape: model {self.name!r} is built already (input shape "
                f"{self.input_shape}); build a fresh model for another input shape."
            )
        self.model._input_shape = (None, *tuple(shape)[1:])
