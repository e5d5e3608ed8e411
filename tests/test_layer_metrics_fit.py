"""Metrics a layer holds and updates in ``call`` (Keras 3's guides), and Keras 2's
``add_metric``, in ``fit``/``evaluate``.

Keras 3.15.1's JAX backend cannot run the guide's ``LogisticEndpoint`` in ``fit`` (its
``stateless_call`` leaves the metric's purged variables unmapped: ``'NoneType' object is not
callable``), so the numbers are checked against Keras's metric updated eagerly on the same
batches (the guide's meaning, as the TensorFlow backend runs it), and against NumPy.  The
weights are frozen (``SGD(0.0)``) so every batch sees the same weights.
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

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        self.accuracy_fn.update_state(targets, logits, sample_weights)
        return ops.softmax(logits)


def _data(n=7):
    rng = np.random.RandomState(0)
    return {
        "inputs": rng.standard_normal((n, 3)).astype("float32"),
        "targets": (rng.random_sample((n, 10)) > 0.5).astype("float32"),
        "sample_weights": rng.random_sample((n, 1)).astype("float32"),
    }


def _endpoint_model(**compile_kwargs):
    inputs = lamina.Input(shape=(3,), name="inputs")
    targets = lamina.Input(shape=(10,), name="targets")
    sample_weights = lamina.Input(shape=(1,), name="sample_weights")
    logits = lamina.layers.Dense(10)(inputs)
    preds = LogisticEndpoint(name="predictions")(targets, logits, sample_weights)
    model = lamina.Model(inputs=[inputs, targets, sample_weights], outputs=preds)
    model.compile(optimizer=lamina.optimizers.SGD(0.0), **compile_kwargs)
    return model


def _keras_accuracy(keras, model, data, batch_size):
    """Keras's BinaryAccuracy updated batch by batch on the logits of ``model``'s weights."""
    dense = next(la for la in model.layers if la.get_weights())
    w, b = dense.get_weights()
    logits = data["inputs"] @ w + b
    with keras_ref():
        metric = keras.metrics.BinaryAccuracy()
        for i in range(0, len(logits), batch_size):
            s = slice(i, i + batch_size)
            metric.update_state(data["targets"][s], logits[s], data["sample_weights"][s])
        return float(metric.result())


def test_layer_held_metric_is_logged_by_fit_and_evaluate_as_keras_counts_it(keras):
    data = _data()
    model = _endpoint_model()
    history = model.fit(
        data, epochs=2, batch_size=3, shuffle=False, verbose=0, validation_data=(data,)
    )
    expected = _keras_accuracy(keras, model, data, 3)  # 3 batches, the last of 1 row
    assert sorted(history.history) == [
        "binary_accuracy", "loss", "val_binary_accuracy", "val_loss",
    ]  # fmt: skip
    np.testing.assert_allclose(history.history["binary_accuracy"], [expected] * 2, rtol=1e-6)
    np.testing.assert_allclose(history.history["val_binary_accuracy"], [expected] * 2, rtol=1e-6)
    loss, acc = model.evaluate(data, batch_size=3, verbose=0)
    np.testing.assert_allclose(acc, expected, rtol=1e-6)
    logs = model.evaluate(data, batch_size=4, verbose=0, return_dict=True)
    assert sorted(logs) == ["binary_accuracy", "loss"]
    np.testing.assert_allclose(logs["binary_accuracy"], expected, rtol=1e-6)


def test_layer_metrics_come_after_the_compiled_ones_as_in_keras(keras):
    data, y = _data(), np.zeros((7, 10), "float32")
    model = _endpoint_model(loss="mse", metrics=["mae"])
    model.fit(data, y, epochs=1, batch_size=3, verbose=0)
    with keras_ref():
        k_model = _keras_endpoint_model(keras)
        k_model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        k_names = [m.name for m in k_model.metrics]
    assert [m.name for m in model.metrics] == k_names
    assert k_names == ["loss", "compile_metrics", "binary_accuracy"]
    assert model.metrics_names == ["loss", "mae", "binary_accuracy"]
    values = model.evaluate(data, y, batch_size=3, verbose=0)
    assert len(values) == 3
    np.testing.assert_allclose(values[2], _keras_accuracy(keras, model, data, 3), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{"steps_per_execution": 2}, {"run_eagerly": True}])
def test_layer_metric_is_the_same_per_execution_and_eagerly(keras, kwargs):
    data = _data()
    model = _endpoint_model(**kwargs)
    history = model.fit(data, epochs=1, batch_size=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        history.history["binary_accuracy"], [_keras_accuracy(keras, model, data, 3)], rtol=1e-6
    )


def _keras_endpoint_model(keras):
    class KerasEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.accuracy_fn = keras.metrics.BinaryAccuracy()

        def call(self, targets, logits, sample_weights=None):
            self.accuracy_fn.update_state(targets, logits, sample_weights)
            return keras.ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    sample_weights = keras.Input(shape=(1,), name="sample_weights")
    logits = keras.layers.Dense(10)(inputs)
    preds = KerasEndpoint(name="predictions")(targets, logits, sample_weights)
    return keras.Model(inputs=[inputs, targets, sample_weights], outputs=preds)


def test_predict_and_building_leave_the_layer_metric_unchanged(keras):
    with keras_ref():  # Keras 3.15.1 (JAX): predict runs call statelessly
        k_model = _keras_endpoint_model(keras)
        k_model.predict(_data(), batch_size=3, verbose=0)
        k_result = float(k_model.layers[-1].accuracy_fn.result())
    model = _endpoint_model()  # building on symbolic inputs updated nothing
    metric = model.layers[-1].accuracy_fn
    assert float(metric.result()) == 0.0
    model.predict(_data(), batch_size=3, verbose=0)
    assert float(metric.result()) == k_result == 0.0


class _Activity(lamina.layers.Layer):
    def call(self, inputs):
        self.add_metric(ops.mean(inputs), name="mean_act")
        self.add_metric(ops.sum(inputs, axis=-1), name="row_sum", aggregation="mean")
        return inputs


def _xy(seed=1):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((7, 3)).astype("float32"), rng.standard_normal((7, 1)).astype(
        "float32"
    )


def test_layer_add_metric_logs_the_epoch_mean_as_keras_2():
    x, y = _xy()
    inputs = lamina.Input((3,))
    dense = lamina.layers.Dense(4)
    model = lamina.Model(inputs, lamina.layers.Dense(1)(_Activity()(dense(inputs))))
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    assert model.metrics_names == ["loss", "mean_act", "row_sum"]
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    w, b = dense.get_weights()
    h = x @ w + b
    # Keras 2's Mean: a scalar counts once per batch; a (batch,) value once per row.
    per_batch = [h[0:3].mean(), h[3:6].mean(), h[6:7].mean()]
    np.testing.assert_allclose(history.history["mean_act"], [np.mean(per_batch)], rtol=1e-5)
    np.testing.assert_allclose(history.history["row_sum"], [h.sum(-1).mean()], rtol=1e-5)


def test_functional_model_add_metric_of_a_symbolic_tensor():
    """Keras 2's VAE: ``vae.add_metric(kl_loss, name="kl_loss", aggregation="mean")``."""
    x, y = _xy()
    inputs = lamina.Input((3,))
    z = lamina.layers.Dense(2)(inputs)
    model = lamina.Model(inputs, lamina.layers.Dense(1)(z))
    model.add_metric(ops.sum(ops.square(z), axis=-1), name="kl_loss", aggregation="mean")
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    w, b = model.layers[1].get_weights()
    np.testing.assert_allclose(
        history.history["kl_loss"], [((x @ w + b) ** 2).sum(-1).mean()], rtol=1e-5
    )
    x2, y2 = _xy(seed=3)
    _, kl = model.evaluate(x2, y2, batch_size=4, verbose=0)
    np.testing.assert_allclose(kl, ((x2 @ w + b) ** 2).sum(-1).mean(), rtol=1e-5)


