"""After ``fit``/``evaluate`` the metric objects hold the state the compiled steps reached, as
Keras's JAX trainer assigns it back (``jax_state_sync``): at each epoch's end (before the
validation pass, which resets and refills them), at the end of ``evaluate``, and whenever a
callback looks at the model mid-epoch; each epoch and each ``evaluate`` starts them afresh.

Keras 3.15.1's JAX backend cannot fit a layer that updates a metric in ``call`` (see
``tests/test_layer_metrics_fit.py``), so those numbers are checked against Keras's metric
updated eagerly on the same batches; the compiled metrics are checked against a real Keras fit.
"""

import numpy as np
import pytest

import lamina
from lamina import ops
from tests.helpers import keras_ref


class LogisticEndpoint(lamina.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = lamina.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = lamina.metrics.BinaryAccuracy()

    def call(self, targets, logits):
        self.add_loss(self.loss_fn(targets, logits))
        self.accuracy_fn.update_state(targets, logits)
        return ops.sigmoid(logits)


def _data(n, seed):
    rng = np.random.RandomState(seed)
    return {
        "inputs": rng.standard_normal((n, 3)).astype("float32"),
        "targets": (rng.random_sample((n, 4)) > 0.5).astype("float32"),
    }


def _endpoint_model():
    inputs = lamina.Input(shape=(3,), name="inputs")
    targets = lamina.Input(shape=(4,), name="targets")
    logits = lamina.layers.Dense(4, name="dense")(inputs)
    endpoint = LogisticEndpoint(name="predictions")
    model = lamina.Model([inputs, targets], endpoint(targets, logits))
    model.compile(optimizer=lamina.optimizers.SGD(0.0))  # frozen: every batch sees one model
    return model, endpoint


def _keras_accuracy(keras, model, data, batch_size):
    """Keras's ``BinaryAccuracy`` updated batch by batch, as the endpoint's ``call`` does."""
    w, b = model.get_layer("dense").get_weights()
    logits = data["inputs"] @ w + b
    with keras_ref():
        metric = keras.metrics.BinaryAccuracy()
        for i in range(0, len(logits), batch_size):
            metric.update_state(data["targets"][i : i + batch_size], logits[i : i + batch_size])
        return float(metric.result())


def test_layer_metric_holds_the_last_epoch_after_fit(keras):
    data = _data(10, 0)
    model, endpoint = _endpoint_model()
    history = model.fit(data, epochs=2, batch_size=4, shuffle=False, verbose=0)
    expected = _keras_accuracy(keras, model, data, 4)
    np.testing.assert_allclose(float(endpoint.accuracy_fn.result()), expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["binary_accuracy"][-1], expected, rtol=1e-6)


def test_layer_metric_holds_the_validation_pass_after_fit_with_validation(keras):
    data, val = _data(10, 0), _data(6, 1)
    model, endpoint = _endpoint_model()
    history = model.fit(
        data, epochs=1, batch_size=4, shuffle=False, verbose=0, validation_data=(val,)
    )
    expected = _keras_accuracy(keras, model, val, 4)
    assert not np.isclose(expected, _keras_accuracy(keras, model, data, 4))
    np.testing.assert_allclose(float(endpoint.accuracy_fn.result()), expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["val_binary_accuracy"][-1], expected, rtol=1e-6)


def test_layer_metric_holds_the_evaluation_after_evaluate(keras):
    data, other = _data(10, 0), _data(7, 2)
    model, endpoint = _endpoint_model()
    model.fit(data, epochs=1, batch_size=4, shuffle=False, verbose=0)
    _, acc = model.evaluate(other, batch_size=3, verbose=0)
    expected = _keras_accuracy(keras, model, other, 3)
    np.testing.assert_allclose(acc, expected, rtol=1e-6)
    np.testing.assert_allclose(float(endpoint.accuracy_fn.result()), expected, rtol=1e-6)
    model.predict(other, verbose=0)  # predict leaves the metrics alone (Keras)
    np.testing.assert_allclose(float(endpoint.accuracy_fn.result()), expected, rtol=1e-6)


def test_callbacks_see_the_layer_metric_as_keras_syncs_it():
    data = _data(12, 0)
    model, endpoint = _endpoint_model()
    seen = {"batch": [], "epoch_begin": [], "epoch_end": []}

    class Watch(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen["epoch_begin"].append(float(endpoint.accuracy_fn.result()))

        def on_train_batch_end(self, batch, logs=None):
            seen["batch"].append((float(endpoint.accuracy_fn.result()), logs["binary_accuracy"]))

        def on_epoch_end(self, epoch, logs=None):
            seen["epoch_end"].append(
                (float(endpoint.accuracy_fn.result()), logs["binary_accuracy"])
            )

    model.fit(data, epochs=2, batch_size=4, shuffle=False, verbose=0, callbacks=[Watch()])
    assert len(seen["batch"]) == 6
    for got, logged in seen["batch"] + seen["epoch_end"]:
        np.testing.assert_allclose(got, logged, rtol=1e-6)
    assert seen["epoch_begin"] == [0.0, 0.0]  # reset before each epoch, as Keras does


def test_compiled_metrics_results_after_fit_and_evaluate_match_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = rng.normal(size=(20, 2)).astype("float32")
    x2, y2 = x[:7] + 1.0, y[:7] - 1.0
    seen = []

    def record(lib):
        class Begin(lib.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                seen.append({k: float(v) for k, v in self.model.get_metrics_result().items()})

        return Begin()

    with keras_ref():
        km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        w = km.get_weights()
        km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[record(keras)])
        k_fit = {k: float(v) for k, v in km.get_metrics_result().items()}
        km.evaluate(x2, y2, batch_size=4, verbose=0)
        k_eval = {k: float(v) for k, v in km.get_metrics_result().items()}
    k_seen, seen[:] = list(seen), []
    m = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    m.compile(optimizer=lamina.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    m.set_weights(w)
    m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[record(lamina)])
    fit_res = {k: float(v) for k, v in m.get_metrics_result().items()}
    assert sorted(fit_res) == sorted(k_fit)
    for k in k_fit:
        np.testing.assert_allclose(fit_res[k], k_fit[k], rtol=1e-5)
    m.evaluate(x2, y2, batch_size=4, verbose=0)
    eval_res = {k: float(v) for k, v in m.get_metrics_result().items()}
    for k in k_eval:
        np.testing.assert_allclose(eval_res[k], k_eval[k], rtol=1e-5)
    assert seen == k_seen  # each epoch starts from reset metrics


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_layer_metric_after_fit_whatever_the_execution_size(keras, steps_per_execution):
    data = _data(11, 3)
    model, endpoint = _endpoint_model()
    model.compile(optimizer=lamina.optimizers.SGD(0.0), steps_per_execution=steps_per_execution)
    model.fit(data, epochs=1, batch_size=2, shuffle=False, verbose=0)
    expected = _keras_accuracy(keras, model, data, 2)
    np.testing.assert_allclose(float(endpoint.accuracy_fn.result()), expected, rtol=1e-6)
