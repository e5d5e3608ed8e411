"""Custom training logic on a ``lamina.Model``, the Keras 3 (JAX backend) way.

A subclass may override:

* ``compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True)``
  (backend-agnostic; may call ``super().compute_loss(...)``), kept inside the compiled step;
* ``train_step(self, state, data)``, ``test_step(self, state, data)`` and
  ``predict_step(self, state, data)`` in Keras's JAX style: ``state`` is
  ``(trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)``
  (lists of arrays), the body uses ``self.stateless_call``, ``jax.value_and_grad``,
  ``self.optimizer.stateless_apply`` and the metrics' ``stateless_update_state``, and returns
  ``(logs, new_state)``;
* ``compute_metrics(self, x, y, y_pred, sample_weight=None)`` and the ``metrics`` property.

The model's ``metrics`` are Keras's: the loss tracker (``"loss"``) and the compiled metrics
(``"compile_metrics"``) after ``compile``, then the metrics held as attributes; they are reset
at each epoch and each evaluation.  Optimizers other than ``model.optimizer`` held by the model
(a GAN's two) and every ``SeedGenerator`` reachable from it keep their state from step to step.
A ``Sequential`` subclass overriding one of these hooks gets this mixin too
(:func:`lamina.models.custom_binding.adopt_custom_steps`).  As in Keras, ``stateless_apply``
projects constrained weights (``kernel_constraint=...``), ``use_ema`` swaps the moving averages
in at the end of ``fit``, and a learning-rate callback changes the rate the steps use from the
next epoch (``model.train_state.opt_state`` is the optimizer's own state).
The engine side is :mod:`lamina.training.custom_step`.

>>> import jax, numpy as np
>>> import lamina as keras
>>> class Scaled(keras.Model):
...     def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
...         return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training)
>>> inputs = keras.Input((3,))
>>> model = Scaled(inputs, keras.layers.Dense(1)(inputs))
>>> model.compile(optimizer="sgd", loss="mse")
>>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=1, verbose=0)
>>> sorted(history.history)
['loss']
"""

from __future__ import annotations

import contextlib
import inspect
import math
import threading

import jax
import jax.numpy as jnp

from lamina.models.model_metrics import CompileMetrics as CompileMetrics
from lamina.models.model_metrics import ModelMetricsMixin
from lamina.models.stateless import StatelessMixin
from lamina.training import custom_step as _engine
from lamina.training.network import Binding

_LOCAL = threading.local()


