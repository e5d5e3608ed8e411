"""``Sequential``: a stack of layers with the Keras life cycle (define, compile, fit, evaluate,
predict).

The object is thin: it holds the layer specs, the compile settings, and the latest
``TrainState`` (all arrays, one pytree).  One layer object may come at several positions,
sharing its weights (``sequential_stack``): ``_stack`` holds the positions (``model.layers``),
``_layers`` the distinct layers, which own the weights (aligned with ``_weight_order``).  The
work happens in pure functions compiled once per ``compile()`` (``lamina.training.step``) and
driven by ``lamina.training.loop``.  Its config (``sequential_config``), its flat weight list
(``weight_lists``), its input-shape check (``sequential_checks``) and ``add``/``pop``
(``sequential_define``) live in their own modules; the methods delegate to them.
"""

from __future__ import annotations

import numpy as np

from lamina import losses as _losses
from lamina._naming import unique_name as _unique_name
from lamina.layers.base import Layer
from lamina.layers.borrowed_weights import unique_weights
from lamina.layers.core import InputLayer
from lamina.models import host_prefix as _host_prefix
from lamina.models import sequential_checks as _checks
from lamina.models import sequential_config as _config
from lamina.models import sequential_define as _define
from lamina.models import sequential_stack as _positions
from lamina.models import weight_lists as _weight_lists
from lamina.models import weight_sync as _sync
from lamina.models.batch_methods import BatchMethodsMixin
from lamina.models.class_predictions import ClassPredictionsMixin
from lamina.models.compiling import CompileMixin
from lamina.models.initialization import initial_weights
from lamina.models.io import SavingMixin
from lamina.models.legacy_api import LegacyAPIMixin
from lamina.models.model_metrics import ModelMetricsMixin
from lamina.models.nesting import NestedModelMixin
from lamina.models.shared_copies import copies, tie_network
from lamina.models.state_chain import StateChain
from lamina.models.stateless import StatelessMixin
from lamina.models.trainer import TrainerMixin
from lamina.scopes import layer_scope, note_built_stack
from lamina.training.network import stack_network
from lamina.training.state import TrainState