def test_subclassed_model_add_metric_and_metric_call_result():
    x, y = _xy()

    class Model(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(1)
            self.mae = lamina.metrics.MeanAbsoluteError(name="out_mae")

        def call(self, inputs):
            out = self.dense(inputs)
            self.add_metric(ops.mean(out), name="mean_out")
            self.add_metric(self.mae(ops.zeros_like(out), out))  # keeps the metric's name
            return out

    model = Model()
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    w, b = model.dense.get_weights()
    out = x @ w + b
    per_batch = [out[0:3].mean(), out[3:6].mean(), out[6:].mean()]
    np.testing.assert_allclose(history.history["mean_out"], [np.mean(per_batch)], rtol=1e-5)
    np.testing.assert_allclose(history.history["out_mae"], [np.abs(out).mean()], rtol=1e-5)


def test_add_metric_errors_name_what_keras_2_expected():
    layer = lamina.layers.Dense(1)
    with pytest.raises(ValueError, match="needs a name"):
        layer.add_metric(np.ones(2))
    with pytest.raises(ValueError, match="only aggregation='mean'"):
        layer.add_metric(np.ones(2), name="m", aggregation="sum")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        layer.add_metric(np.ones(2), name="m", reduction="x")
    inputs = lamina.Input((3,))
    with pytest.raises(ValueError, match="symbolic tensor outside a call"):
        lamina.layers.Dense(1).add_metric(inputs, name="m")


def test_layer_metric_resets_for_evaluate(keras):
    data = _data()
    model = _endpoint_model()
    model.fit(data, epochs=1, batch_size=3, verbose=0)
    head = {k: v[:4] for k, v in data.items()}
    _, acc = model.evaluate(head, batch_size=3, verbose=0)
    np.testing.assert_allclose(acc, _keras_accuracy(keras, model, head, 3), rtol=1e-6)


class _MaeEndpoint(lamina.layers.Layer):
    """Tracks the MAE of its input against the targets, as ``compile(metrics=["mae"])``
    tracks the model's output against ``y``."""

    def __init__(self):
        super().__init__()
        self.tracker = lamina.metrics.MeanAbsoluteError(name="held_mae")

    def call(self, targets, outputs):
        self.tracker.update_state(targets, outputs)
        return outputs


@pytest.mark.parametrize("build", ["functional", "sequential"])
def test_layer_metric_equals_the_compiled_metric_while_training(build):
    """With the weights moving every step (Adam), a short last batch and validation data, the
    metric a layer updates in ``call`` logs what the compiled ``mae`` logs."""
    rng = np.random.RandomState(2)
    x = rng.standard_normal((11, 3)).astype("float32")
    y = rng.standard_normal((11, 2)).astype("float32")
    if build == "functional":
        inputs, targets = lamina.Input((3,)), lamina.Input((2,))
        out = _MaeEndpoint()(targets, lamina.layers.Dense(2)(inputs))
        model, feed = lamina.Model([inputs, targets], out), [x, y]
    else:

        class Tracker(_MaeEndpoint):
            def call(self, outputs):  # the targets are the outputs' own zeros here
                return super().call(ops.zeros_like(outputs), outputs)

        model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2), Tracker()])
        feed, y = x, np.zeros_like(y)
    model.compile("adam", "mse", metrics=["mae"])
    history = model.fit(
        feed, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(feed, y)
    ).history
    for key in ("mae", "val_mae"):
        np.testing.assert_allclose(
            history[key.replace("mae", "held_mae")], history[key], rtol=1e-5
        )


