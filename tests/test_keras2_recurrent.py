"""Keras 2.0's ``Recurrent`` base class and ``K.in_train_phase`` in custom layers.

Custom recurrent layers of the Keras 2.0 era subclass ``keras.layers.recurrent.Recurrent``
and write ``step``; its ``call`` runs ``K.rnn`` (Keras 2.0.8's ``recurrent.py``).  References:
real Keras 3's ``SimpleRNN`` for the same maths and weights, and NumPy for an attention
decoder written as published for Keras 2.0 (``get_initial_state`` and ``call`` overridden,
``step`` reading the encoder sequence kept on the layer).
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina.engine import InputSpec
from lamina.layers.recurrent import Recurrent
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)


class MinimalRNN(Recurrent):
    """Keras 2.0's custom-RNN pattern: ``h = tanh(x W + h U)``."""

    def __init__(self, units, **kwargs):
        self.units = units
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.input_spec = [InputSpec(shape=input_shape)]
        self.states = [None]
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer="glorot_uniform")  # fmt: skip
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel",
                                                initializer="orthogonal")  # fmt: skip
        self.built = True

    def step(self, inputs, states):
        h = K.tanh(K.dot(inputs, self.kernel) + K.dot(states[0], self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.mark.parametrize(
    "kw", [{}, {"return_sequences": True}, {"go_backwards": True}], ids=["last", "seq", "back"]
)
def test_minimal_rnn_fits_like_keras_simple_rnn(keras, kw):
    x = RNG.integers(1, 9, size=(16, 6))
    x[:4, 4:] = 0  # padded: the mask from Embedding(mask_zero=True) reaches the time loop
    y = RNG.normal(size=(16, 1)).astype("float32")
    head = [lamina.layers.GlobalAveragePooling1D()] if kw.get("return_sequences") else []
    model = lamina.Sequential([lamina.Input((6,)), lamina.layers.Embedding(9, 3, mask_zero=True),
                               MinimalRNN(4, **kw), *head, lamina.layers.Dense(1)])  # fmt: skip
    with keras_ref():
        k_head = [keras.layers.GlobalAveragePooling1D()] if kw.get("return_sequences") else []
        ref = keras.Sequential([keras.Input((6,)), keras.layers.Embedding(9, 3, mask_zero=True),
                                keras.layers.SimpleRNN(4, use_bias=False, **kw), *k_head,
                                keras.layers.Dense(1)])  # fmt: skip
        model.set_weights(ref.get_weights())
        ref.compile("sgd", "mse")
        ref_hist = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.compile("sgd", "mse")
    hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-5)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert model.layers[1].get_config()["units"] == 4


class AttentionDecoder(Recurrent):
    """An attention decoder in the Keras 2.0 style: at each step, softmax attention of the
    state over the encoder sequence, then ``h = tanh(context W + h U)``."""

    def __init__(self, units, **kwargs):
        self.units = units
        super().__init__(return_sequences=True, **kwargs)

    def build(self, input_shape):
        self.states = [None]
        self.timesteps, self.input_dim = input_shape[1], input_shape[2]
        self.W_a = self.add_weight(shape=(self.units, self.input_dim), name="W_a",
                                   initializer="glorot_uniform")  # fmt: skip
        self.W = self.add_weight(shape=(self.input_dim, self.units), name="W",
                                 initializer="glorot_uniform")  # fmt: skip
        self.U = self.add_weight(shape=(self.units, self.units), name="U",
                                 initializer="glorot_uniform")  # fmt: skip
        self.W_s = self.add_weight(shape=(self.input_dim, self.units), name="W_s",
                                   initializer="glorot_uniform")  # fmt: skip
        self.input_spec = [InputSpec(shape=(None, self.timesteps, self.input_dim))]
        super().build(input_shape)

    def call(self, x):
        self.x_seq = x
        return super().call(x)

    def get_initial_state(self, inputs):
        return [K.tanh(K.dot(inputs[:, 0], self.W_s))]

    def step(self, x, states):
        h_tm1 = states[0]
        query = K.dot(h_tm1, self.W_a)  # (batch, input_dim)
        scores = K.sum(self.x_seq * K.expand_dims(query, 1), axis=2)  # (batch, timesteps)
        weights = K.exp(scores) / K.sum(K.exp(scores), axis=1, keepdims=True)
        context = K.batch_dot(weights, self.x_seq, axes=[1, 1])  # (batch, input_dim)
        h = K.tanh(K.dot(context, self.W) + K.dot(h_tm1, self.U))
        return h, [h]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)


def _attention_numpy(x, W_a, W, U, W_s):
    h = np.tanh(x[:, 0] @ W_s)
    outs = []
    for _ in range(x.shape[1]):
        scores = np.einsum("btd,bd->bt", x, h @ W_a)
        w = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
        h = np.tanh(np.einsum("bt,btd->bd", w, x) @ W + h @ U)
        outs.append(h)
    return np.stack(outs, 1)


def test_attention_decoder_in_keras2_style_matches_numpy_and_trains():
    x = RNG.normal(size=(8, 5, 3)).astype("float32")
    inp = lamina.Input((5, 3))
    out = AttentionDecoder(4, name="decoder")(inp)
    model = lamina.Model(inp, lamina.layers.TimeDistributed(lamina.layers.Dense(2))(out))
    decoder = model.get_layer("decoder")
    W_a, W, U, W_s = decoder.get_weights()
    got = lamina.Model(inp, out).predict(x, verbose=0)
    np.testing.assert_allclose(got, _attention_numpy(x, W_a, W, U, W_s), rtol=1e-5, atol=1e-6)
    model.compile("adam", "mse")
    hist = model.fit(x, RNG.normal(size=(8, 5, 2)), epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_stateful_recurrent_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"RNN\(cell, stateful=True\)"):
        MinimalRNN(3, stateful=True)


class TrainOnlyNoise(lamina.layers.Layer):
    """Keras 2's custom dropout-like layer: zeros in training, the inputs otherwise."""

    def call(self, inputs, training=None):
        return K.in_train_phase(lambda: inputs * 0.0, inputs, training=training)


class PhaseReader(lamina.layers.Layer):
    """Keras 2 code that reads the learning phase without a training argument."""

    def call(self, inputs):
        return K.in_train_phase(inputs * 0.0, inputs)


@pytest.mark.parametrize("layer", [TrainOnlyNoise, PhaseReader])
def test_in_train_phase_follows_fit_and_predict(layer):
    x = np.ones((4, 2), "float32")
    model = lamina.Sequential([lamina.Input((2,)), layer(),
                               lamina.layers.Dense(1, kernel_initializer="ones",
                                                   bias_initializer="zeros")])  # fmt: skip
    model.compile("sgd", "mse")
    # In training the layer outputs zeros: the prediction is 0, the loss is mean(y ** 2).
    hist = model.fit(x, np.full((4, 1), 3.0, "float32"), epochs=1, batch_size=4, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], [9.0], rtol=1e-6)
    # One SGD step (lr 0.01) moved only the bias, by 0.01 * 2 * 3; predict sees the inputs.
    np.testing.assert_allclose(model.predict(x, verbose=0), np.full((4, 1), 2.06), rtol=1e-6)
    assert K.learning_phase() == 0
