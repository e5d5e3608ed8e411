"""Building a subclassed model: its own ``build`` (if it defines one), then ``call`` once on
zeros of the input shape, inside a scope that draws each layer's weights as it is first
called; the layers ``call`` used (and built ones it did not) become the model's layers, in
Keras's order.  The methods ``build``, ``_build_from_call`` and ``_set_weights_state`` of
:class:`lamina.Model`.

>>> import lamina
>>> class Tiny(lamina.Model):
...     def __init__(self):
...         super().__init__()
...         self.dense = lamina.layers.Dense(2)
...     def call(self, x):
...         return self.dense(x)
>>> model = Tiny()
>>> model.build((None, 3))
>>> [w.shape for w in model.get_weights()]
[(3, 2), (2,)]
"""

from __future__ import annotations

import jax

from lamina.layers import tracing as _tracing
from lamina.layers.borrowed import offering
from lamina.layers.stateful import weight_names
from lamina.layers.variables import Scope
from lamina.models import nested_homes as _homes
from lamina.models import own_variables as _own
from lamina.models import weight_sync as _sync
from lamina.models.subclass_network import batchless, norm_shape
from lamina.scopes import layer_scope
from lamina.training.state import TrainState


def build(self, input_shape=None):
    """Builds the weights by running the model's own ``build`` (if it defines one) and
    ``call`` once on zeros of ``input_shape``."""
    if _own.is_building(self):  # ``super().build(shape)`` from the model's own build
        return
    if input_shape is None:
        input_shape = self._input_shape
    if input_shape is None:
        raise ValueError(
            f"{type(self).__name__}.build() needs an input shape, e.g. build((None, 8)); "
            "or call fit()/the model on data and it builds from the data."
        )
    self._build_from_call(norm_shape(input_shape))


def build_from_call(self, input_shape):
    from lamina.layers import trace_inputs as _inputs
    from lamina.utils import random as _random

    like = _inputs.inputs_like(self)  # the data or tensors it is built for: their dtypes
    dtypes = None if like is None else _inputs.dtype_tree(like)
    self.__dict__["_input_dtypes"] = dtypes  # later abstract traces of call use them too
    zeros = _tracing._zeros(input_shape, dtypes)
    scope = Scope(init_key=_random.next_key())
    scope.builds_model = True  # layers built here are offered to the later ones
    if isinstance(input_shape, tuple) and input_shape:
        scope.build_batch = input_shape[0]  # the batch size the layers are built for
    with scope, jax.numpy_rank_promotion("allow"), offering(), layer_scope(self):
        with _own.building(self):
            self.build(input_shape)  # the model's own build(), when it defines one
        own = _own.bind_drawn(self, scope)
        self.call(zeros, **_tracing.call_kwargs(self.call, False, None, {}))
    # The model's own variables first, as Keras lists them (as drawn: the build call's
    # assign() is not kept); then the layers ``call`` used, and built ones it did not (a
    # teacher model called only in an overridden ``compute_loss``): Keras tracks both.
    self._layers, params, state, order = [], [], [], []
    tracked = [own] * (own is not None) + [la for _, la in _tracing.tracked_layers(self)]
    entries = [(la, *e[:2]) for la in tracked if (e := scope.lookup(la)) is not None]
    for layer in tracked:
        entry = scope.lookup(layer)
        if entry is not None:
            p, s = entry[0], entry[1]
        elif built_or_buildable(layer):
            p, s, _ = layer._weights_source(build=False)
            p, s = dict(p), dict(s)
        elif (nested := _homes.arrays_in_nested(layer, entries)) is not None:
            # Run only inside a nested model: Keras lists its weights here, first.
            p, s = nested
        else:
            continue
        self._layers.append(layer)
        params.append(p)
        state.append(s)
        order.append((tuple(p), weight_names(s)))
    _own.check_names(self, own, self._layers)
    self._input_shape = batchless(input_shape)
    self._set_weights_state(tuple(params), tuple(state), tuple(order))


def set_weights_state(self, params, state, order):
    from lamina.utils import random as _random

    params, state = jax.device_put((params, state))
    self._weight_order = order
    self._rng, self._step_rng = jax.random.split(_random.next_key())
    self._claim_layers()
    _sync.adopt(self, TrainState(params, state, None, None))
    self._program = None
    if self._compiled is not None:
        self._reset_optimizer()


def built_or_buildable(layer) -> bool:
    """Whether ``layer`` holds weights, building it first when it is a model whose input is
    known (Keras builds a functional model, or a ``Sequential`` with an ``Input``, at once)."""
    if getattr(layer, "_is_model", False) and getattr(layer, "_train_state", None) is None:
        try:
            layer._require_built("weights")
        except ValueError:
            return False
    return layer._has_weights()