def test_add_metric_made_only_in_training_is_logged_by_the_first_fit():
    """Keras 2 code adds some metrics only ``if training``: the first ``fit`` logs them
    (``evaluate`` logs their reset value, 0, as Keras 2 logs every metric of the model)."""
    x, y = _xy()

    class TrainOnly(lamina.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                self.add_metric(ops.mean(inputs), name="train_mean")
            return inputs

    inputs = lamina.Input((3,))
    model = lamina.Model(inputs, lamina.layers.Dense(1)(TrainOnly()(inputs)))
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    per_batch = [x[0:3].mean(), x[3:6].mean(), x[6:].mean()]
    np.testing.assert_allclose(history.history["train_mean"], [np.mean(per_batch)], rtol=1e-5)
    x2, y2 = _xy(seed=3)
    assert model.evaluate(x2, y2, verbose=0, return_dict=True)["train_mean"] == 0.0


def test_homl_reconstructing_regressor_logs_its_reconstruction_error():
    """HOML 2nd ed., ch. 12: ``result = self.reconstruction_mean(recon_loss)`` then
    ``self.add_metric(result)`` when training; the metric keeps its own name."""
    x, y = _xy()

    class ReconstructingRegressor(lamina.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lamina.layers.Dense(4)
            self.out = lamina.layers.Dense(1)
            self.reconstruct = lamina.layers.Dense(3)
            self.reconstruction_mean = lamina.metrics.Mean(name="reconstruction_error")

        def call(self, inputs, training=None):
            z = self.hidden(inputs)
            recon_loss = ops.mean(ops.square(self.reconstruct(z) - inputs))
            self.add_loss(0.05 * recon_loss)
            if training:
                result = self.reconstruction_mean(recon_loss)
                self.add_metric(result)
            return self.out(z)

    model = ReconstructingRegressor()
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0).history
    hw, hb = model.hidden.get_weights()
    rw, rb = model.reconstruct.get_weights()
    recon = ((x @ hw + hb) @ rw + rb - x) ** 2
    per_batch = [recon[0:3].mean(), recon[3:6].mean(), recon[6:].mean()]
    np.testing.assert_allclose(history["reconstruction_error"], [np.mean(per_batch)] * 2, rtol=1e-5)


def test_keras2_vae_add_metric_reads_a_nested_encoder():
    """Keras 2's VAE example: ``vae.add_metric(kl_loss, name="kl_loss", aggregation="mean")``
    with ``kl_loss`` built from the tensors of an encoder model the VAE calls."""
    rng = np.random.RandomState(4)
    x = rng.standard_normal((7, 3)).astype("float32")
    inputs = lamina.Input((3,))
    dense_mean, dense_log_var = lamina.layers.Dense(2), lamina.layers.Dense(2)
    encoder = lamina.Model(inputs, [dense_mean(inputs), dense_log_var(inputs)])
    latent = lamina.Input((2,))
    decoder = lamina.Model(latent, lamina.layers.Dense(3)(latent))
    vae_inputs = lamina.Input((3,))
    z_mean, z_log_var = encoder(vae_inputs)
    vae = lamina.Model(vae_inputs, decoder(z_mean))
    kl_loss = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
    vae.add_loss(ops.mean(kl_loss))
    vae.add_metric(kl_loss, name="kl_loss", aggregation="mean")
    vae.compile(lamina.optimizers.SGD(0.0), "mse")
    history = vae.fit(x, x, batch_size=3, epochs=1, shuffle=False, verbose=0).history
    m = x @ dense_mean.get_weights()[0] + dense_mean.get_weights()[1]
    lv = x @ dense_log_var.get_weights()[0] + dense_log_var.get_weights()[1]
    expected = (-0.5 * (1 + lv - m**2 - np.exp(lv)).sum(-1)).mean()
    np.testing.assert_allclose(history["kl_loss"], [expected], rtol=1e-5)
