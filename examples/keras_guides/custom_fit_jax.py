"""The Keras guide "Customizing what happens in fit() with JAX", retold with Lamina.

Runs with ``import lamina as keras`` only (and ``jax`` for ``value_and_grad``), on stand-in
data: the backend-agnostic ``compute_loss`` override; the guide's JAX-style
``train_step(self, state, data)`` over ``self.metrics`` with ``stateless_call``,
``optimizer.stateless_apply`` and ``metric.stateless_update_state``; the lower-level version
with its own loss trackers, ``compile(optimizer=...)`` without a loss and a custom
``test_step``; and a custom ``predict_step``.  ``fit`` compiles each epoch with the custom
step inside, as it does the built-in one.

Run:  python examples/keras_guides/custom_fit_jax.py
"""

import jax
import numpy as np

import lamina as keras
from lamina import ops

keras.utils.set_random_seed(5)
rng = np.random.default_rng(5)

# A noisy linear regression: 32 features, one target.
x = rng.normal(size=(1000, 32)).astype("float32")
y = (x @ rng.normal(size=(32, 1)) / 6 + rng.normal(0, 0.1, size=(1000, 1))).astype("float32")


def make(model_class):
    inputs = keras.Input(shape=(32,))
    return model_class(inputs, keras.layers.Dense(1)(inputs))


# ------------------------------------------- 1. the backend-agnostic way: compute_loss
class PenalizedModel(keras.Model):
    """The compiled loss plus a small penalty on the predictions' size."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        return loss + 1e-3 * ops.mean(ops.square(y_pred))


model = make(PenalizedModel)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = model.fit(x, y, epochs=3, verbose=0)
print(f"compute_loss override: loss {history.history['loss'][0]:.3f} -> "
      f"{history.history['loss'][-1]:.3f}, keys {sorted(history.history)}")  # fmt: skip


# ------------------------------------------- 2. a JAX train_step over self.metrics
class CustomModel(keras.Model):
    def compute_loss_and_updates(
        self, trainable_variables, non_trainable_variables, x, y, training=False
    ):
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training
        )
        loss = self.compute_loss(x, y, y_pred)
        return loss, (y_pred, non_trainable_variables)

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = (
            state
        )
        x, y = data
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, y, training=True
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        new_metrics_vars, logs = [], {}
        for metric in self.metrics:
            start = len(new_metrics_vars)
            this_metric_vars = metrics_variables[start : start + len(metric.variables)]
            if metric.name == "loss":
                this_metric_vars = metric.stateless_update_state(this_metric_vars, loss)
            else:
                this_metric_vars = metric.stateless_update_state(this_metric_vars, y, y_pred)
            logs[metric.name] = metric.stateless_result(this_metric_vars)
            new_metrics_vars += this_metric_vars
        state = (trainable_variables, non_trainable_variables, optimizer_variables,
                 new_metrics_vars)  # fmt: skip
        return logs, state


model = make(CustomModel)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = model.fit(x, y, epochs=3, verbose=0)
print(f"train_step: loss {history.history['loss'][0]:.3f} -> "
      f"{history.history['loss'][-1]:.3f}, metrics {[m.name for m in model.metrics]}")  # fmt: skip


# --------------------------- 3. lower level: own trackers, no compiled loss, a test_step
class TrackedModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y,
                                 training=False):  # fmt: skip
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training
        )
        return self.loss_fn(y, y_pred), (y_pred, non_trainable_variables)

    def _update_metrics(self, metrics_variables, loss, y, y_pred):
        n = len(self.loss_tracker.variables)
        loss_vars = self.loss_tracker.stateless_update_state(metrics_variables[:n], loss)
        mae_vars = self.mae_metric.stateless_update_state(metrics_variables[n:], y, y_pred)
        logs = {
            self.loss_tracker.name: self.loss_tracker.stateless_result(loss_vars),
            self.mae_metric.name: self.mae_metric.stateless_result(mae_vars),
        }
        return logs, loss_vars + mae_vars

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = (
            state
        )
        x, y = data
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, y, training=True
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        logs, metrics_variables = self._update_metrics(metrics_variables, loss, y, y_pred)
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables,
                      metrics_variables)  # fmt: skip

    def test_step(self, state, data):
        x, y = data
        trainable_variables, non_trainable_variables, metrics_variables = state
        loss, (y_pred, non_trainable_variables) = self.compute_loss_and_updates(
            trainable_variables, non_trainable_variables, x, y, training=False
        )
        logs, metrics_variables = self._update_metrics(metrics_variables, loss, y, y_pred)
        return logs, (trainable_variables, non_trainable_variables, metrics_variables)

    @property
    def metrics(self):
        # Listed here, the trackers are reset at each epoch and each evaluate().
        return [self.loss_tracker, self.mae_metric]


model = make(TrackedModel)
model.compile(optimizer="adam")
history = model.fit(x[:800], y[:800], epochs=5, verbose=0, validation_data=(x[800:], y[800:]))
loss, mae = model.evaluate(x[800:], y[800:], verbose=0)
print(f"own trackers: val_loss {history.history['val_loss'][-1]:.3f}; "
      f"evaluate loss {loss:.3f} mae {mae:.3f}")  # fmt: skip


# ------------------------------------------------------------- 4. a predict_step
class ClippedPredictions(CustomModel):
    def predict_step(self, state, data):
        trainable_variables, non_trainable_variables = state
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, data
        )
        return ops.clip(y_pred, -1.0, 1.0), non_trainable_variables


model = make(ClippedPredictions)
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, verbose=0)
predictions = model.predict(x, verbose=0)
print(f"predict_step: {predictions.shape}, within [-1, 1]: "
      f"{bool(np.all(np.abs(predictions) <= 1.0))}")  # fmt: skip