def _unpack(data):
    """Keras's ``unpack_x_y_sample_weight``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    return data[0], data[1], data[2]


class CustomTrainingMixin(ModelMetricsMixin, StatelessMixin):
    """Keras 3's trainer hooks (``compute_loss``, ``train_step``, ``metrics``, ...)."""

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    @property
    def losses(self) -> list:
        forward = getattr(_LOCAL, "losses", None)
        if forward is not None:
            return list(forward)
        return super().losses

    # ------------------------------------------------------------------- losses
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss: the compiled loss plus ``self.losses`` (Keras's default)."""
        del x, training
        total = jnp.zeros((), jnp.float32)
        compiled = getattr(self, "_compiled", None)
        if compiled is not None and compiled.get("loss") is not None and y is not None:
            total = total + self._compiled_loss(y, y_pred, sample_weight)
        for loss in self.losses:
            total = total + jnp.sum(jnp.asarray(loss, jnp.float32))
        return total

    def _compiled_loss(self, y, y_pred, sample_weight):
        from lamina.training import output_weights as _output_weights
        from lamina.training import outputs as _outputs

        names = self._engine_network().output_names if self._train_state is not None else None
        terms = _outputs.resolve_losses(
            self._compiled["loss"], self._compiled["loss_weights"], names
        )
        ys = y if isinstance(y, list | tuple) else jax.tree_util.tree_leaves(y)
        preds = jax.tree_util.tree_leaves(y_pred)
        total = jnp.zeros((), jnp.float32)
        for term in terms:
            per = term.loss.per_sample(jnp.asarray(ys[term.index]), preds[term.index])
            sw = _output_weights.of_output(sample_weight, term.index)  # or one per output
            if sw is not None:
                sw = jnp.asarray(sw, per.dtype)
                per = per * jnp.reshape(sw, sw.shape + (1,) * (per.ndim - sw.ndim))
            total = total + term.weight * jnp.sum(per) / max(math.prod(per.shape), 1)
        return total

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        if "training" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    @contextlib.contextmanager
    def _layers_bound(self, trainable_variables, non_trainable_variables, training):
        """Binds the model's layers to the step's weights while ``compute_loss`` runs, so a
        layer or nested model it calls (the keras.io VAE's ``self.encoder(data)``) runs on
        the traced arrays and its weights get gradients."""
        from lamina.layers.variables import AuxCollector, Scope
        from lamina.training.custom_state import step_key

        t_slots, nt_slots = self._variable_slots()
        params = [dict(p) for p in self._train_state.params]
        state = [dict(st) for st in self._train_state.state]
        for (i, k, is_param), v in [
            *zip(t_slots, trainable_variables),
            *zip(nt_slots, non_trainable_variables),
        ]:
            (params if is_param else state)[i][k] = v
        layers = self._engine_network().layers
        scope = Scope(training=bool(training), key=step_key() if training else None)
        # add_loss terms of layers called here are not part of compute_loss's result (as
        # in Keras): collected and dropped.
        with scope, AuxCollector(), jax.numpy_rank_promotion("allow"):
            for layer, p, st in zip(layers, params, state):
                scope.bind(layer, p, st)
            yield

    def _regularization(self, trainable_variables, non_trainable_variables):
        t_slots, nt_slots = self._variable_slots()
        params = [dict(p) for p in self._train_state.params]
        for (i, k, _), v in zip(t_slots, trainable_variables):
            params[i][k] = v
        for (i, k, p), v in zip(nt_slots, non_trainable_variables):
            if p:
                params[i][k] = v
        return self._engine_network().regularization(tuple(params))

    def compute_loss_and_updates(
        self,
        trainable_variables,
        non_trainable_variables,
        metrics_variables,
        x,
        y,
        sample_weight,
        training=False,
        optimizer_variables=None,
    ):
        """Keras-JAX's pure loss: ``(loss, (unscaled_loss, y_pred, non_trainable_variables,
        metrics_variables))``, for ``jax.value_and_grad(..., has_aux=True)``."""
        y_pred, non_trainable_variables, losses = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training,
            return_losses=True,
        )  # fmt: skip
        loss, (_, non_trainable_variables, metrics_variables) = self._stateless_loss(
            trainable_variables, non_trainable_variables, metrics_variables, x, y, y_pred,
            sample_weight, training, losses,
        )  # fmt: skip
        return loss, (loss, y_pred, non_trainable_variables, metrics_variables)

    def stateless_compute_loss(
        self,
        trainable_variables,
        non_trainable_variables,
        metrics_variables,
        x=None,
        y=None,
        y_pred=None,
        sample_weight=None,
        training=True,
    ):
        """Keras-JAX's pure ``compute_loss``: the loss with the weights and metric states
        given (for ``jax.value_and_grad`` in a custom ``train_step``).

        Returns:
            ``(loss, (trainable_variables, non_trainable_variables, metrics_variables))``,
            the last two as ``compute_loss`` left them.
        """
        return self._stateless_loss(
            trainable_variables, non_trainable_variables, metrics_variables, x, y, y_pred,
            sample_weight, training, [],
        )  # fmt: skip

    def _stateless_loss(self, tv, ntv, mv, x, y, y_pred, sample_weight, training, losses):
        """``compute_loss`` run on the given variables; ``self.losses`` inside it are
        ``losses`` (the forward pass's ``add_loss`` terms) plus the weight penalties."""
        saved = getattr(_LOCAL, "losses", None)
        _LOCAL.losses = [*losses, self._regularization(tv, ntv)]
        try:
            with _engine.metric_scope(self.metrics, mv) as new_metrics:
                with self._layers_bound(tv, ntv, training):
                    loss = self._compute_loss(x, y, y_pred, sample_weight, training)
                mv = new_metrics()
        finally:
            _LOCAL.losses = saved
        return loss, (tv, ntv, mv)

    # ------------------------------------------------------------------- metrics update
    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics; returns ``get_metrics_result()`` (Keras's default)."""
        del x
        compiled = self._trainer_metrics()[1]
        if compiled is not None:
            compiled.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def _update_metrics_variables(self, metrics_variables, loss, x, y, y_pred, sample_weight):
        metrics = self.metrics
        with _engine.metric_scope(metrics, metrics_variables) as new_metrics:
            tracker = self._loss_tracker
            # A model whose ``metrics`` property leaves the loss tracker out (the keras.io
            # VAE) does not track the loss: its state is not carried through the step.
            if tracker is not None and any(m is tracker for m in metrics):
                batch = jax.tree_util.tree_leaves(x)[0].shape[0]
                tracker.update_state(loss, sample_weight=batch)
            logs = self.compute_metrics(x, y, y_pred, sample_weight)
            return logs, new_metrics()

    # ------------------------------------------------------------------- steps
    def train_step(self, state, data):
        """Keras-JAX's default training step (see the module docstring)."""
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = (
            state
        )
        x, y, sample_weight = _unpack(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (_, aux), grads = grad_fn(
            trainable_variables, non_trainable_variables, metrics_variables, x, y,
            sample_weight, training=True, optimizer_variables=optimizer_variables,
        )  # fmt: skip
        unscaled_loss, y_pred, non_trainable_variables, metrics_variables = aux
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        logs, metrics_variables = self._update_metrics_variables(
            metrics_variables, unscaled_loss, x, y, y_pred, sample_weight
        )
        return logs, (
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables
        )  # fmt: skip

    def test_step(self, state, data):
        """Keras-JAX's default evaluation step."""
        trainable_variables, non_trainable_variables, metrics_variables = state
        x, y, sample_weight = _unpack(data)
        _, aux = self.compute_loss_and_updates(
            trainable_variables, non_trainable_variables, metrics_variables, x, y,
            sample_weight, training=False,
        )  # fmt: skip
        unscaled_loss, y_pred, non_trainable_variables, metrics_variables = aux
        logs, metrics_variables = self._update_metrics_variables(
            metrics_variables, unscaled_loss, x, y, y_pred, sample_weight
        )
        return logs, (trainable_variables, non_trainable_variables, metrics_variables)

    def predict_step(self, state, data):
        """Keras-JAX's default prediction step: ``(outputs, non_trainable_variables)``."""
        trainable_variables, non_trainable_variables = state
        x, _, _ = _unpack(data)  # several inputs come packed as ``(x,)``, as Keras packs them
        return self.stateless_call(trainable_variables, non_trainable_variables, x)

    # ------------------------------------------------------------------- engine
    @property
    def train_state(self):
        """The model's :class:`~lamina.training.state.TrainState`.  With custom steps its
        ``opt_state`` is ``model.optimizer``'s own state (the one the steps carry), so a
        callback that changes it (``LearningRateScheduler``, ``ReduceLROnPlateau``) changes
        the learning rate of the next epochs, as Keras's optimizer variable does."""
        from lamina.models import custom_train_state

        if getattr(self, "optimizer", None) is None or not self._custom_hooks():
            return super().train_state
        return custom_train_state.read(self)

    @train_state.setter
    def train_state(self, ts):
        from lamina.models import custom_train_state

        if getattr(self, "optimizer", None) is not None and self._custom_hooks():
            ts = custom_train_state.write(self, ts)
        super(CustomTrainingMixin, type(self)).train_state.fset(self, ts)

    def _custom_hooks(self) -> list:
        from lamina.models.custom_binding import overridden_hooks

        return overridden_hooks(self)

    def _binding(self) -> Binding:
        from lamina.models.custom_binding import custom_binding

        hooks = self._custom_hooks()
        if not hooks:
            return super()._binding()
        return custom_binding(self, hooks)

