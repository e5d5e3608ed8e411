"""Keras-style custom layers, metrics and losses (``build``/``add_weight``/``call``,
``add_variable``/``update_state``/``result``, ``Loss.call``), written once and run by both
real Keras 3 and Lamina: same starting weights, ``shuffle=False``, same numbers."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 2e-5


def _classes(K):
    """The user's code, as the Keras guide writes it; ``K`` is ``keras`` or ``lamina``."""

    class Linear(K.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units), initializer="random_normal", name="w"
            )
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

        def call(self, inputs, training=None):
            if training:
                self.seen.assign_add(K.ops.cast(K.ops.shape(inputs)[0], "float32"))
            return K.ops.tanh(K.ops.matmul(inputs, self.w) + self.b)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class Residual(K.layers.Layer):
        """A layer holding sub-layers (built on first call, as in Keras)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = K.layers.Dense(4, activation="relu")
            self.norm = K.layers.BatchNormalization()

        def call(self, inputs, training=None):
            return inputs + self.norm(self.inner(inputs), training=training)

    class Positives(K.metrics.Metric):
        def __init__(self, name="positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = K.ops.cast(K.ops.equal(y_true > 0.5, y_pred > 0.5), "float32")
            if sample_weight is not None:
                hit = hit * K.ops.reshape(sample_weight, K.ops.shape(hit))
                n = K.ops.sum(sample_weight)
            else:
                n = K.ops.cast(K.ops.shape(hit)[0], "float32")
            self.hits.assign_add(K.ops.sum(hit))
            self.total.assign_add(n)

        def result(self):
            return self.hits / K.ops.maximum(self.total, 1.0)

        def reset_state(self):
            self.hits.assign(0.0)
            self.total.assign(0.0)

    class ScaledMSE(K.losses.Loss):
        def __init__(self, scale=2.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * K.ops.mean(K.ops.square(y_true - y_pred), axis=-1)

    return Linear, Residual, Positives, ScaledMSE


def _fit_both(keras, build, x, y, *, loss, metrics=(), epochs=3, batch_size=16):
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(optimizer="adam", loss=loss(keras), metrics=metrics(keras))
        kh = km.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    lm.compile(optimizer="adam", loss=loss(lamina), metrics=metrics(lamina))
    lh = lm.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    assert sorted(lh.history) == sorted(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=RTOL, atol=ATOL, err_msg=k)
    for a, b in zip(lm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    with keras_ref():
        k_eval = km.evaluate(x, y, verbose=0)
        k_pred = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.evaluate(x, y, verbose=0), k_eval, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_pred, rtol=RTOL, atol=ATOL)
    return km, lm


def _data(n=48, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, :1] - x[:, 1:2] > 0).astype("float32")


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_custom_layer_with_add_weight_and_ops_matches_keras(keras):
    def build(K):
        linear = _classes(K)[0]
        inputs = K.Input((5,))
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(linear(6)(inputs)))

    x, y = _data()
    km, lm = _fit_both(
        keras, build, x, y, loss=lambda K: "binary_crossentropy", metrics=lambda K: ["accuracy"]
    )
    # The non-trainable weight was updated by assign inside the compiled step, as in Keras.
    assert float(lm.layers[1].seen.numpy()) == 3 * 48
    np.testing.assert_allclose(lm.layers[1].seen.numpy(), km.layers[1].seen.numpy())


def test_custom_layer_with_sublayers_matches_keras(keras):
    def build(K):
        residual = _classes(K)[1]
        inputs = K.Input((4,))
        return K.Model(inputs, K.layers.Dense(1)(residual()(inputs)))

    x, _ = _data(features=4)
    km, lm = _fit_both(keras, build, x, x[:, :1] * 3, loss=lambda K: "mse", metrics=lambda K: [])
    layer = lm.layers[1]
    assert [w.shape for w in layer.weights] == [(4, 4), (4,), (4,), (4,), (4,), (4,)]
    np.testing.assert_allclose(layer.inner.kernel.numpy(), km.layers[1].inner.kernel, atol=ATOL)


def test_custom_metric_with_add_variable_matches_keras(keras):
    def build(K):
        inputs = K.Input((5,))
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(inputs))

    x, y = _data()  # 48 rows, batch 16: no padded batch
    _fit_both(
        keras,
        build,
        x,
        y,
        loss=lambda K: "binary_crossentropy",
        metrics=lambda K: [_classes(K)[2](), "accuracy"],
    )


def test_custom_loss_subclass_matches_keras(keras):
    def build(K):
        inputs = K.Input((5,))
        return K.Sequential([inputs, K.layers.Dense(3), K.layers.Dense(2)])

    x, _ = _data(n=45)
    y = np.stack([x[:, 0], x[:, 1] * 2], axis=1)
    _fit_both(keras, build, x, y, loss=lambda K: _classes(K)[3](scale=3.0), metrics=lambda K: [])


def test_weights_created_in_init_and_eager_calls():
    class Scale(lamina.layers.Layer):
        def __init__(self, n, **kwargs):
            super().__init__(**kwargs)
            self.scale = self.add_weight(shape=(n,), initializer="ones", name="scale")

        def call(self, inputs):
            return inputs * self.scale

    layer = Scale(3)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(layer(x), x)
    layer.set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    np.testing.assert_allclose(layer(x), x * [1.0, 2.0, 3.0])
    assert [w.name for w in layer.trainable_weights] == ["scale"]
    with pytest.raises(ValueError, match="expects 1 weight arrays"):
        layer.set_weights([])


def test_assign_to_a_trainable_variable_in_call_is_refused():
    class Bad(lamina.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            self.w.assign(self.w * 2.0)
            return inputs * self.w

    with pytest.raises(NotImplementedError, match="trainable=False"):
        Bad()(lamina.Input((2,)))


def test_layer_without_call_or_apply_says_what_to_implement():
    class Empty(lamina.layers.Layer):
        pass

    with pytest.raises(NotImplementedError, match="defines neither call"):
        Empty().apply({}, {}, np.ones((1, 2), "float32"))


def test_custom_layer_model_compiles_once_per_shape():
    linear = _classes(lamina)[0]
    inputs = lamina.Input((5,))
    model = lamina.Model(inputs, lamina.layers.Dense(1)(linear(3)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    x, y = _data(n=53)
    model.fit(x, y, batch_size=10, epochs=3, verbose=0)
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    # predict: its 64-row tile, and once Keras's 32-row first batch, which tells whether the
    # custom layer mixes the rows of a batch (lamina.training.row_mixing)
    assert model._trace_counter == {"train": 1, "eval": 1, "predict": 2}


def test_add_loss_in_call_joins_the_training_loss_as_in_keras(keras):
    def build(K):
        class ActivityPenalty(K.layers.Layer):
            def __init__(self, rate=0.1, **kwargs):
                super().__init__(**kwargs)
                self.rate = rate

            def call(self, inputs):
                self.add_loss(self.rate * K.ops.mean(K.ops.square(inputs)))
                return inputs

        inputs = K.Input((5,))
        h = ActivityPenalty(0.5)(K.layers.Dense(3)(inputs))
        return K.Model(inputs, K.layers.Dense(1)(h))

    x, _ = _data(n=32)
    _fit_both(keras, build, x, x[:, :1], loss=lambda K: "mse", metrics=lambda K: [])


def test_add_loss_directly_in_a_sequential_joins_the_loss_as_in_keras(keras):
    def build(K):
        class Penalty(K.layers.Layer):
            def call(self, inputs):
                self.add_loss(0.3 * K.ops.mean(K.ops.square(inputs)))
                return inputs

        return K.Sequential([K.Input((5,)), K.layers.Dense(3), Penalty(), K.layers.Dense(1)])

    x, _ = _data(n=32)
    _fit_both(keras, build, x, x[:, :1], loss=lambda K: "mse", metrics=lambda K: [])
