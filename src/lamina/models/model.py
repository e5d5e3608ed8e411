"""``lamina.Model``: functional models (``Model(inputs, outputs)``) and subclassed models
(``class MyModel(lamina.Model)`` with ``call``), on the same engine as ``Sequential``.

Both become a :class:`lamina.training.network.Network`: the layers owning weights (one
``params``/``state`` dict each in the ``TrainState``) and a pure forward pass.  A functional
model runs its graph's nodes; a subclassed model runs its ``call`` with each layer bound to its
arrays (Keras-JAX's stateless scope), so ``fit`` compiles whole epochs either way.

>>> import numpy as np
>>> import lamina
>>> from lamina import layers
>>> inputs = lamina.Input((4,))
>>> hidden = layers.Dense(8, activation="relu")(inputs)
>>> model = lamina.Model(inputs, layers.Dense(1)(hidden))
>>> [type(layer).__name__ for layer in model.layers]
['InputLayer', 'Dense', 'Dense']
>>> model(np.ones((2, 4), "float32")).shape
(2, 1)
"""

from __future__ import annotations

import abc

import jax

from lamina._naming import unique_name
from lamina.layers import config as _layer_config
from lamina.layers import tracing as _tracing
from lamina.layers.base import Layer
from lamina.layers.borrowed_weights import unique_weights
from lamina.layers.symbolic import KerasTensor, TensorOp
from lamina.models import held_models as _held
from lamina.models import model_outputs as _outputs
from lamina.models import own_variables as _own
from lamina.models import subclass_build as _subclass_build
from lamina.models import subclass_network as _subclass
from lamina.models import weight_sync as _sync
from lamina.models.batch_methods import BatchMethodsMixin
from lamina.models.class_predictions import ClassPredictionsMixin
from lamina.models.compiling import CompileMixin
from lamina.models.custom_training import CustomTrainingMixin
from lamina.models.io import SavingMixin
from lamina.models.legacy_api import LegacyAPIMixin
from lamina.models.nesting import NestedModelMixin
from lamina.models.sequential import Sequential
from lamina.models.trainer import TrainerMixin
from lamina.training.network import Network
from lamina.training.state import TrainState


def _is_kt(v):
    return isinstance(v, KerasTensor)


class _ModelType(abc.ABCMeta):
    """``Model``'s metaclass: a ``Sequential`` is a ``Model`` to ``isinstance`` and
    ``issubclass``, as Keras's ``Sequential`` subclasses ``Model`` (user code tells nested
    models from layers with ``isinstance(layer, keras.Model)``).  Derived from ``ABCMeta`` so
    a subclass may also derive from ``abc.ABC``; the checks themselves are the plain ones."""

    def __instancecheck__(cls, obj):
        if cls is Model and isinstance(obj, Sequential):
            return True
        return type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub):
        if cls is Model and isinstance(sub, type) and issubclass(sub, Sequential):
            return True
        return type.__subclasscheck__(cls, sub)


def is_graph_or_subclassed(model) -> bool:
    """A ``Model`` proper (functional or subclassed), not a ``Sequential``."""
    return Model in type(model).__mro__


