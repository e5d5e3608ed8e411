"""Keras 2's ``K.rnn`` (``keras.backend.rnn``), as custom recurrent layers call it.

Keras 3 dropped it from the public ``keras.backend``; its JAX backend keeps the function
(``keras.src.backend.jax.rnn.rnn``), whose unrolled loop follows tf.keras 2 and is the
reference here (with tf.keras 2's ``zero_output_for_mask`` rule applied in NumPy).
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
W = RNG.normal(size=(4, 2)).astype("float32")
U = RNG.normal(size=(2, 2)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 1, 1, 1, 1]], bool)


def _step(np_like):
    def step(x_t, states):
        h, c = states[0], states[1]
        scale = states[2] if len(states) > 2 else 1.0
        h = np_like.tanh(np_like.matmul(x_t, W) + np_like.matmul(h, U)) * scale
        return h * 2.0, [h, c + h]

    return step


def _ref(keras, **kw):
    """Keras 3's unrolled loop, which follows tf.keras 2 (its scanned JAX loop drops
    ``constants`` and takes the first state for the previous output); tf.keras 2's
    ``zero_output_for_mask`` (zeros at masked steps, in processing order) applied after."""
    from keras.src.backend.jax.rnn import rnn as keras_rnn

    zero = kw.pop("zero_output_for_mask", False)
    kw["unroll"] = True
    inputs = kw.pop("inputs", X)
    with keras_ref():
        out = keras_rnn(_step(keras.ops), inputs, kw.pop("states"), **kw)
    last, outputs, states = np.asarray(out[0]), np.asarray(out[1]), list(out[2])
    if zero:
        mask = kw["mask"][:, ::-1] if kw.get("go_backwards") else kw["mask"]
        outputs = np.where(mask[..., None], outputs, 0.0)
        last = np.where(mask[:, -1:], last, 0.0)
    return [last, outputs, *(np.asarray(a) for a in states)]


CASES = {
    "plain": {},
    "backwards": {"go_backwards": True},
    "mask": {"mask": MASK},
    "mask_backwards_zero": {"mask": MASK, "go_backwards": True, "zero_output_for_mask": True},
    "constants": {"constants": [np.full((3, 1), 0.5, "float32")]},
    "unroll": {"unroll": True, "mask": MASK},
    "time_major": {"time_major": True, "inputs": np.swapaxes(X, 0, 1), "mask": MASK.T},
    "last_only": {"return_all_outputs": False, "mask": MASK},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_k_rnn_matches_keras(keras, case):
    kw = dict(CASES[case])
    states = [np.zeros((3, 2), "float32"), np.ones((3, 2), "float32")]
    ref = _ref(keras, states=states, **dict(kw))
    inputs = kw.pop("inputs", X)
    last, outputs, new_states = K.rnn(_step(lamina.ops), inputs, states, **kw)
    got = [np.asarray(o) for o in (last, outputs, *new_states)]
    assert [g.shape for g in got] == [r.shape for r in ref]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


class AccumulatingRNN(lamina.layers.Layer):
    """A Keras 2-style custom recurrent layer: weights in build, the loop through K.rnn."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform")  # fmt: skip
        self.recurrent = self.add_weight(name="recurrent", shape=(self.units, self.units),
                                         initializer="orthogonal")  # fmt: skip
        super().build(input_shape)

    def step(self, x_t, states):
        h = K.tanh(K.dot(x_t, self.kernel) + K.dot(states[0], self.recurrent))
        return h, [h]

    def call(self, inputs, mask=None):
        initial = K.zeros_like(inputs[:, 0, :1]) * K.zeros((1, self.units))
        last, outputs, states = K.rnn(self.step, inputs, [initial], mask=mask)
        return last

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)


def test_custom_layer_with_k_rnn_trains_like_a_simple_rnn(keras):
    # The layer's maths is SimpleRNN's (tanh, no bias): the same weights give the same fit.
    x = RNG.normal(size=(16, 6, 3)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    model = lamina.Sequential([lamina.Input((6, 3)), AccumulatingRNN(4), lamina.layers.Dense(1)])
    with keras_ref():
        ref = keras.Sequential([keras.Input((6, 3)), keras.layers.SimpleRNN(4, use_bias=False),
                                keras.layers.Dense(1)])  # fmt: skip
    model.set_weights(ref.get_weights())
    model.compile("sgd", "mse")
    hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    with keras_ref():
        ref.compile("sgd", "mse")
        ref_hist = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-5)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_k_rnn_errors_say_what_it_expects():
    with pytest.raises(ValueError, match="rank 3 or more"):
        K.rnn(_step(lamina.ops), X[:, 0], [np.zeros((3, 2), "float32")])
    with pytest.raises(ValueError, match="one new state per initial state"):
        K.rnn(lambda x_t, s: (x_t, [s[0], s[0]]), X, [np.zeros((3, 4), "float32")])
