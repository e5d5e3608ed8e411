"""The public pure core of a model (Keras 3's stateless API): the weights as lists of arrays
and ``stateless_call``, usable inside a JAX user's own ``jax.jit``, ``jax.grad`` or ``vmap``.

``model.trainable_variables`` and ``model.non_trainable_variables`` list the weights in Keras's
order (layer by layer; a frozen layer's weights are all non-trainable) as Keras variables;
``[v.value for v in ...]`` are the arrays, as with Keras's JAX backend.
``model.stateless_call(trainable_variables, non_trainable_variables, x, training=False)``
returns ``(outputs, non_trainable_variables)`` without touching the model.

>>> import jax, jax.numpy as jnp, numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2)])
>>> tv = [v.value for v in model.trainable_variables]
>>> ntv = [v.value for v in model.non_trainable_variables]
>>> x = jnp.ones((4, 3))
>>> y, _ = jax.jit(model.stateless_call)(tv, ntv, x)
>>> bool(jnp.allclose(y, model.predict(np.ones((4, 3)), verbose=0)))
True
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.borrowed_weights import unique_weights
from lamina.layers.seed_state import STATE_KEY as SEED_STATE_KEY


class StatelessMixin:
    """Keras 3's ``stateless_call`` over a model's ``TrainState`` (expects
    ``_train_state``, ``_weight_order``, ``_trainable_mask()``, ``_engine_network()`` and
    ``_require_built``)."""

    # Keras's model-level lists: each layer's own views, so a frozen layer's weights are
    # non-trainable (the views of the model as one nested layer would not know that).
    @property
    def trainable_weights(self) -> list:
        """The trained weights as Keras variables (``.value`` is the array)."""
        if not self.weights:  # not built and no input shape to build from: Keras's []
            return []
        self._require_built("trainable_weights")
        if not self.trainable:
            return []
        return unique_weights([w for layer in self._layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list:
        """The other weights as Keras variables, layer by layer."""
        if not self.weights:
            return []
        self._require_built("non_trainable_weights")
        if not self.trainable:
            return unique_weights([w for layer in self._layers for w in layer.weights])
        return unique_weights([w for layer in self._layers for w in layer.non_trainable_weights])

    trainable_variables = trainable_weights

    @property
    def non_trainable_variables(self) -> list:
        """The non-trainable weights, then the layers' seed-generator states (Keras's
        ``non_trainable_variables``: dropout's ``[seed, calls]`` is a variable, not a weight),
        in the order :meth:`stateless_call` takes and returns them."""
        return self.non_trainable_weights + _generator_views(self)

    @property
    def variables(self) -> list:
        """The weights, then the layers' seed-generator states (Keras's ``variables``)."""
        return self.weights + _generator_views(self)

    def _variable_slots(self):
        """``(trainable, non_trainable)``: per variable, ``(layer index, key, is_param)`` in
        Keras's order (layer by layer, each layer's weights in creation order; a frozen
        layer's weights are all non-trainable), the seed-generator states last."""
        t, nt = [], []
        for i, (trains, (p_names, s_names)) in enumerate(
            zip(self._trainable_mask(), self._weight_order)
        ):
            for k in p_names:  # a nested model with frozen layers: trains a frozenset
                trained = k in trains if isinstance(trains, frozenset) else trains
                (t if trained else nt).append((i, k, True))
            nt.extend((i, k, False) for k in s_names)
        nt.extend((i, k, False) for i, k in _generator_slots(self))
        return t, nt

    def stateless_call(
        self,
        trainable_variables,
        non_trainable_variables,
        x,
        training=False,
        return_losses=False,
        key=None,
    ):
        """The model's outputs for ``x`` with the given weights: a pure function.

        Args:
            trainable_variables: arrays in :attr:`trainable_variables`'s order.
            non_trainable_variables: arrays in :attr:`non_trainable_variables`'s order.
            x: the inputs (an array, or the structure the model takes).
            training: run in training mode (dropout active, batch statistics updated).
            return_losses: also return the list of the model's added losses (activity
                regularization).
            key: a JAX random key, needed with ``training=True`` when the model draws
                random numbers from the step's key (recurrent or attention dropout, a user
                layer's unseeded draws); Dropout and the noise layers draw from their seed
                states in ``non_trainable_variables``, as Keras's.

        Returns:
            ``(outputs, non_trainable_variables)`` (the updated non-trainable weights), plus
            the losses with ``return_losses``.

        Raises:
            ValueError: the lists do not have the model's number of arrays or shapes, or a
                key is needed and missing.
        """
        self._require_built("stateless_call")
        t_slots, nt_slots = self._variable_slots()
        trainable_variables = list(trainable_variables)
        non_trainable_variables = list(non_trainable_variables)
        if len(trainable_variables) != len(t_slots) or len(non_trainable_variables) != len(
            nt_slots
        ):
            raise ValueError(
                f"stateless_call expected {len(t_slots)} trainable and {len(nt_slots)} "
                f"non-trainable arrays (the model's trainable_variables and "
                f"non_trainable_variables), but received {len(trainable_variables)} and "
                f"{len(non_trainable_variables)}."
            )
        ref = self._train_state
        params = [dict(p) for p in ref.params]
        state = [dict(st) for st in ref.state]
        for (i, k, is_param), v in [
            *zip(t_slots, trainable_variables),
            *zip(nt_slots, non_trainable_variables),
        ]:
            target = params if is_param else state
            target[i][k] = _checked(v, target[i][k], k)
        network = self._engine_network()
        if training and network.needs_key and key is None:
            from lamina.training.custom_state import step_key

            key = step_key()  # inside a custom train_step: the step's own key
        if training and network.needs_key and key is None:
            raise ValueError(
                "stateless_call(training=True) of a model with random layers (recurrent or "
                "attention dropout, unseeded draws in a layer's call) "
                "needs a key: pass key=jax.random.key(seed)."
            )
        y, new_state, aux = network.forward(
            tuple(params), tuple(state), x, training=bool(training), key=key
        )
        new_nt = [params[i][k] if is_param else new_state[i][k] for i, k, is_param in nt_slots]
        if return_losses:
            return y, new_nt, [aux]
        return y, new_nt


def _checked(value, ref, name):
    if not isinstance(value, jax.Array | jax.core.Tracer):
        # A Keras variable view (``model.trainable_variables``) or a NumPy array.
        value = jnp.asarray(getattr(value, "value", value))
    if tuple(value.shape) != tuple(ref.shape):
        raise ValueError(
            f"stateless_call: the array given for weight {name!r} has shape "
            f"{tuple(value.shape)}, but the model's has {tuple(ref.shape)}."
        )
    return value


def _generator_slots(model) -> list:
    """``(layer index, key)`` of the seed-generator states in the model's ``TrainState``."""
    ts = model.__dict__.get("_train_state")
    if ts is None:
        return []
    return [(i, k) for i, s in enumerate(ts.state) for k in s if k.endswith(SEED_STATE_KEY)]


def _generator_views(model) -> list:
    from lamina.layers.variables import layer_view

    # One view per generator state, as Keras's ``SeedGenerator.state`` is one variable.
    return [layer_view(model._layers[i], k, False) for i, k in _generator_slots(model)]
