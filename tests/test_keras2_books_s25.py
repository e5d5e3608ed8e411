"""Code of two books' notebooks, run as written under ``import lamina as keras``.

Géron's "Hands-On Machine Learning" (2nd ed., chapters 11-12) and Chollet's "Deep Learning
with Python" (1st ed., chapter 3) were written for tf.keras 2 / Keras 2.2.  Where Keras 3 runs
the same code the numbers are compared with it; where it refuses the code (a metric's
``add_weight("total", ...)``, ``layer.updates``, ``history.history['val_mean_absolute_error']``)
the reference is tf.keras 2's documented meaning, computed with NumPy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref


def _create_huber(lib, threshold=1.0):
    """The book's ``create_huber`` (chapter 12), written against ``lib``."""

    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = lib.ops.abs(error) < threshold
        squared_loss = lib.ops.square(error) / 2
        linear_loss = threshold * lib.ops.abs(error) - threshold**2 / 2
        return lib.ops.where(is_small_error, squared_loss, linear_loss)

    return huber_fn


def _huber_numpy(y_true, y_pred, threshold):
    error = np.abs(y_true - y_pred)
    return np.where(error < threshold, error**2 / 2, threshold * error - threshold**2 / 2)


def _huber_metric_class(lib, keras2_order=True):
    """Chapter 12's streaming ``HuberMetric``: ``add_weight("total", initializer="zeros")`` is
    tf.keras 2's name-first order (Keras 3 reads the name as the shape and fails), so Keras 3
    runs the keyword spelling of the same metric."""

    class HuberMetric(lib.metrics.Metric):
        def __init__(self, threshold=1.0, **kwargs):
            super().__init__(**kwargs)
            self.threshold = threshold
            self.huber_fn = _create_huber(lib, threshold)
            if keras2_order:
                self.total = self.add_weight("total", initializer="zeros")
                self.count = self.add_weight("count", initializer="zeros")
            else:
                self.total = self.add_weight(name="total", initializer="zeros")
                self.count = self.add_weight(name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            metric = self.huber_fn(y_true, y_pred)
            self.total.assign_add(lib.ops.sum(metric))
            self.count.assign_add(lib.ops.cast(lib.ops.size(y_true), "float32"))

        def result(self):
            return self.total / self.count

        def get_config(self):
            base_config = super().get_config()
            return {**base_config, "threshold": self.threshold}

    return HuberMetric


def test_metric_add_weight_takes_keras2_name_first(keras):
    """``self.add_weight("total", initializer="zeros")`` in a ``Metric``: the book's streaming
    values (14 then 7) and the variables Keras 3 makes from the keyword spelling."""
    ours = _huber_metric_class(lamina)(2.0)
    with keras_ref():
        ref = _huber_metric_class(keras, keras2_order=False)(2.0)
    got, want = [], []
    for y_true, y_pred in [([[2.0]], [[10.0]]), ([[0.0], [5.0]], [[1.0], [9.25]])]:
        y_true, y_pred = np.array(y_true, "float32"), np.array(y_pred, "float32")
        got.append(float(ours(y_true, y_pred)))
        with keras_ref():
            want.append(float(ref(y_true, y_pred)))
    assert got == want == [14.0, 7.0]
    assert [v.name for v in ours.variables] == ["total", "count"]
    np.testing.assert_allclose([np.asarray(v) for v in ours.variables], [21.0, 3.0])
    with pytest.raises(TypeError, match="multiple values"):
        ours.add_weight("extra", (), name="again")


def test_streaming_metric_in_evaluate_matches_numpy(tmp_path):
    """The book's model compiled with the streaming ``HuberMetric``: evaluate's value is the
    Huber mean over every row, and ``load_model`` with ``custom_objects`` keeps it."""
    keras = lamina
    HuberMetric = _huber_metric_class(lamina)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype("float32")
    y = rng.normal(size=(50, 1)).astype("float32") * 3
    model = keras.models.Sequential(
        [
            keras.layers.Dense(
                30, activation="selu", kernel_initializer="lecun_normal", input_shape=[8]
            ),
            keras.layers.Dense(1),
        ]
    )
    metric = HuberMetric(2.0)  # named "huber_metric" or, after others, "huber_metric_1"...
    model.compile(loss=_create_huber(lamina, 2.0), optimizer="nadam", metrics=[metric])
    model.fit(x, y, epochs=1, verbose=0)
    want = _huber_numpy(y, model.predict(x, verbose=0), 2.0).mean()
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs[metric.name], want, rtol=1e-5)
    model.save(tmp_path / "my_model_with_a_custom_metric.h5")
    loaded = keras.models.load_model(
        tmp_path / "my_model_with_a_custom_metric.h5",
        custom_objects={"huber_fn": _create_huber(lamina, 2.0), "HuberMetric": HuberMetric},
    )
    again = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(again[metric.name], want, rtol=1e-5)


