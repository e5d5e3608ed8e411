"""Subclassed models (``class MyModel(Model)`` with ``__init__`` + ``call``) against real Keras 3:
the same class body runs on both; fits agree to float32 rounding, and ``.keras`` files move
both ways (the class registered on each side under the same name)."""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 2e-5


def _model_class(K, package):
    @K.saving.register_keras_serializable(package=package)
    class TwoTower(K.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.left = K.layers.Dense(6, activation="relu")
            self.right = K.layers.Dense(6, activation="tanh")
            self.blocks = [K.layers.Dense(4), K.layers.Dense(4)]
            self.head = K.layers.Dense(1, activation="sigmoid")
            self.dropout = K.layers.Dropout(0.0)

        def call(self, inputs, training=False):
            h = self.left(inputs) * self.right(inputs)
            for block in self.blocks:
                h = block(h)
            return self.head(self.dropout(h, training=training))

    return TwoTower


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2] > 0).astype("float32")


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_subclassed_model_fit_matches_keras(keras):
    x, y = _data()
    with keras_ref():
        km = _model_class(keras, "h2_fit")()
        km(x[:2])
    lm = _model_class(lamina, "h2_fit")()
    lm(x[:2])
    assert [type(la).__name__ for la in lm.layers] == [type(la).__name__ for la in km.layers]
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights]
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    lm.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    lh = lm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=RTOL, atol=ATOL)
    for a, b in zip(lm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    with keras_ref():
        k_pred = km.predict(x, verbose=0)
        k_eval = km.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_pred, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lm.evaluate(x, y, verbose=0), k_eval, rtol=RTOL, atol=ATOL)
    assert lm._trace_counter["train"] == 1
    # train_on_batch / test_on_batch: one step on one batch, as Keras.
    with keras_ref():
        k_step = km.train_on_batch(x[:16], y[:16], return_dict=True)
        k_test = km.test_on_batch(x[16:32], y[16:32], return_dict=True)
    l_step = lm.train_on_batch(x[:16], y[:16], return_dict=True)
    l_test = lm.test_on_batch(x[16:32], y[16:32], return_dict=True)
    np.testing.assert_allclose(l_step["loss"], k_step["loss"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(l_test["loss"], k_test["loss"], rtol=RTOL, atol=ATOL)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_subclassed_model_keras_files_both_ways(keras, tmp_path):
    x, y = _data()
    lm = _model_class(lamina, "h2_io")()
    lm.compile(optimizer="adam", loss="binary_crossentropy")
    lm.fit(x, y, epochs=1, verbose=0)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        _model_class(keras, "h2_io")
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), lm.predict(x, verbose=0), atol=1e-6)
        km.fit(x, y, epochs=1, verbose=0)
        back = os.fspath(tmp_path / "keras.keras")
        km.save(back)
        expected = km.predict(x, verbose=0)
    again = lamina.models.load_model(back)
    assert type(again).__name__ == "TwoTower"
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, atol=1e-6)


def test_subclassed_model_without_call_or_shape_says_how_to_fix():
    class NoCall(lamina.Model):
        pass

    with pytest.raises(NotImplementedError, match="must implement call"):
        NoCall()(np.ones((1, 2), "float32"))

    model = _model_class(lamina, "h2_err")()
    with pytest.raises(ValueError, match="needs an input shape"):
        model.build()
    with pytest.raises(TypeError, match="must be Input"):
        lamina.Model(1, 2)


def test_tf_style_train_step_is_refused_by_name():
    # JAX-style steps run (tests/test_custom_step.py); the tf.GradientTape style cannot.
    class Custom(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            return {}

    model = Custom()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"train_step\(self, data\) has the TensorFlow-style"):
        model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)


def test_first_call_with_a_dict_builds_from_the_dict(keras):
    """Chollet's ``CustomerTicketModel``: the first thing done with the subclassed model is
    ``model({"title": ..., "text_body": ...})``; ``call`` indexes its input by name."""
    from tests.helpers import keras_ref

    def run(k):
        class Ticket(k.Model):
            def __init__(self):
                super().__init__()
                self.concat = k.layers.Concatenate()
                self.dense = k.layers.Dense(1, kernel_initializer="ones")

            def call(self, inputs):
                return self.dense(self.concat([inputs["title"], inputs["body"]]))

        data = {"title": np.ones((4, 3), "float32"), "body": np.full((4, 2), 2.0, "float32")}
        return np.asarray(Ticket()(data))

    with keras_ref():
        want = run(keras)
    np.testing.assert_allclose(run(lamina), want)
