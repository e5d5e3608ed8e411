"""``set_random_seed`` then fit: recurrent dropout and user ``SeedGenerator``s draw Keras's numbers.

Keras's recurrent cells draw their dropout masks once per call from their ``SeedGenerator``
(input masks, then recurrent masks, one per gate in the per-gate implementation), at every
call, inference included; a user layer holding ``keras.random.SeedGenerator(1337)`` draws
from ``[1337, k]``, ``k`` advancing at every draw.  After ``set_random_seed`` Lamina carries
those generator states in the layers' state and draws the same numbers.
"""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="Keras's JAX backend is the reference"
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5, 3)).astype("float32")
Y = RNG.normal(size=(40, 1)).astype("float32")

BODIES = {
    # each model runs several layers: one compile checks them all
    "lstm_gru_simple_rnn": lambda L: [
        L.LSTM(4, dropout=0.3, recurrent_dropout=0.2, return_sequences=True),
        L.GRU(3, dropout=0.3, reset_after=False, return_sequences=True),
        L.SimpleRNN(3, dropout=0.3, recurrent_dropout=0.2, return_sequences=True),
    ],
    "lstm_dropout_gru_recurrent": lambda L: [
        L.LSTM(4, dropout=0.3, return_sequences=True),
        L.GRU(3, dropout=0.3, recurrent_dropout=0.2),
    ],
    "bidirectional": lambda L: [
        L.Bidirectional(L.LSTM(3, dropout=0.3, return_sequences=True)),
        L.Bidirectional(L.RNN(L.GRUCell(3, dropout=0.3, recurrent_dropout=0.2))),
    ],
    "rnn_of_cells": lambda L: [
        L.RNN(L.LSTMCell(4, dropout=0.3, recurrent_dropout=0.2), return_sequences=True),
        L.RNN([L.SimpleRNNCell(4, dropout=0.3), L.LSTMCell(3, dropout=0.2, recurrent_dropout=0.3)]),
    ],
}  # fmt: skip


def _model(m, body, shape):
    m.utils.set_random_seed(3)
    layers = body(m.layers)
    return m.Sequential([m.Input(shape), *layers, m.layers.Flatten(), m.layers.Dense(1)])


def _fit(m, body, x=X, y=Y, epochs=2, **fit_kwargs):
    model = _model(m, body, x.shape[1:])
    start = [w.copy() for w in model.get_weights()]
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(
        x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0, **fit_kwargs
    ).history
    return model, start, history


def _check_same(ours, theirs):
    model, start, history = ours
    ref, ref_start, ref_history = theirs
    for a, b in zip(start, ref_start):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for name in ref_history:
        np.testing.assert_allclose(history[name], ref_history[name], rtol=1e-5)
    ref_weights = ref.get_weights()
    assert len(model.get_weights()) == len(ref_weights)
    for a, b in zip(model.get_weights(), ref_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(BODIES))
def test_seeded_recurrent_dropout_fit_matches_keras(name):
    with keras_ref():
        expected = _fit(keras, BODIES[name])
        names = [w.path.split("/")[-1] for w in expected[0].weights]
    got = _fit(lamina, BODIES[name])
    _check_same(got, expected)
    assert [w.path.split("/")[-1] for w in got[0].weights] == names  # no generator states


def test_seeded_conv_lstm_dropout_fit_matches_keras():
    x = RNG.normal(size=(12, 3, 5, 5, 2)).astype("float32")
    y = RNG.normal(size=(12, 1)).astype("float32")

    def body(L):
        return [L.ConvLSTM2D(2, 3, dropout=0.3, recurrent_dropout=0.2)]

    with keras_ref():
        expected = _fit(keras, body, x, y)
    _check_same(_fit(lamina, body, x, y), expected)


def test_fused_bidirectional_draws_keras_masks(monkeypatch):
    """Both directions in one scan (the default off CPU) draw each direction's masks."""
    from lamina.layers import _rnn_fused

    def body(L):
        return [L.Bidirectional(L.GRU(3, dropout=0.2, recurrent_dropout=0.3))]

    with keras_ref():
        expected = _fit(keras, body)
    monkeypatch.setattr(_rnn_fused, "FUSE", True)
    _check_same(_fit(lamina, body), expected)


def test_validation_and_predict_advance_the_generator_as_keras():
    """Keras draws the masks at every call, inference too: validation batches and
    ``predict`` move the generator on, so the next epochs' masks depend on them."""

    def run(m):
        body = BODIES["lstm_dropout_gru_recurrent"]
        model, start, history = _fit(m, body, validation_data=(X[:20], Y[:20]))
        model.predict(X, batch_size=16, verbose=0)
        history["again"] = model.fit(
            X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0
        ).history["loss"]
        return model, start, history

    with keras_ref():
        expected = run(keras)
    _check_same(run(lamina), expected)


def test_generator_states_are_not_weights(tmp_path):
    model, _, _ = _fit(lamina, BODIES["rnn_of_cells"], epochs=1)
    model.save_weights(tmp_path / "m.weights.h5")
    with keras_ref():
        ref = _model(keras, BODIES["rnn_of_cells"], X.shape[1:])
        ref.load_weights(tmp_path / "m.weights.h5")
        count = ref.count_params()
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.count_params() == count


def test_without_set_random_seed_masks_come_from_the_step_key(monkeypatch):
    monkeypatch.setitem(lamina.utils.random._STATE, "user_seeded", False)
    layer = lamina.layers.LSTM(3, dropout=0.2, recurrent_dropout=0.2)
    assert layer.uses_rng
    _, state = layer.init(lamina.utils.random.HostKey((1, 2, 3, 4)), (None, 4, 2))
    assert state == {}
    seeded = lamina.layers.LSTM(3, dropout=0.2, seed=5)  # Keras's masks from the given seed
    assert not seeded.uses_rng
    _, state = seeded.init(lamina.utils.random.HostKey((1, 2, 3, 4)), (None, 4, 2))
    assert state["seed_generator_state"].tolist() == [5, 0]


# ------------------------------------------------------------- a user layer's SeedGenerator
def _sampling(m):
    class Sampling(m.layers.Layer):
        """keras.io's VAE: z = mean + exp(log_var / 2) * epsilon."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = m.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = m.ops.shape(z_mean)[0], m.ops.shape(z_mean)[1]
            epsilon = m.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + m.ops.exp(0.5 * z_log_var) * epsilon

    return Sampling


def _vae_like(m):
    inp = m.Input((6,))
    h = m.layers.Dense(8, activation="relu")(inp)
    z = _sampling(m)()([m.layers.Dense(3)(h), m.layers.Dense(3)(h)])
    return m.Model(inp, m.layers.Dense(3)(z))


def test_user_seed_generator_draws_keras_numbers_in_fit_predict_and_calls():
    x = RNG.normal(size=(40, 6)).astype("float32")
    y = RNG.normal(size=(40, 3)).astype("float32")

    def run(m):
        m.utils.set_random_seed(3)
        model = _vae_like(m)
        model.compile(optimizer="adam", loss="mse")
        losses = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        predicted = model.predict(x, batch_size=16, verbose=0)
        calls = [np.asarray(model(x[:4])) for _ in range(2)]
        names = [w.path.split("/")[-1] for w in model.weights]
        return losses.history["loss"], model.get_weights(), predicted, calls, names

    with keras_ref():
        expected = run(keras)
    got = run(lamina)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[3][0], got[3][1])  # each call draws anew
    for a, b in zip(got[3], expected[3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert got[4] == expected[4]
