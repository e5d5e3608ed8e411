"""A subclassed model returning several outputs (the wide-and-deep model of "Hands-On Machine
Learning", chapter 10): built from tuple inputs, one loss per output with ``loss_weights``,
and the same losses as real Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _wide_and_deep(keras):
    class WideAndDeep(keras.Model):
        def __init__(self, units=8, **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = keras.layers.Dense(units, activation="relu")
            self.hidden2 = keras.layers.Dense(units, activation="relu")
            self.main_output = keras.layers.Dense(1)
            self.aux_output = keras.layers.Dense(1)

        def call(self, inputs):
            input_a, input_b = inputs
            hidden2 = self.hidden2(self.hidden1(input_b))
            concat = keras.layers.concatenate([input_a, hidden2])
            return self.main_output(concat), self.aux_output(hidden2)

    return WideAndDeep()


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (2 * x[:, 0] + x[:, 1]).astype("float32")
    return (x[:, :5], x[:, 2:]), (y, y)


@pytest.mark.parametrize("loss", [["mse", "mse"], "mse"])
def test_two_outputs_with_loss_weights_match_keras(keras, loss):
    # Keras 3 needs one loss per output here; Keras 2 (and Lamina) also take one loss for all.
    x, y = _data()
    with keras_ref():
        km = _wide_and_deep(keras)
        km((x[0][:1], x[1][:1]))
        km.compile(
            loss=["mse", "mse"], loss_weights=[0.9, 0.1], optimizer=keras.optimizers.SGD(0.01)
        )
    lm = _wide_and_deep(lamina)
    lm.compile(loss=loss, loss_weights=[0.9, 0.1], optimizer=lamina.optimizers.SGD(0.01))
    lm((x[0][:1], x[1][:1]))
    lm.set_weights(km.get_weights())
    with keras_ref():
        kh = km.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        k_eval = km.evaluate(x, y, verbose=0)
        k_pred = [np.asarray(p) for p in km.predict(x, verbose=0)]
    lh = lm.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    l_eval = lm.evaluate(x, y, verbose=0)
    assert len(l_eval) == len(k_eval) == 3  # total, then each output's loss
    # Keras 3 logs both outputs' losses under one name ("mse_loss"), so its list repeats the
    # last output's loss; the total and that last loss are the comparable values.
    np.testing.assert_allclose([l_eval[0], l_eval[2]], [k_eval[0], k_eval[2]], rtol=1e-5)
    np.testing.assert_allclose(0.9 * l_eval[1] + 0.1 * l_eval[2], l_eval[0], rtol=1e-5)
    for got, want in zip(lm.predict(x, verbose=0), k_pred):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert {"output_1_loss", "output_2_loss"} <= set(lh.history)


def test_fit_builds_a_subclassed_model_from_tuple_inputs():
    x, y = _data()
    m = _wide_and_deep(lamina)
    m.compile(loss="mse", loss_weights=[0.9, 0.1], optimizer="sgd")
    m.fit(x, y, epochs=1, verbose=0)  # built by fit from (x_a, x_b), unpacked by call
    main, aux = m.predict(x, verbose=0)
    assert main.shape == aux.shape == (64, 1)


def test_loss_weights_that_do_not_fit_the_outputs_are_refused_at_fit():
    x, y = _data()
    m = _wide_and_deep(lamina)
    m.compile(loss="mse", loss_weights=[0.9, 0.1, 0.5], optimizer="sgd")
    with pytest.raises(ValueError, match="loss_weights"):
        m.fit(x, y, epochs=1, verbose=0)
