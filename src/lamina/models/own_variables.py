"""Variables a subclassed model holds itself, not through one of its layers, as Keras has them.

Keras lets a ``keras.Model`` subclass make weights of its own: ``self.pi = self.add_weight(...)``
in ``__init__`` or ``build`` (the neural decision trees of keras.io), or a ``keras.Variable``
set as its attribute.  Keras lists them first in ``model.weights`` (trainable, then the
others, each in creation order), before its layers' weights; ``get_weights``, the optimizer and
the files follow that order (``vars/0, 1, ...`` under the model's group of a ``.keras`` file,
``top_level_model_weights`` in a legacy ``.h5``); ``summary()`` counts them in its totals
without a row of their own.

Lamina keeps them in a :class:`ModelVariables`: a weight-holding layer the model makes for its
first own variable and puts first in its engine layers (``model._layers``), so they live in
the ``TrainState`` like any layer's weights: the optimizer trains the trainable ones,
``assign`` inside ``call`` updates the others, and shared models see the same arrays.  It is
not one of ``model.layers``.  It takes the model's name, so a variable's ``path`` is
``"<model name>/<variable name>"`` as in Keras, and a model nested in another keys them there
as ``"<model name>/<variable name>"``.

>>> import numpy as np
>>> import lamina as keras
>>> class Scaled(keras.Model):
...     def __init__(self):
...         super().__init__()
...         self.dense = keras.layers.Dense(2, kernel_initializer="ones", name="dense")
...         self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
...     def call(self, x):
...         return self.dense(x) * self.scale
>>> model = Scaled()
>>> model(np.ones((1, 3), "float32")).tolist()
[[3.0, 3.0]]
>>> [w.path for w in model.weights][:2], [layer.name for layer in model.layers]
(['scaled/scale', 'scaled/dense/kernel'], ['dense'])
"""

from __future__ import annotations

import contextlib
import functools

import jax

from lamina.layers.base import Layer
from lamina.layers.variables import current_scope

#: The model attribute holding its :class:`ModelVariables` (never searched for layers).
ATTRIBUTE = "_own_variables"
#: Set on a model while the engine runs its ``build`` (its ``add_weight`` draws at once).
_BUILDING = "_lamina_building_own"


class ModelVariables(Layer):
    """The variables of a subclassed model's own, as one weight-holding layer of it.

    Args:
        model: the model whose variables these are; the holder takes its name.
    """

    #: The model is held, not tracked as a sub-layer of this holder.
    _untracked_attributes = ("_model",)

    def __init__(self, model):
        self.__dict__["_model"] = model
        super().__init__(name=model.name, trainable=model.trainable)

    @property
    def name(self) -> str:
        """The model's name: Keras's paths of a model's own variables start with it."""
        return self.__dict__["_model"].name

    @name.setter
    def name(self, value) -> None:  # ``Layer.__init__`` names it; the model's name wins
        pass

    def add_weight(self, *args, **kwargs):
        """``Layer.add_weight``; one made in the model's ``__init__`` takes its value at once
        (``model.pi.numpy()`` before any call), as Keras creates it, and keeps it at build."""
        from lamina.layers.free_variables import AdoptedValue
        from lamina.utils import random as _random

        var = super().add_weight(*args, **kwargs)
        if getattr(self, "_init_store", None) is None:
            value = var.initializer(var._shape, dtype=var.dtype, key=_random.next_key())
            var.initializer = AdoptedValue(value)
        return var

    def init(self, key, input_shape=None) -> tuple[dict, dict]:
        """Draws every variable from its initializer (``input_shape`` is not needed)."""
        params, state = {}, {}
        for i, var in enumerate(getattr(self, "_variables", None) or []):
            value = var.initializer(var._shape, dtype=var.dtype, key=jax.random.fold_in(key, i))
            (params if var._trainable else state)[var._key] = value
        return params, state

    def apply(self, params, state, x, *, training=False, key=None, **kwargs):
        raise TypeError(
            f"The variables of model {self.name!r} are read inside its call() (self.<name>); "
            "they are not a layer to call."
        )

    # ``add_weight``'s options, by key: the engine adds the penalties to the loss and projects
    # the trained values, as Keras does for a model's own variables.
    def _weight_regularizers(self) -> dict:
        return {v._key: v.regularizer for v in getattr(self, "_variables", None) or []}

    def _weight_constraints(self) -> dict:
        return {v._key: v.constraint for v in getattr(self, "_variables", None) or []}

    def _spec_key(self) -> tuple:
        return ("ModelVariables", id(self), bool(self.trainable))