class Sequential(
    LegacyAPIMixin,  # first: fit/evaluate/predict check stateful layers, then defer
    ModelMetricsMixin,
    BatchMethodsMixin,
    TrainerMixin,
    StatelessMixin,
    CompileMixin,
    SavingMixin,
    ClassPredictionsMixin,
    NestedModelMixin,  # a Sequential is a layer too: nested in models, called on tensors
    Layer,
):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add in order.
        name: the model's name.

    >>> import numpy as np
    >>> from lamina.models import Sequential
    >>> from lamina.layers import Dense, Activation
    >>> model = Sequential()
    >>> model.add(Dense(5, input_dim=2))
    >>> model.add(Activation('relu'))
    >>> model.add(Dense(1))
    >>> model.add(Activation('sigmoid'))
    >>> model.compile(optimizer='sgd', loss='mse', metrics=['accuracy'])
    >>> X = np.random.rand(20, 2); y = (X.sum(1) > 1).astype(int)
    >>> history = model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    >>> loss, accuracy = model.evaluate(X, y, verbose=0)
    >>> model.predict(X, verbose=0).shape
    (20, 1)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        # Unique like Keras's ("sequential", "sequential_1"): nested models need distinct names.
        self.name = name or _unique_name("sequential")
        self.__dict__["_trainable"] = bool(trainable)  # not passed on: Keras sets it alone here
        self._layers: list[Layer] = []  # distinct, in order of first use: the weights' owners
        self._stack: list[Layer] = []  # the positions (``layers``): a repeat at each
        self._input_shape = None  # batch dim included
        self._train_state: TrainState | None = None
        self._built_key = None
        self._compiled = None  # dict of compile settings
        self._program = None
        self._program_key = None
        self._compile_seconds = None
        self._trace_counter: dict[str, int] = {}
        self._rng = None
        self._step_rng = None
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._keras_rebuild()

    def __init_subclass__(cls, **kwargs):
        # A subclass overriding train_step/compute_loss/... runs its own steps, as in Keras.
        super().__init_subclass__(**kwargs)
        from lamina.models.custom_binding import adopt_custom_steps

        adopt_custom_steps(cls)

    # ------------------------------------------------------------------ define
    add = _define.add
    pop = _define.pop
    _keras_rebuild = _define.keras_rebuild
    _stack_cache_key = _define.stack_cache_key
    _stack_cache = _define.stack_cache

    @property
    def layers(self) -> list[Layer]:
        """The layers in order, a layer used at several positions listed at each (Keras)."""
        return list(self._stack)

    def get_layer(self, name=None, index=None) -> Layer:
        if index is not None:
            return self._stack[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Layers: {[la.name for la in self._layers]}.")

    def _invalidate(self):
        """Weights and compiled programs no longer match the layers: rebuild on next use."""
        if self._train_state is not None:
            self._saved_weights = None
        self._train_state = None
        self._program = None

    def _engine_network(self):
        """The model as the engine sees it (see :mod:`lamina.training.network`); on a string
        ``Input``, the layers after the host prefix (:mod:`lamina.models.host_prefix`)."""
        prefix = self._host_prefix()
        chain = StateChain(copies(self))  # a layer at several places: updates in call order
        if prefix is not None:
            return tie_network(self, prefix.wrap(stack_network(self._stack, chain=chain)))
        dtype = getattr(self.__dict__.get("_input_layer"), "_input_dtype", None) or "float32"
        return tie_network(self, stack_network(self._stack, self._input_shape, dtype, chain))

    def _host_prefix(self):
        """The string layers run on the host before the compiled network, or ``None``."""
        return _host_prefix.of(self)

    def _layer_input_shapes(self, input_shape):
        """Each distinct layer's input shape at its first use (aligned with ``_layers``) for a
        model input of ``input_shape`` (nested use, building, saving)."""
        shapes = self._stack_input_shapes(input_shape)
        return _positions.first_use_shapes(self._stack, self._layers, shapes)

    def _stack_input_shapes(self, input_shape):
        """Each position's input shape (aligned with ``layers``)."""
        shape = tuple(self._input_shape or input_shape)
        return [shape, *self._output_shape_of(shape)[:-1]]

    def _output_shape_of(self, input_shape):
        """Each position's output shape for a model input of ``input_shape``; a repeated
        layer must take inputs its weights (built at its first use) fit."""
        return _positions.output_shapes(self._stack, input_shape)

    # -------------------------------------------------------- symbolic graph
    def _symbolic(self):
        """``(input, output)``: the stack called on its ``Input`` (as Keras 3 builds it), so
        ``model.input`` and ``model.layers[i].output`` make Keras 2 feature extractors:
        ``Model(model.input, model.layers[-2].output)`` shares the layers and their weights."""
        layers = self._stack
        key = (len(layers), id(layers[-1]) if layers else None, self._input_shape)
        cached = self.__dict__.get("_symbolic_cache")
        if cached is not None and cached.key == key:
            return cached.value
        if self._input_shape is None:
            raise AttributeError(
                f"Sequential model {self.name!r} has no input yet: add Input(shape) first."
            )
        if self.__dict__.get("_symbolic_running"):  # a layer's output shape asked for it
            raise AttributeError(f"Sequential model {self.name!r} is calling its layers.")
        from lamina.layers import symbolic

        input_layer = self.__dict__.get("_input_layer")
        if input_layer is not None:
            inp = symbolic.input_tensor(input_layer)
        else:
            inp = symbolic.Input(batch_shape=self._input_shape)
        x = inp
        self.__dict__["_symbolic_running"] = True
        try:
            for layer in layers:
                x = layer(x)
        finally:
            self.__dict__.pop("_symbolic_running", None)
        self.__dict__["_symbolic_cache"] = _Derived(key, (inp, x))
        return inp, x

    @property
    def input(self):
        return self._symbolic()[0]

    @property
    def inputs(self) -> list:
        return [self._symbolic()[0]]

    @property
    def output(self):
        return self._symbolic()[1]

    @property
    def outputs(self) -> list:
        return [self._symbolic()[1]]

    @property
    def built(self) -> bool:
        """Whether the model holds weights; with an input shape known (``Input`` first, or
        ``input_shape=`` on the first layer) it is built on first look, as Keras builds it
        when the layers are added."""
        owner = self._owner_model()
        if self._layers and (owner is None or owner is self) and _sync.lazy_built(self):
            return True
        # Nested in a built model that gave it its input shape: Keras built it with that model,
        # and its weights are the holder's (``weights`` reads them from there).
        return (
            self._input_shape is not None
            and owner is not None
            and owner is not self
            and bool(owner.built)
        )

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        if self._input_shape is None:
            raise ValueError("The model has no input shape yet: build it or call fit first.")
        shapes = self._output_shape_of(self._input_shape)
        return shapes[-1] if shapes else tuple(self._input_shape)

    def build(self, input_shape=None) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch dimension included)."""
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError(
                "build() needs an input shape: pass build((None, n_features)), or give the first "
                "layer input_shape=/input_dim=, or call fit() and the model builds from the data."
            )
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        self._output_shape_of(input_shape)
        # A fixed batch size (``Input(batch_shape=(4, ...))``, ``build((4, ...))``) stays in
        # the model's shapes, as in Keras: ``output_shape`` and ``summary()`` show it.
        self._input_shape = input_shape
        if self.__dict__.get("_input_layer") is None:  # Keras's build makes both (and names)
            self.__dict__["_input_layer"] = InputLayer(batch_shape=self._input_shape)
            self._keras_rebuild()
        note_built_stack(self)
        with layer_scope(self):
            init = initial_weights(self._stack, self._input_shape)  # one per distinct layer
        self._rng, self._step_rng = init.shuffle_rng, init.step_rng
        self._weight_order = init.order  # Keras's order; pytrees sort dict keys
        # Layers already holding weights (shared with another model) keep them, as in Keras.
        _sync.adopt(self, TrainState(init.params, init.state, None, None))
        if self._compiled is not None:
            self._reset_optimizer()

    def _ensure_built(self, data_shape):
        if self._train_state is not None:
            return
        if isinstance(data_shape, dict | list):  # several inputs: check_x says why not
            data_shape = next(
                iter(data_shape.values() if isinstance(data_shape, dict) else data_shape)
            )
        if self._input_shape is None:
            self.build((None, *data_shape[1:]))
        else:
            self.build(self._input_shape)

    # ----------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """All weights as NumPy arrays, in Keras's order (layer by layer, trainable first)."""
        return _weight_lists.get_weights(self)

    def set_weights(self, weights) -> None:
        """Sets all weights from a list in :meth:`get_weights`'s order (e.g. from Keras)."""
        _weight_lists.set_weights(self, weights)

    @property
    def weights(self) -> list:
        """The model's weights as Keras variables (``.path``, ``.shape``, ``.numpy()``), layer by
        layer in :meth:`get_weights`'s order; empty while no input shape is known."""
        if not self.built and self._input_shape is not None and self._layers:
            self.build(self._input_shape)  # as Keras, which builds once an Input is given
        if not self.built:
            return []
        # A weight a layer reads from another (tied) is listed once, as Keras lists it.
        return unique_weights([w for layer in self._layers for w in layer.weights])


    def count_params(self) -> int:
        return _weight_lists.count_params(self)

    def _require_built(self, what):
        if self._train_state is None:
            if self._input_shape is not None and self._layers:
                self.build(self._input_shape)
                return
            raise ValueError(
                f"{what}() needs a built model, but this model has no input shape yet. Give the "
                f"first layer input_shape=/input_dim=, add Input(shape) first, call "
                f"build((None, n_features)), or fit it on data."
            )

    # ------------------------------------------------------------ input checks
    def _check_input_shape(self, shape):
        try:
            _checks.check_input_shape(self._input_shape, shape)
        except ValueError:
            if len(shape) != len(self._input_shape) or not _checks.runs_at(self, shape):
                raise

    def _check_targets(self, y):
        out = self.output_shape
        _losses.check_targets(self._compiled["loss"], y.shape, y.dtype.kind, out, y_sample=y)
        self._y_shape = (None, *y.shape[1:])

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return _config.get_config(self)

    def __setstate__(self, state):
        SavingMixin.__setstate__(self, state)
        if "_stack" not in self.__dict__:  # pickled before its positions were kept apart
            self.__dict__["_stack"] = list(self._layers)

    __copy__ = _sync.isolated_copy
    _trainable_mask = NestedModelMixin._trainable_mask
    __getstate__ = _sync.synced_getstate

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return _config.from_config(cls, config, custom_objects)


class _Derived:
    """A value rebuilt on demand, never pickled or copied with its model."""

    __slots__ = ("key", "value")

    def __init__(self, key, value):
        self.key, self.value = key, value

    def __reduce__(self):
        return (_none, ())

    def __deepcopy__(self, memo):
        return None


def _none():
    return None