def test_model_metrics_last_reads_the_compiled_metric(tmp_path):
    """tf.keras 2 listed the compiled metrics in ``model.metrics``; the book reads the loaded
    metric's threshold as ``model.metrics[-1].threshold`` (2.0)."""
    HuberMetric = _huber_metric_class(lamina)
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=[HuberMetric(2.0)])
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = lamina.models.load_model(
        tmp_path / "m.h5", custom_objects={"HuberMetric": HuberMetric}
    )
    loaded.fit(x, y, verbose=0)
    assert loaded.metrics[-1].threshold == 2.0
    assert loaded.metrics[-1].name == "compile_metrics"  # Keras 3's own attributes win
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        _ = loaded.metrics[-1].not_there


def _weighted_only(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="ones")])
    model.compile("sgd", "mse", weighted_metrics=[lib.metrics.MeanAbsoluteError(name="hm")])
    return model


def test_weighted_metrics_alone_are_model_metrics(keras):
    """``compile(weighted_metrics=[...])`` without ``metrics=`` (the book's ``HuberMetric``
    as a weighted metric): ``model.metrics`` and ``get_metrics_result()`` as Keras 3's."""
    x = np.arange(12, dtype="float32").reshape(4, 3) / 10
    y = np.ones((4, 1), "float32")
    w = np.array([1.0, 0.0, 2.0, 3.0], "float32")
    ours = _weighted_only(lamina)
    ours.evaluate(x, y, sample_weight=w, verbose=0)
    with keras_ref():
        ref = _weighted_only(keras)
        ref.evaluate(x, y, sample_weight=w, verbose=0)
        want_names = [m.name for m in ref.metrics]
        want = {k: float(v) for k, v in ref.get_metrics_result().items()}
    assert [m.name for m in ours.metrics] == want_names == ["loss", "compile_metrics"]
    got = {k: float(v) for k, v in ours.get_metrics_result().items()}
    assert sorted(got) == sorted(want)
    np.testing.assert_allclose(got["hm"], want["hm"], rtol=1e-6)


class AddGaussianNoise(lamina.layers.Layer):
    """Chapter 12's layer: noise only when training, drawn unseeded (Keras 2 drew fresh
    numbers at every run of its graph; Keras 3 refuses an unseeded draw while tracing)."""

    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def call(self, X, training=None):
        if training:
            noise = K.random_normal(lamina.ops.shape(X), stddev=self.stddev)
            return X + noise
        else:
            return X

    def compute_output_shape(self, batch_input_shape):
        return batch_input_shape


def _noise_models():
    sum_layer = {"kernel_initializer": "ones", "use_bias": False}
    yield lamina.models.Sequential(
        [AddGaussianNoise(stddev=1.0), lamina.layers.Dense(1, **sum_layer)]
    )
    yield lamina.models.Sequential(
        [
            lamina.layers.InputLayer(input_shape=(8,)),
            AddGaussianNoise(1.0),
            lamina.layers.Dense(1, **sum_layer),
        ]
    )
    inputs = lamina.Input((8,))
    yield lamina.Model(inputs, lamina.layers.Dense(1, **sum_layer)(AddGaussianNoise(1.0)(inputs)))


