"""Defining a ``Sequential``: ``add`` (a layer, an ``Input``, a layer at a second position
sharing its weights, Keras 1's ``Merge`` of branches) and ``pop``, each checked and built on
the shape it gets as Keras builds it, and Keras's rebuild of its inner functional model (its
automatic name).  Methods of :class:`lamina.models.Sequential`.

>>> from lamina import Input, Sequential, layers
>>> model = Sequential([Input((4,))])
>>> add(model, layers.Dense(2))
>>> [type(la).__name__ for la in model.layers], type(pop(model)).__name__
(['Dense'], 'Dense')
"""

from __future__ import annotations

from lamina._naming import unique_name as _unique_name
from lamina.layers import shape_checks
from lamina.layers.base import Layer, check_rank
from lamina.layers.core import InputLayer
from lamina.layers.keras_api import set_owner
from lamina.layers.symbolic import KerasTensor
from lamina.models import host_prefix as _host_prefix
from lamina.models import sequential_stack as _positions
from lamina.models.model_calls import adopt_input_shape
from lamina.scopes import layer_scope, note_built_stack, note_parent_path


def add(self, layer: Layer, rebuild: bool = True) -> None:
    """Appends a layer (or an ``Input``) to the stack.

    ``rebuild`` is Keras's argument (whether its inner functional model is rebuilt now);
    here it only decides, as in Keras, whether that model takes an automatic name.
    """
    if getattr(layer, "_keras1_branch_merge", False):  # Keras 1's Merge([left, right])
        from lamina.models.merge_branches import start  # (it imports the functional model)

        start(self, layer)
        return
    if isinstance(layer, KerasTensor):  # keras.Input(...) gives a tensor; use its layer
        layer = layer._keras_history[0]
    if (
        not self._layers
        and self.__dict__.get("_input_layer") is None
        and isinstance(layer, Layer)
        and not isinstance(layer, InputLayer)
        and layer._input_shape_arg is not None
    ):  # Keras 2's Dense(8, input_shape=...): Keras makes the InputLayer (and its name)
        self.__dict__["_input_layer"] = InputLayer(
            shape=layer._input_shape_arg, batch_size=layer._batch_size_arg
        )
    if not isinstance(layer, Layer):
        raise TypeError(
            f"Sequential.add() takes a layer, e.g. Dense(8). Received: {layer!r} "
            f"(type {type(layer).__name__})."
        )
    if isinstance(layer, InputLayer):
        if self._layers:
            raise ValueError("Input(...) must come first in a Sequential model, before any layer.")
        self._input_shape = (layer._batch_size_arg, *layer.shape)
        self._input_layer = layer
        self._invalidate()
        return
    if not self._layers and self._input_shape is None and layer._input_shape_arg is not None:
        self._input_shape = (layer._batch_size_arg, *layer._input_shape_arg)
    names, shape = self._stack_cache()  # incremental: a full walk per add was O(n^2)
    repeat = _positions.is_repeat(layer, names, self._layers)
    first_shape = None
    if repeat and self._input_shape is not None:  # where its weights were built
        inputs = self._stack_input_shapes(None)
        first_shape = _positions.first_use_shapes(self._stack, [layer], inputs)[0]
    self._stack.append(layer)
    if not repeat:
        self._layers.append(layer)
        # A layer holding weights already (shared with another model, or called
        # standalone) keeps them: this model copies them in when it is built, as Keras
        # layers keep theirs.
        if getattr(layer, "_is_model", False) or (
            layer._owner_model() is None and layer.__dict__.get("_standalone") is None
        ):
            set_owner(layer, self)
    self._invalidate()
    try:
        if self._input_shape is not None:
            adopt_input_shape(layer, shape)  # a nested Sequential without one takes it
            if repeat:
                _positions.check_repeat(layer, first_shape, shape)
            check_rank(layer, shape)
            with layer_scope(self):  # Keras builds it now, in the model's name scope
                note_parent_path(layer)
                shape = shape_checks.output_shape(layer, shape)
        input_layer = self.__dict__.get("_input_layer")
        if getattr(input_layer, "_input_dtype", None) == "string":
            # A layer that cannot run on the host would receive strings.
            _host_prefix.stack_prefix_length(self._stack)
    except ValueError:
        self._stack.pop()
        if not repeat:
            self._layers.pop()
        raise
    names.add(layer.name)
    self._stack_key, self._stack_shape = self._stack_cache_key(), shape
    if rebuild:
        self._keras_rebuild(added=layer)


def keras_rebuild(self, added=None) -> None:
    """Keras's ``Sequential`` rebuilds an inner functional model whenever its stack changes
    and has an ``Input``; that model takes the next automatic ``functional`` name, so a
    ``Model(...)`` made afterwards is ``functional_1`` as in Keras (summaries, files)."""
    if self.__dict__.get("_input_layer") is not None and self._layers:
        _unique_name("functional")
        # Keras builds the layers now, in the model's name scope (after ``add``: the new
        # one; the others were noted when they came).
        note_built_stack(self, None if added is None else [added])


def stack_cache_key(self):
    last = self._stack[-1] if self._stack else None
    return (len(self._stack), id(last), self._input_shape)


def stack_cache(self):
    """(layer names, output shape) of the stack, recomputed only when the layers changed
    other than through ``add`` (``pop``, a new input shape)."""
    if getattr(self, "_stack_key", None) != self._stack_cache_key():
        shape = self._input_shape
        if shape is not None and self._stack:
            shape = self._output_shape_of(shape)[-1]
        self._stack_names = {lay.name for lay in self._layers}
        self._stack_key, self._stack_shape = self._stack_cache_key(), shape
    return self._stack_names, self._stack_shape


def pop(self, rebuild: bool = True) -> Layer:
    """Removes and returns the last layer (``rebuild``: as in :meth:`add`); a layer still
    used at an earlier position keeps its weights in the model."""
    if not self._stack:
        raise IndexError("There are no layers in the model to pop.")
    layer = _positions.remove_last(self._stack, self._layers)
    self._invalidate()
    if rebuild:
        self._keras_rebuild()
    return layer