class Model(
    CustomTrainingMixin,  # first: Keras's train_step/compute_loss hooks pick the engine
    BatchMethodsMixin,
    LegacyAPIMixin,  # Keras 2's fit_generator & co., reset_states, stateful RNN rules
    TrainerMixin,
    CompileMixin,
    SavingMixin,
    ClassPredictionsMixin,
    NestedModelMixin,
    Layer,
    metaclass=_ModelType,
):
    """A model: ``Model(inputs, outputs)`` (functional) or a subclass defining ``call``.

    Args:
        inputs: for a functional model, the ``Input(...)`` tensor(s): one, a list or a dict.
        outputs: the tensor(s) computed from them: one, a list or a dict.
        name: the model's name.
        trainable: whether ``fit`` trains its weights.

    A subclass defines its layers in ``__init__`` (after ``super().__init__()``) and the forward
    pass in ``call(inputs, training=None)``; it is built from the first data it sees.
    """

    _untracked_attributes = ("_layers", "_nodes", "_inputs_struct", "_outputs_struct")
    _untracked_attributes += (_own.ATTRIBUTE,)  # the holder of the model's own variables

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _own.wrap_user_build(cls)  # a user ``build`` runs inside the engine's build

    def __new__(cls, *args, **kwargs):
        from lamina.layers import stateful as _stateful

        graph_kwargs = {"inputs", "outputs", "input", "output"}  # Keras 1: input=/output=
        if cls is Model and (args or graph_kwargs & set(kwargs)):
            obj = object.__new__(Functional)
        else:
            obj = object.__new__(cls)
            if getattr(cls.get_config, "_is_default", False):
                # A subclass without ``get_config`` gets Keras 3's automatic config of its
                # constructor's arguments, as a subclassed layer does (``Layer.__new__``).
                config, error_args = _layer_config.auto_config(cls, args, kwargs)
                obj.__dict__["_auto_config"] = config
                obj.__dict__["_auto_config_error_args"] = error_args
        # Registered as every Sequential is, so ``optimizer.iterations``/``variables`` and
        # ``layer.reset_states()`` find the model that trains with, or holds, them.
        _stateful.MODELS[id(obj)] = obj
        return obj

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if _functional_args(args, kwargs) and not isinstance(self, Functional):
            # ``class CustomModel(keras.Model)`` built as ``CustomModel(inputs, outputs)``:
            # Keras makes the subclass a functional model (``inject_functional_model_class``).
            _inject_functional(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        for k in ("dtype", "autocast"):
            kwargs.pop(k, None)
        if args or kwargs:
            raise TypeError(
                f"Model() got unexpected arguments {list(args) + sorted(kwargs)}: a subclassed "
                "model passes only name=/trainable= to super().__init__(); a functional model "
                "is Model(inputs, outputs)."
            )
        self._init_engine_state(name or unique_name(_snake(type(self).__name__)), trainable)

    def _init_engine_state(self, name, trainable):
        # The attributes the engine and the saving code read (shared with Sequential).
        self.name = name
        self.__dict__["_trainable"] = bool(trainable)  # not passed on: Keras sets it alone here
        self._layers = []
        self._input_shape = None
        self._train_state: TrainState | None = None
        self._compiled = None
        self._program = None
        self._program_key = None
        self._compile_seconds = None
        self._trace_counter: dict[str, int] = {}
        self._rng = None
        self._step_rng = None
        self._weight_order = ()
        self.stop_training = False
        self.history = None

    # --------------------------------------------------------------- layers
    @property
    def layers(self) -> list:
        if type(self)._engine_network is Model._engine_network:  # subclassed: the tracked layers
            return [layer for _, layer in _tracing.tracked_layers(self)]
        # Keras lists layers only, not the ops applied to symbolic tensors (``x + y``).
        return [layer for layer in self._layers if not isinstance(layer, TensorOp)]

    def get_layer(self, name=None, index=None):
        """The layer named ``name`` (or at ``index`` in ``model.layers``)."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"get_layer(index={index}) is out of range: the model has {len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name!r}. Existing layers are: {[la.name for la in layers]}."
        )

    @property
    def built(self) -> bool:
        """Whether the model holds weights. A model whose input shape is known (a functional
        model, or one called once) is built on first look, as Keras builds it at construction."""
        return _sync.lazy_built(self)

    @built.setter
    def built(self, value):  # Keras code sets ``self.built = True``; built means weights here
        pass

    @property
    def input_shape(self):
        return self._input_shape

    # ---------------------------------------------------------- subclassing
    def call(self, inputs, training=None, mask=None):
        raise NotImplementedError(
            f"{type(self).__name__} must implement call(inputs, training=None), or be built "
            "as Model(inputs, outputs)."
        )

    def _host_prefix(self):
        """The string layers run on the host before the compiled network, or ``None``
        (:mod:`lamina.models.host_prefix`; functional models with a string ``Input``)."""
        from lamina.models import host_prefix

        return host_prefix.of(self)

    def _check_engine_hooks(self):
        """Overridden Keras hooks (``train_step``, ``compute_loss``, ...) are run by
        :mod:`lamina.models.custom_training` (see ``_binding``); nothing to refuse here."""

    def _engine_network(self) -> Network:
        self._check_engine_hooks()
        return _subclass.subclass_network(self)

    def _outputs_known(self) -> bool:
        return self._train_state is not None

    def _after_fit(self) -> None:
        if type(self)._engine_network is Model._engine_network:
            _subclass.warn_training_arg(self)

    build = _subclass_build.build
    _build_from_call = _subclass_build.build_from_call
    _set_weights_state = _subclass_build.set_weights_state

    def _layer_input_shapes(self, input_shape):
        raise NotImplementedError  # subclassed models build by tracing call

    def init(self, key, input_shape):
        if self._train_state is None and type(self)._engine_network is Model._engine_network:
            # Built for good even when first met inside a trace (a Sequential holding the model
            # finds its output shape abstractly): the weights it keeps must be arrays.
            with jax.ensure_compile_time_eval():
                self._build_from_call(_norm_shape(input_shape))
        return NestedModelMixin.init(self, key, input_shape)

    def _ensure_built(self, data_shape):
        if self._train_state is None:
            self.build(self._input_shape or _norm_shape(data_shape))

    def _require_built(self, what):
        if self._train_state is None:
            if self._input_shape is not None:
                self.build(self._input_shape)
                return
            raise ValueError(
                f"{what}() needs a built model: call the model on data, fit it, or "
                f"build((None, n_features)) first."
            )

    output_shape = property(_outputs.output_shape)
    _output_shape_of = _outputs.output_shape_of

    # -------------------------------------------------------------- weights
    @property
    def weights(self) -> list:
        """The model's weights as Keras variables, layer by layer."""
        if (subs := _held.held_models(self)) is not None:  # a GAN: its sub-models' weights
            return _held.gather(subs, "weights")
        if self._train_state is None and self._input_shape is None:
            return []  # a subclassed model not called yet: Keras lists nothing either
        self._require_built("weights")
        return unique_weights([w for layer in self._layers for w in layer.weights])

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        if (subs := _held.held_models(self)) is not None:
            return _held.gather(subs, "trainable_weights")
        return unique_weights([w for layer in self._layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        if (subs := _held.held_models(self)) is not None:
            return _held.gather(subs, "non_trainable_weights")
        return unique_weights([w for layer in self._layers for w in layer.non_trainable_weights])

    @property
    def non_trainable_variables(self) -> list:
        """The non-trainable weights, then the seed-generator states (Keras's order)."""
        if (subs := _held.held_models(self)) is not None:
            return _held.gather(subs, "non_trainable_variables")
        return Sequential.non_trainable_variables.fget(self)

    @property
    def variables(self) -> list:
        """The weights, then the seed-generator states (Keras's ``variables``)."""
        if (subs := _held.held_models(self)) is not None:
            return _held.gather(subs, "variables")
        return Sequential.variables.fget(self)

    trainable_variables = trainable_weights

    get_weights = Sequential.get_weights
    set_weights = Sequential.set_weights
    count_params = Sequential.count_params
    _y_shape = None
    _y_shapes_multi = None

    _output_shapes = _outputs.output_shapes
    _y_shapes = _outputs.y_shapes
    _check_targets = _outputs.check_targets
    _check_inputs = _outputs.check_inputs
    _predict_width = _outputs.predict_width
    _check_input_shape = _outputs.check_input_shape

    def _invalidate(self):
        self._train_state = None
        self._program = None

    def get_config(self) -> dict:
        """A subclassed model's config, as Keras 3's ``Model.get_config``.

        Without a ``get_config`` of its own, a subclass's config is its constructor's
        arguments as called (defaults included) with ``name``, ``trainable`` and ``dtype``,
        when they are all plain values (str, int, float, bool, None and lists, tuples and
        dicts of them), so ``from_config`` and ``load_model(path, custom_objects=...)``
        rebuild the same model.  An overriding ``get_config`` starts from
        ``super().get_config()``: ``name``, ``trainable`` and ``dtype``.

        Raises:
            NotImplementedError: a subclass without ``get_config`` was constructed with other
                values (a layer, an array): Keras's message, saying to implement it.

        Example (a user's module)::

            class Block(keras.Model):
                def __init__(self, units=3, **kwargs):
                    super().__init__(**kwargs)
                    self.dense = keras.layers.Dense(units)

                def call(self, x):
                    return self.dense(x)

            Block(units=5, name="block").get_config()
            # {'name': 'block', 'units': 5, 'trainable': True, 'dtype': 'float32'}
        """
        return Layer.get_config(self)

    get_config._is_default = True  # type: ignore[attr-defined]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" in config and "input_layers" in config:
            from lamina.models.functional_config import (
                functional_from_config,
                revivable_as_functional,
            )

            # A user subclass built on a graph comes back as itself, as in Keras.
            keep = cls if revivable_as_functional(cls) else None
            return functional_from_config(config, custom_objects, cls=keep)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    __copy__ = _sync.isolated_copy
    _trainable_mask = NestedModelMixin._trainable_mask
    __getstate__ = _sync.synced_getstate


def _functional_args(args, kwargs) -> bool:
    if {"inputs", "input"} & set(kwargs) and {"outputs", "output"} & set(kwargs):
        return True
    first = args[0] if args else None
    return first is not None and any(
        _is_kt(t) for t in jax.tree_util.tree_leaves(first, is_leaf=_is_kt)
    )


def _inject_functional(cls):
    """Replaces ``Model`` by ``Functional`` among ``cls``'s bases (Keras's
    ``inject_functional_model_class``)."""
    if cls is Model:
        return Functional
    if cls is object or Model not in cls.__mro__ or Functional in cls.__mro__:
        return cls
    cls.__bases__ = tuple(_inject_functional(base) for base in cls.__bases__)
    return cls


_is_shape = _subclass.is_shape
_norm_shape = _subclass.norm_shape
_batchless = _subclass.batchless


def _snake(name):
    from lamina._naming import snake_case

    return snake_case(name)


from lamina.models.functional import Functional  # noqa: E402  (it subclasses Model)

__all__ = ["Functional", "Model"]