@pytest.mark.parametrize("index", [0, 1, 2], ids=["sequential", "input_layer", "functional"])
def test_training_only_unseeded_noise_layer(index):
    """The layer adds N(0, 1) noise to each of 8 inputs in ``fit`` (a sum's MSE of about 8)
    and none in ``evaluate``/``predict`` (the sum exactly), at every step anew."""
    model = list(_noise_models())[index]
    model.compile(loss="mse", optimizer=lamina.optimizers.SGD(learning_rate=0.0))
    x = np.random.default_rng(1).normal(size=(512, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    losses = model.fit(x, y, epochs=2, batch_size=64, verbose=0).history["loss"]
    assert all(5.0 < v < 11.0 for v in losses) and losses[0] != losses[1]
    assert model.evaluate(x, y, verbose=0) < 1e-8
    np.testing.assert_allclose(model.predict(x, verbose=0), y, rtol=1e-5, atol=1e-5)


def test_history_reads_keras22_metric_function_names():
    """Deep Learning with Python's K-fold loop (Boston housing) reads
    ``history.history['val_mean_absolute_error']`` after ``metrics=['mae']``: Keras 2.2
    logged a metric under its function's name; the keys stay Keras 3's."""
    rng = np.random.default_rng(0)
    train_data, train_targets = rng.random((40, 13)), rng.random(40) * 50
    model = lamina.models.Sequential()
    model.add(lamina.layers.Dense(8, activation="relu", input_shape=(train_data.shape[1],)))
    model.add(lamina.layers.Dense(1))
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    stop = lamina.callbacks.EarlyStopping(monitor="val_mean_absolute_error", patience=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "metric not available" warning from the callback
        history = model.fit(
            train_data[:30],
            train_targets[:30],
            validation_data=(train_data[30:], train_targets[30:]),
            epochs=3,
            batch_size=1,
            verbose=0,
            callbacks=[stop],
        )
    mae_history = history.history["val_mean_absolute_error"]
    assert mae_history == history.history["val_mae"] and "mean_absolute_error" in history.history
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    with pytest.raises(KeyError, match="val_mean_squared_error"):
        history.history["val_mean_squared_error"]


def test_layer_updates_is_tf2s_empty_list(keras):
    """Chapter 11 prints ``bn1.updates`` (tf.keras 2 in eager mode: ``[]``, with a deprecation
    warning); Keras 3 has no such attribute."""
    model = lamina.models.Sequential(
        [
            lamina.layers.Flatten(input_shape=[28, 28]),
            lamina.layers.BatchNormalization(),
            lamina.layers.Dense(10, activation="softmax"),
        ]
    )
    bn1 = model.layers[1]
    with pytest.warns(UserWarning, match="updates"):
        assert bn1.updates == []
    with pytest.warns(UserWarning, match="updates"):
        assert model.updates == []
    assert [(var.name, var.trainable) for var in bn1.variables] == [
        ("gamma", True),
        ("beta", True),
        ("moving_mean", False),
        ("moving_variance", False),
    ]
    with keras_ref():
        assert not hasattr(keras.layers.BatchNormalization(), "updates")


def test_optimizer_v2_subclass_is_refused_by_name():
    """Chapter 12's ``MyMomentumOptimizer`` calls ``super().__init__(name, **kwargs)`` and
    overrides tf.keras 2's ``_resource_apply_dense``: an error naming that API, not a
    learning-rate type error."""

    class MyMomentumOptimizer(lamina.optimizers.Optimizer):
        def __init__(self, learning_rate=0.001, momentum=0.9, name="MyMomentumOptimizer", **kw):
            super().__init__(name, **kw)
            self._set_hyper("learning_rate", kw.get("lr", learning_rate))

    with pytest.raises(ValueError, match="OptimizerV2.*_resource_apply_dense"):
        MyMomentumOptimizer()
