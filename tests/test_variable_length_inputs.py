"""A model built on sequences of one length runs on another when its layers allow it, as in
Keras (the keras.io NER example predicts a shorter sentence than it trained on); a layer that
cannot take the new shape still gets Lamina's clear error before tracing."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _stack(k):
    layers = k.layers
    return k.Sequential(
        [layers.Embedding(20, 4), layers.LSTM(3, return_sequences=True), layers.Dense(3)]
    )


def _subclassed(k):
    class Tagger(k.Model):
        def __init__(self):
            super().__init__()
            self.emb = k.layers.Embedding(20, 4)
            self.dense = k.layers.Dense(3)

        def call(self, x):
            return self.dense(self.emb(x))

    return Tagger()


@pytest.mark.parametrize("build", [_stack, _subclassed])
def test_other_sequence_lengths_match_keras(keras, build):
    rng = np.random.default_rng(0)
    x8, y8 = rng.integers(1, 20, (4, 8)), rng.integers(0, 3, (4, 8))
    x5 = rng.integers(1, 20, (2, 5))
    x6, y6 = rng.integers(1, 20, (4, 6)), rng.integers(0, 3, (4, 6))
    with keras_ref():
        keras.utils.set_random_seed(0)  # the same starting weights (and logit sizes) every run
        ref = build(keras)
        ref.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        ref(x8)
        weights = ref.get_weights()
        ref.fit(x8, y8, epochs=1, shuffle=False, verbose=0)
        want_call = np.asarray(ref(x5))
        want_pred = ref.predict(x5, verbose=0)
        want_fit = ref.fit(x6, y6, epochs=2, shuffle=False, verbose=0).history["loss"]
        want_eval = ref.evaluate(x6, y6, verbose=0)
    model = build(lamina)
    model.compile(lamina.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model(x8)
    model.set_weights(weights)
    model.fit(x8, y8, epochs=1, shuffle=False, verbose=0)
    # Logits reach tens after the fit: the small ones in a row carry float32 rounding of the
    # large terms (~5e-6 absolute), which XLA's threaded reductions do not fix run to run.
    np.testing.assert_allclose(np.asarray(model(x5)), want_call, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(model.predict(x5, verbose=0), want_pred, rtol=2e-5, atol=2e-5)
    got_fit = model.fit(x6, y6, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got_fit, want_fit, rtol=1e-5)
    assert model.evaluate(x6, y6, verbose=0) == pytest.approx(want_eval, rel=1e-5)


def test_a_layer_that_cannot_take_the_shape_still_gets_the_clear_error():
    model = lamina.Sequential([lamina.layers.Dense(3)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 8), "float32"), np.ones((4, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"x has 5 feature column\(s\) but the model expects 8"):
        model.predict(np.ones((2, 5), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"Input of shape \(2, 5, 1, 1\) is incompatible"):
        model.predict(np.ones((2, 5, 1, 1), "float32"), verbose=0)
    assert model.predict(np.ones((2, 8), "float32"), verbose=0).shape == (2, 3)
