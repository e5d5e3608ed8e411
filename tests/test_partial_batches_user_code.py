"""A short last batch runs at its real size when user code could see the padding: a layer's
``add_loss`` over the batch (the endpoint-layer recipe, the VAE's KL term) and a user metric
whose ``update_state`` ignores ``sample_weight``. Keras runs the short batch as it is; the
padded batch gave other losses, gradients and counts."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _model(k):
    ops, layers = k.ops, k.layers

    class AddMeanLoss(layers.Layer):
        def call(self, x):
            self.add_loss(ops.mean(x))
            return x

    class Rows(k.metrics.Metric):
        """Counts the rows it sees; ignores ``sample_weight``."""

        def __init__(self, name="rows", **kwargs):
            super().__init__(name=name, **kwargs)
            self.n = self.add_variable(shape=(), name="n", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(ops.cast(ops.shape(y_pred)[0], "float32"))

        def result(self):
            return self.n + 0.0

    inputs = k.Input((2,))
    hidden = AddMeanLoss()(layers.Dense(3, activation="tanh")(inputs))
    model = k.Model(inputs, layers.Dense(1)(hidden))
    model.compile(k.optimizers.SGD(0.1), "mse", metrics=[Rows()])
    return model


def _endpoint(k):
    ops, layers = k.ops, k.layers

    class Endpoint(layers.Layer):
        def call(self, logits, targets=None):
            self.add_loss(ops.mean(ops.square(logits - targets)))
            return logits

    inputs, targets = k.Input((2,)), k.Input((1,))
    model = k.Model([inputs, targets], Endpoint()(layers.Dense(1)(inputs), targets))
    model.compile(k.optimizers.SGD(0.1))
    return model


def _reduced_metrics(k):
    """Keras 2-style metric functions returning one value for the batch, and loss objects
    as metrics (the TensorFlow "Overfit and underfit" tutorial): Keras counts each batch's
    value once, computed on the batch's real rows."""
    ops = k.ops

    def batch_mae(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred))

    def row_mae(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    inputs = k.Input((2,))
    model = k.Model(inputs, k.layers.Dense(1, activation="sigmoid")(inputs))
    metrics = [
        batch_mae,
        row_mae,
        k.losses.BinaryCrossentropy(name="bce"),
        k.losses.MeanAbsoluteError(name="mae_sum", reduction="sum"),
    ]
    model.compile(k.optimizers.SGD(0.1), "mse", metrics=metrics)
    return model


@pytest.mark.parametrize("build", [_model, _endpoint, _reduced_metrics])
def test_short_batches_match_keras_with_add_loss_and_user_metrics(keras, build):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    args = ([x, y],) if build is _endpoint else (x, y)
    with keras_ref():
        ref = build(keras)
        weights = ref.get_weights()
        want_eval = ref.evaluate(*args, batch_size=4, verbose=0, return_dict=True)
        want = ref.fit(*args, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        want_w = ref.get_weights()
    model = build(lamina)
    model.set_weights(weights)
    got_eval = model.evaluate(*args, batch_size=4, verbose=0, return_dict=True)
    assert sorted(got_eval) == sorted(want_eval)
    for name, value in want_eval.items():
        np.testing.assert_allclose(got_eval[name], value, rtol=1e-5)
    got = model.fit(*args, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-5)
    for a, b in zip(model.get_weights(), want_w):
        np.testing.assert_allclose(a, b, atol=1e-6)


def _mean_input_model(K):
    class MeanInput(K.Model):
        """A subclassed model adding a loss over the whole batch in its own ``call``."""

        def __init__(self):
            super().__init__()
            self.dense = K.layers.Dense(1, kernel_initializer="ones")

        def call(self, x):
            self.add_loss(K.ops.mean(x[:, 0]))
            return self.dense(x)

    return MeanInput()


def test_subclassed_model_add_loss_in_call_with_a_short_batch(keras):
    """The model's own ``call`` adds a batch mean: evaluate and validation see only the short
    batch's real rows (the padded batch gave 32.15 for Keras's 33.0)."""
    x = np.arange(10.0, dtype="float32")[:, None]
    y = np.zeros((10, 1), "float32")
    with keras_ref():
        ref = _mean_input_model(keras)
        ref.compile(loss="mse", optimizer="sgd")
        want = ref.evaluate(x, y, batch_size=4, verbose=0)
    ours = _mean_input_model(lamina)
    ours.compile(loss="mse", optimizer="sgd")
    assert ours.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(want, rel=1e-6)
    ours.compile(loss="mse", optimizer=lamina.optimizers.SGD(0.0))
    hist = ours.fit(x, y, batch_size=4, validation_data=(x, y), verbose=0, shuffle=False)
    assert hist.history["val_loss"][0] == pytest.approx(want, rel=1e-6)
