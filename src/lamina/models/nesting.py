"""A model used as a layer: ``Sequential([base_model, layers.Softmax()])``, a functional model
called on tensors, ``model(x)`` on arrays.

Inside another model, a model is one layer whose ``params``/``state`` are flat dicts: each of its
layers' weights under the layer's name (``"dense/kernel"``).  Its ``init`` returns its current
weights when it already has some (a trained or loaded base model keeps them, as Keras shares the
variables), else draws new ones.  Its layers' weight views then read the outer model's arrays.

A model class provides ``_layers`` (the layers owning weights), ``_layer_input_shapes(shape)``
(each layer's input shape for a model input of ``shape``) and ``_engine_network()`` (a
``lamina.training.network.Network``).

>>> import numpy as np
>>> from lamina import Sequential, Input, layers
>>> base = Sequential([Input((4,)), layers.Dense(3)])
>>> model = Sequential([base, layers.Activation("softmax")])
>>> model(np.ones((2, 4), "float32")).shape
(2, 3)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers import symbolic as _symbolic
from lamina.layers import tracing as _tracing
from lamina.layers.borrowed import without_offered_copies
from lamina.layers.keras_api import set_owner
from lamina.layers.seed_state import STATE_KEY as _SEED_KEY
from lamina.layers.stateful import STATE_KEYS
from lamina.layers.variables import report_aux
from lamina.models import model_calls as _calls
from lamina.models import weight_sync as _sync
from lamina.models.model_calls import (
    _build_on_symbolic_call,  # noqa: F401  (output_spec's)
    _may_add_loss,
    adopt_input_shape,
)


class NestedModelMixin:
    """The layer protocol (``init``/``apply``/``__call__``) of a model, from its network."""

    _is_model = True
    _lamina_owner = None
    _inbound_nodes = None

    @property
    def uses_rng(self) -> bool:
        return any(layer.uses_rng for layer in self._layers)

    @uses_rng.setter
    def uses_rng(self, value):  # Layer.__init__ style assignment is ignored: derived
        pass

    @property
    def rng_in_inference(self) -> bool:
        return any(getattr(layer, "rng_in_inference", False) for layer in self._layers)

    @property
    def uses_mask(self) -> bool:
        """Whether the model takes its inputs' masks (Keras's ``Functional.call(..., mask=)``:
        functional models and ``Sequential`` do; a subclassed model's ``call`` decides)."""
        from lamina.models.sequential import Sequential

        return isinstance(self, Sequential) or getattr(self, "_nodes", None) is not None

    @uses_mask.setter
    def uses_mask(self, value):  # derived from the model kind
        pass

    @property
    def trainable(self) -> bool:
        """Whether ``fit`` trains the model's weights. Setting it sets every layer's too, as in
        Keras (``base_model.trainable = False`` freezes them all; ``True`` unfreezes them all)."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value) -> None:
        value = bool(value)
        self.__dict__["_trainable"] = value
        for layer in _sublayers(self):
            layer.trainable = value

    def _spec_key(self) -> tuple:
        """The key of the computation: from the config; a model holding a layer without a
        config (a custom layer taking another layer, ``DenseTranspose(dense)``) is keyed by
        its identity and its layers' keys."""
        try:
            return super()._spec_key()
        except NotImplementedError:
            layers = self.__dict__.get("_stack") or self._layers
            return (type(self).__name__, id(self), tuple(la._spec_key() for la in layers))

    @property
    def _input_shape_arg(self):
        """A built-in-layer-like view of the model's input shape (a ``Sequential`` whose
        first layer is this model takes it as its own input shape)."""
        shape = getattr(self, "_input_shape", None)
        return tuple(shape[1:]) if isinstance(shape, tuple) else None

    def compute_output_shape(self, input_shape):
        from lamina.models.sequential import Sequential

        if isinstance(self, Sequential):
            shapes = self._output_shape_of(tuple(input_shape))
            return shapes[-1] if shapes else tuple(input_shape)
        if getattr(self, "_nodes", None) is not None:  # functional: shapes are fixed
            # The outputs' own structure: called on a tensor, ``Model(i, [y])`` gives a list
            # of one tensor, as in Keras (its arrays come unpacked).
            return jax.tree_util.tree_map(
                lambda t: t.shape,
                self._outputs_struct,
                is_leaf=lambda v: isinstance(v, _symbolic.KerasTensor),
            )
        return _symbolic.traced_output_shape(self, input_shape)

    # --------------------------------------------------------------- summary
    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ) -> None:
        """Prints Keras's table of layers, output shapes, parameters (and connections); the
        arguments are Keras's (see :func:`lamina.models.summary.print_summary`)."""
        from lamina.models import summary as _summary

        _summary.print_summary(
            self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range
        )

    def _repr_html_(self) -> str:
        """The summary as an HTML table: what a notebook shows for a bare ``model``."""
        from lamina.models import summary as _summary

        return _summary.render_html(self)

    # ------------------------------------------------------------ pure core
    def init(self, key, input_shape):
        adopt_input_shape(self, input_shape)
        if self._train_state is not None:
            # Built alone first: the copies it keeps of layers the model around holds (tied
            # weights) are left out, so each weight has one home there.
            return without_offered_copies(self, *self._flat_arrays())
        from lamina.models.weights_init import init_layers

        shapes = self._layer_input_shapes(input_shape)
        params, state, order = init_layers(self._layers, shapes, key)
        self._weight_order = order
        return _flatten(self._layers, params, order, 0), _flatten(self._layers, state, order, 1)

    def apply(self, params, state, x, *, training=False, key=None, **kwargs):
        p = tuple(_tracing.split_prefixed(params, layer.name) for layer in self._layers)
        s = tuple(_tracing.split_prefixed(state, layer.name) for layer in self._layers)
        mask = kwargs.get("mask")
        extra = {} if mask is None else {"input_masks": mask}
        y, new_state, aux = self._engine_network().forward(
            p, s, x, training=training, key=key, batch_mask=kwargs.get("batch_mask"), **extra
        )
        if _may_add_loss(self):
            report_aux(aux, required=training)  # the outer model's forward adds it to the loss
        flat = {}
        for layer, ns in zip(self._layers, new_state):
            flat.update({f"{layer.name}/{k}": v for k, v in ns.items()})
        return y, {k: flat[k] for k in state}

    def _flat_arrays(self):
        ts = self._train_state
        return (
            _flatten(self._layers, ts.params, self._weight_order, 0),
            _flatten(self._layers, ts.state, self._weight_order, 1),
        )

    # ------------------------------------------------------- shared weights
    @property
    def _train_state(self):
        """The model's ``TrainState``, with the weights other models wrote to its shared
        layers pulled in (:mod:`lamina.models.weight_sync`)."""
        return _sync.read(self)

    @_train_state.setter
    def _train_state(self, ts):
        _sync.store(self, ts)

    def regularization_loss(self, params: dict):
        """The weight regularizers' penalty of the model's layers (Keras counts them when the
        model is nested in another)."""
        total = 0.0
        for layer in self._layers:
            sub = _tracing.split_prefixed(params, layer.name)
            if sub:
                total = total + layer.regularization_loss(sub)
        return total

    def apply_constraints(self, params: dict) -> dict:
        """Each layer's constraints on its (trained) weights among ``params``."""
        out = dict(params)
        for layer in self._layers:
            sub = _tracing.split_prefixed(params, layer.name)
            if sub:
                new = layer.apply_constraints(sub)
                if new is not sub:
                    out.update({f"{layer.name}/{k}": v for k, v in new.items()})
        return out

    def _trained_keys(self, prefix=""):
        """The flat names of the weights ``fit`` trains in this model as a nested layer: a
        ``frozenset`` when some of its layers are frozen, else True (all of them)."""
        if not self.trainable:
            return frozenset()
        names, partial = set(), False
        for layer, (p_names, _) in zip(self._layers, getattr(self, "_weight_order", ())):
            if getattr(layer, "_is_model", False):
                inner = layer._trained_keys()
                if inner is True:
                    names.update(f"{layer.name}/{k}" for k in p_names)
                else:
                    partial = True
                    names.update(f"{layer.name}/{k}" for k in inner)
            elif layer.trainable:
                names.update(f"{layer.name}/{k}" for k in p_names)
            else:
                partial = partial or bool(p_names)
        return frozenset(names) if partial else True

    def _trainable_mask(self):
        """Per layer: whether ``fit`` trains its weights (for a nested model, the names of
        those it trains when some of its layers are frozen, as Keras honours them)."""
        mask = []
        for layer in self._layers:
            t = bool(self.trainable and layer.trainable)
            if t and getattr(layer, "_is_model", False) and getattr(layer, "_weight_order", ()):
                t = layer._trained_keys()
            mask.append(t)
        return tuple(mask)

    # --------------------------------------------------------- weights views
    def _arrays_of(self, layer):
        """``(params, state, names)`` of ``layer`` (one of this model's layers, or a layer of a
        model nested in it) in this model's state; None when it has none."""
        ts = _sync.raw_state(self)
        where = _sync.locate(self, layer)
        if ts is None or where is None:
            return None
        return _sync.arrays_in(ts, self._weight_order, *where)

    def _write_array(self, layer, key, trainable, value):

        i, prefix = _sync.locate(self, layer)
        ts = self._train_state
        field = "params" if trainable else "state"
        which = list(getattr(ts, field))
        name = prefix + key
        which[i] = {**which[i], name: jnp.asarray(value, which[i][name].dtype)}
        self._train_state = ts._replace(**{field: tuple(which)})

    def _weights_source(self, build=True):
        if self._train_state is None and self._owner_model() is not None:
            found = self._owner_model()._arrays_of(self)
            if found is not None:
                return found
        if not build and self._train_state is None:
            raise ValueError(f"Model {self.name!r} has no weights yet.")
        self._require_built("weights")
        p, s = self._flat_arrays()
        order = self._weight_order
        names = (
            tuple(f"{la.name}/{k}" for la, o in zip(self._layers, order) for k in o[0]),
            tuple(f"{la.name}/{k}" for la, o in zip(self._layers, order) for k in o[1]),
        )
        return p, s, names

    def _claim_layers(self):
        """Makes this model the holder of the models nested in it (the owners of the other
        layers' weights are settled by :func:`lamina.models.weight_sync.adopt`)."""
        for layer in self._layers:
            if getattr(layer, "_is_model", False):
                set_owner(layer, self)

    # ----------------------------------------------------------------- calls
    def __call__(self, *args, **kwargs):
        first = args[0] if args else kwargs.get("inputs")
        if getattr(first, "dtype", None) == "string" and isinstance(first, _symbolic.KerasTensor):
            from lamina.models.nested_strings import adopt_strings

            adopt_strings(self, first.shape)  # a Sequential first called on text takes it
        return _calls.call(self, args, kwargs)

    def _eager(self, x, training=False):
        """``model(x)`` on arrays (see :func:`lamina.models.model_calls.eager`)."""
        return _calls.eager(self, x, training)


_CARRIED = (*STATE_KEYS, _SEED_KEY)


def _flatten(layers, per_layer, order, which):
    flat = {}
    for layer, arrays, names in zip(layers, per_layer, order):
        keys = names[which]
        if which == 1:  # a stateful RNN's carried states and a Dropout's seed generator
            # (Keras's masks) are no weights, but travel with them
            keys = (*keys, *(k for k in arrays if k not in keys and k.endswith(_CARRIED)))
        for k in keys:
            flat[f"{layer.name}/{k}"] = arrays[k]
    return flat


def _sublayers(model) -> list:
    """The layers a model holds: its graph's or stack's, or (a subclassed model not yet
    built) the layers among its attributes."""
    from lamina.layers.base import Layer

    layers = list(model.__dict__.get("_layers") or ())
    if layers:
        return layers
    found = []
    for value in list(model.__dict__.values()):
        items = value if isinstance(value, list | tuple) else (value,)
        found.extend(v for v in items if isinstance(v, Layer) and v is not model)
    return found
