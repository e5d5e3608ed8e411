"""A subclassed model whose ``call`` takes no ``training`` argument: Keras 3's trainer does
not pass the mode, so the layers inside run in inference mode during ``fit`` (no dropout,
BatchNormalization on its moving statistics).  Lamina matches the numbers and warns."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _models(lib):
    class NoArg(lib.Model):
        def __init__(self):
            super().__init__()
            self.d = lib.layers.Dense(1, kernel_initializer="ones")
            self.drop = lib.layers.Dropout(0.5)
            self.bn = lib.layers.BatchNormalization()

        def call(self, x):
            return self.d(self.bn(self.drop(x)))

    class WithArg(NoArg):
        def call(self, x, training=None):
            return self.d(self.bn(x, training=training))

    return NoArg, WithArg


def _fit(lib, cls, x, y):
    model = cls()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    return history["loss"], np.asarray(model.bn.moving_mean), model.get_weights()


def test_fit_matches_keras_with_and_without_a_training_argument(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32") + 1.0
    y = rng.normal(size=(16, 1)).astype("float32")
    no_arg, with_arg = _models(lamina)
    with pytest.warns(UserWarning, match=r"takes no `training` argument.*inference mode"):
        got_no = _fit(lamina, no_arg, x, y)
    got_with = _fit(lamina, with_arg, x, y)
    with keras_ref():
        k_no, k_with = _models(keras)
        want_no, want_with = _fit(keras, k_no, x, y), _fit(keras, k_with, x, y)
    for got, want in ((got_no, want_no), (got_with, want_with)):
        np.testing.assert_allclose(got[0], want[0], rtol=2e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)
    assert np.allclose(got_no[1], 0.0)  # inference mode: the moving mean never moved
    assert not np.allclose(got_with[1], 0.0)


def test_no_warning_when_nothing_trains_differently():
    class Plain(lamina.Model):
        def __init__(self):
            super().__init__()
            self.d = lamina.layers.Dense(1)

        def call(self, x):
            return self.d(x)

    model = Plain()
    model.compile(optimizer="sgd", loss="mse")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)


def test_a_nested_model_without_the_argument_follows_its_caller(keras):
    """Inside a functional model, the caller's mode reaches the nested model's layers."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32") + 1.0
    y = rng.normal(size=(16, 1)).astype("float32")

    def build(lib, inner):
        inputs = lib.Input((3,))
        return lib.Model(inputs, inner()(inputs))

    class BNOnly:
        @staticmethod
        def make(lib):
            class Inner(lib.Model):
                def __init__(self):
                    super().__init__()
                    self.bn = lib.layers.BatchNormalization()
                    self.d = lib.layers.Dense(1, kernel_initializer="ones")

                def call(self, x):
                    return self.d(self.bn(x))

            return Inner

    model = build(lamina, BNOnly.make(lamina))
    model.compile(optimizer="sgd", loss="mse")
    got = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    with keras_ref():
        ref = build(keras, BNOnly.make(keras))
        ref.compile(optimizer="sgd", loss="mse")
        want = ref.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_no_warning_for_a_custom_layer_drawing_in_a_call_without_training():
    """Keras's "intro for engineers" ``MyDropout``: its ``call`` takes no ``training``, so it
    draws in both modes and the model's missing argument changes nothing about it."""

    class MyDropout(lamina.layers.Layer):
        def __init__(self, rate):
            super().__init__()
            self.rate = rate
            self.seed_generator = lamina.random.SeedGenerator(1337)

        def call(self, inputs):
            return lamina.random.dropout(inputs, self.rate, seed=self.seed_generator)

    class Net(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dp = MyDropout(0.5)
            self.d = lamina.layers.Dense(1)

        def call(self, x):
            return self.d(self.dp(x))

    model = Net()
    model.compile(optimizer="sgd", loss="mse")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    out = model.predict(np.ones((64, 3)), verbose=0)
    assert len(np.unique(np.round(out, 5))) > 1  # still drawing: a fresh mask per row
