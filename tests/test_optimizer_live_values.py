"""``optimizer.iterations`` and ``optimizer.learning_rate`` after and during training, as Keras 3
reports them: the step count of the fits so far, the rate the next step uses (a schedule's
current value, a callback's new rate), ``assign``/``numpy`` on a constant rate."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")


def _model(keras, optimizer):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    m.compile(optimizer, "mse")
    return m


def test_iterations_and_scheduled_rate_after_fits_match_keras(keras):
    x, y = _data()
    with keras_ref():
        ks = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        km = _model(keras, keras.optimizers.SGD(ks))
        km.fit(x, y, batch_size=8, epochs=2, verbose=0)
        km.fit(x, y, batch_size=16, epochs=1, verbose=0)
        k_it, k_lr = int(km.optimizer.iterations), float(km.optimizer.learning_rate)
    ls = lamina.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    lm = _model(lamina, lamina.optimizers.SGD(ls))
    lm.fit(x, y, batch_size=8, epochs=2, verbose=0)
    lm.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert int(lm.optimizer.iterations) == k_it == 13
    assert float(lm.optimizer.learning_rate) == pytest.approx(k_lr, rel=1e-6)


def test_constant_rate_assign_and_numpy_like_a_keras_variable(keras):
    x, y = _data()
    with keras_ref():
        km = _model(keras, keras.optimizers.Adam(0.01))
        km.optimizer.learning_rate.assign(0.002)
        km.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        k_rate = km.optimizer.learning_rate.numpy()
    lm = _model(lamina, lamina.optimizers.Adam(0.01))
    lm.optimizer.learning_rate.assign(0.002)
    lm.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert lm.optimizer.learning_rate.numpy() == k_rate == np.float32(0.002)


def test_rate_set_by_a_callback_is_what_learning_rate_reads(keras):
    x, y = _data()

    def halve(epoch, lr):
        return lr / 2

    with keras_ref():
        km = _model(keras, keras.optimizers.SGD(0.1))
        km.fit(x, y, epochs=3, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(halve)])
        k_rate = float(km.optimizer.learning_rate)
    lm = _model(lamina, lamina.optimizers.SGD(0.1))
    lm.fit(x, y, epochs=3, verbose=0, callbacks=[lamina.callbacks.LearningRateScheduler(halve)])
    assert float(lm.optimizer.learning_rate) == pytest.approx(k_rate) == pytest.approx(0.0125)