def is_holder(layer) -> bool:
    """Whether ``layer`` is a model's :class:`ModelVariables`."""
    return isinstance(layer, ModelVariables)


def holder_of(model, create: bool = False) -> ModelVariables | None:
    """``model``'s :class:`ModelVariables` (made first when ``create``), or None."""
    holder = model.__dict__.get(ATTRIBUTE)
    if holder is None and create:
        holder = ModelVariables(model)
        model.__dict__[ATTRIBUTE] = holder
        if model.__dict__.get(_BUILDING):  # first made in ``build``: its weights are drawn now
            holder._init_store = ({}, {})
    return holder


def owner_for(layer, what: str):
    """The layer that takes a new variable of ``layer``: ``layer`` itself, or the
    :class:`ModelVariables` of a subclassed model.

    Raises:
        NotImplementedError: ``layer`` is a ``Sequential`` or functional model: Lamina keeps
            variables of their own only on subclassed models.
    """
    if not getattr(layer, "_is_model", False):
        return layer
    from lamina.models.sequential import Sequential

    if isinstance(layer, Sequential) or getattr(layer, "_nodes", None) is not None:
        kind = "Sequential" if isinstance(layer, Sequential) else "functional"
        raise NotImplementedError(
            f"{type(layer).__name__}: {what} of a {kind} model itself is not supported. "
            "Expected a subclassed keras.Model (which may hold variables of its own) or a "
            "layer; fix: make the variable in a keras.layers.Layer subclass and put that "
            "layer in the model."
        )
    if "name" not in layer.__dict__:
        raise ValueError(
            f"{type(layer).__name__}: {what} was called before super().__init__(). Expected "
            "super().__init__() first in the model's __init__; fix: move the call after it."
        )
    return holder_of(layer, create=True)


@contextlib.contextmanager
def building(model):
    """While the engine runs ``model``'s ``build`` inside an initializing scope: the
    variables made in ``__init__`` are drawn, and those ``build`` makes are drawn as made."""
    holder = holder_of(model)
    if holder is not None:
        early = list(holder.__dict__.get("_early_variables") or [])
        holder._variables = list(early)  # a rebuild makes ``build``'s variables again
        holder._init_store = ({}, {})
        scope = current_scope()
        for var in early:
            value = var.initializer(var._shape, dtype=var.dtype, key=scope.next_init_key())
            holder._init_store[0 if var._trainable else 1][var._key] = value
    model.__dict__[_BUILDING] = True
    try:
        yield
    finally:
        model.__dict__.pop(_BUILDING, None)


def is_building(model) -> bool:
    """Whether the engine is running ``model``'s own ``build`` now."""
    return bool(model.__dict__.get(_BUILDING))


def bind_drawn(model, scope) -> ModelVariables | None:
    """Binds the freshly drawn own variables of ``model`` in ``scope`` (so its ``call``
    reads them); returns the holder, or None when the model has none."""
    holder = holder_of(model)
    if holder is None or getattr(holder, "_init_store", None) is None:
        return None
    params, state = holder._init_store
    holder._init_store = None
    scope.bind(holder, params, state)
    return holder


def check_names(model, holder, layers) -> None:
    """A layer named as the model would share the keys of the model's own variables (when
    ``holder``, its :class:`ModelVariables`, is not None).

    Raises:
        ValueError: one of ``layers`` (other than ``holder``) has the model's name.
    """
    if holder is None:
        return
    for layer in layers:
        if layer is not holder and layer.name == model.name:
            raise ValueError(
                f"Model {model.name!r} holds variables of its own and a layer with its name "
                f"({type(layer).__name__}). Expected distinct names; fix: rename the layer "
                f"(name=...) or the model."
            )


def wrap_user_build(cls) -> None:
    """Makes a subclassed model's own ``build(input_shape)`` run where Keras runs it: before
    the first ``call``, inside the engine's build (``model.build(shape)``, ``fit``, the
    first call), so its ``add_weight`` and sub-layers join the model's weights."""
    build = cls.__dict__.get("build")
    module = getattr(cls, "__module__", None) or ""
    if build is None or module.startswith("lamina.") or getattr(build, "_lamina_model", False):
        return

    @functools.wraps(build)
    def model_build(self, input_shape=None, *args, **kwargs):
        if is_building(self) or getattr(self, "_nodes", None) is not None:
            return build(self, input_shape, *args, **kwargs)
        from lamina.models.model import Model

        return Model.build(self, input_shape)  # traces this build, then call()

    model_build._lamina_model = True
    cls.build = model_build
