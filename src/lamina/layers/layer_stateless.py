"""Keras 3's ``Layer.stateless_call`` for a single layer (a model has its own, over its
``TrainState``: :mod:`lamina.models.stateless`).

A keras.io diffusion model normalizes its images inside a JAX-style ``train_step`` with
``self.normalizer.stateless_call([], non_trainable_variables, images)``: the layer runs on the
given arrays, in :attr:`trainable_variables` / :attr:`non_trainable_variables` order, and
returns its outputs and its new non-trainable arrays without touching its own weights.

>>> import numpy as np
>>> import lamina
>>> norm = lamina.layers.Normalization()
>>> norm.adapt(np.array([[0.0], [2.0]], "float32"))
>>> ntv = [np.array([1.0]), np.array([4.0]), np.array(2.0)]  # mean, variance, count
>>> y, _ = norm.stateless_call([], ntv, np.array([[3.0]], "float32"))
>>> float(y[0, 0])
1.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


class LayerStatelessAPI:
    """``stateless_call`` of a built layer (expects the weight views of
    :class:`~lamina.layers.weight_views.LayerWeightViews`)."""

    def stateless_call(
        self, trainable_variables, non_trainable_variables, *args, return_losses=False, **kwargs
    ):
        """Calls the layer with the given weight arrays: a pure function.

        Args:
            trainable_variables: arrays in :attr:`trainable_variables`'s order.
            non_trainable_variables: arrays in :attr:`non_trainable_variables`'s order.
            *args: the call's inputs.
            return_losses: also return the losses the call added with ``add_loss`` (as in
                Keras, not the activity regularizer's, which ``__call__`` adds).
            **kwargs: the call's other arguments (``training``, ``mask``, ...).

        Returns:
            ``(outputs, non_trainable_variables)``, plus the list of losses with
            ``return_losses``.

        Raises:
            ValueError: the layer is not built, or the lists do not match its variables.
        """
        from lamina.layers import call_losses
        from lamina.layers.call_args import as_array, is_tensor
        from lamina.layers.trace_inputs import called_on, keep_order
        from lamina.layers.variables import AuxCollector
        from lamina.training.autocast import policy_apply
        from lamina.training.custom_state import step_key
        from lamina.utils import random as _random

        if not self.built:
            raise ValueError(
                f"To call stateless_call, layer {self.name!r} must be built (its variables "
                "created). Received an unbuilt layer: call it on data, or build(input_shape), "
                "first."
            )
        t_views, nt_views = list(self.trainable_variables), list(self.non_trainable_variables)
        trainable_variables = list(trainable_variables)
        non_trainable_variables = list(non_trainable_variables)
        if len(trainable_variables) != len(t_views) or len(non_trainable_variables) != len(
            nt_views
        ):
            raise ValueError(
                f"stateless_call of layer {self.name!r} expected {len(t_views)} trainable and "
                f"{len(nt_views)} non-trainable arrays (its trainable_variables and "
                f"non_trainable_variables), but received {len(trainable_variables)} and "
                f"{len(non_trainable_variables)}."
            )
        own = {id(v) for v in self.weights}
        if any(
            id(v) not in own or getattr(v, "_layer", None) is not self for v in t_views + nt_views
        ):
            raise ValueError(
                f"stateless_call of layer {self.name!r}: the layer reads weights it does not "
                "hold (tied weights); call the model holding both layers instead."
            )
        params, state, _ = self._weights_source()
        params, state = dict(params), dict(state)
        for view, value in [
            *zip(t_views, trainable_variables),
            *zip(nt_views, non_trainable_variables),
        ]:
            target = params if view._trainable else state
            target[view._key] = _checked(value, target[view._key], view._key)
        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if len(args) > 1 and all(is_tensor(a) for a in args):
            args = (list(args),)  # ``call(self, a, b)``: one list input, as ``__call__`` passes it
        x = keep_order(jax.tree_util.tree_map(as_array, args[0]), args[0])
        training = bool(kwargs.pop("training", False))
        random = training or self.rng_in_inference
        key = None
        if random and self.uses_rng:  # a bound custom step's key, else a fresh one (eager)
            key = step_key()
            key = _random.next_key() if key is None else key
        if self.uses_mask:
            kwargs.setdefault("mask", None)
        else:
            kwargs.pop("mask", None)
        with AuxCollector(), call_losses.TermLog() as log, called_on(self, x):
            y, new_state = policy_apply(
                self, params, state, x, training=training, key=key, **kwargs
            )
        state.update(new_state or {})
        new_nt = [(params if v._trainable else state)[v._key] for v in nt_views]
        if return_losses:
            return y, new_nt, [value for _, value in log.terms]
        return y, new_nt


def _checked(value, ref, name):
    if not isinstance(value, jax.Array | jax.core.Tracer):
        value = jnp.asarray(getattr(value, "value", value))  # a variable view or NumPy array
    if tuple(value.shape) != tuple(ref.shape):
        raise ValueError(
            f"stateless_call: the array given for weight {name!r} has shape "
            f"{tuple(value.shape)}, but the layer's has {tuple(ref.shape)}."
        )
    return value
