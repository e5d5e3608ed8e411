"""Embedding, SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed against real Keras 3.

Inference forward with Keras's weights (masked padded sequences included), output shapes,
short fits matching Keras's History and weights, and configs.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 1e-5
ATOL = 1e-6


def _models(keras, make, input_shape):
    with keras_ref():
        km = keras.Sequential([keras.Input(input_shape), *make(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(input_shape), *make(lamina)])
    return km, lm


def _predict(lm, x):
    """Lamina's inference forward (``predict`` wants a compiled model at present)."""
    if lm._compiled is None:
        lm.compile(optimizer="sgd", loss="mse")
    return lm.predict(x, verbose=0)


def _copy_random_weights(km, lm, rng, scale=0.5):
    weights = [(scale * rng.normal(size=w.shape)).astype("float32") for w in km.get_weights()]
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)


DENSE_CASES = {
    "simple_rnn": lambda m: [m.layers.SimpleRNN(4)],
    "simple_rnn_seq_back": lambda m: [
        m.layers.SimpleRNN(4, activation="relu", return_sequences=True, go_backwards=True)
    ],
    "lstm": lambda m: [m.layers.LSTM(5)],
    "lstm_seq": lambda m: [m.layers.LSTM(5, return_sequences=True)],
    "lstm_back_no_bias": lambda m: [m.layers.LSTM(3, go_backwards=True, use_bias=False)],
    "lstm_stack": lambda m: [m.layers.LSTM(4, return_sequences=True), m.layers.LSTM(3)],
    "gru": lambda m: [m.layers.GRU(4)],
    "gru_reset_before_seq": lambda m: [m.layers.GRU(4, reset_after=False, return_sequences=True)],
    "gru_back_seq": lambda m: [m.layers.GRU(4, go_backwards=True, return_sequences=True)],
    "bi_lstm_seq": lambda m: [m.layers.Bidirectional(m.layers.LSTM(3, return_sequences=True))],
    "bi_gru_sum": lambda m: [m.layers.Bidirectional(m.layers.GRU(3), merge_mode="sum")],
    "bi_rnn_ave_mul": lambda m: [
        m.layers.Bidirectional(m.layers.SimpleRNN(3, return_sequences=True), merge_mode="ave"),
        m.layers.Bidirectional(m.layers.SimpleRNN(2), merge_mode="mul"),
    ],
    "time_distributed": lambda m: [
        m.layers.LSTM(4, return_sequences=True),
        m.layers.TimeDistributed(m.layers.Dense(2, activation="tanh")),
    ],
    "time_distributed_ln": lambda m: [
        m.layers.TimeDistributed(m.layers.Dense(3)),
        m.layers.TimeDistributed(m.layers.LayerNormalization()),
    ],
}


@pytest.mark.parametrize("case", sorted(DENSE_CASES))
def test_inference_forward_matches_keras(keras, rng, case):
    km, lm = _models(keras, DENSE_CASES[case], (7, 3))
    _copy_random_weights(km, lm, rng)
    x = rng.normal(size=(6, 7, 3)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", sorted(DENSE_CASES))
def test_output_shapes_match_keras(keras, case):
    for shape in [(None, 7, 3), (2, 5, 3), (None, None, 3)]:
        with keras_ref():
            kl = DENSE_CASES[case](keras)
        ll = DENSE_CASES[case](lamina)
        want, got = shape, shape
        for k, la in zip(kl, ll):
            with keras_ref():
                want = k.compute_output_shape(want)
            got = la.compute_output_shape(got)
        assert tuple(got) == tuple(want)


def _padded(rng, n=9, steps=8, vocab=12):
    """Sequences padded with 0 at the end (and one row fully padded)."""
    x = rng.integers(1, vocab, size=(n, steps))
    lengths = rng.integers(1, steps + 1, size=n)
    lengths[0] = 0
    lengths[1] = steps
    for i, k in enumerate(lengths):
        x[i, k:] = 0
    return x.astype("float32")


MASK_CASES = {
    "lstm": lambda m: [m.layers.Embedding(12, 4, mask_zero=True), m.layers.LSTM(5)],
    "lstm_seq_then_lstm": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.LSTM(5, return_sequences=True),
        m.layers.LSTM(3, go_backwards=True),
    ],
    "gru_back": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.GRU(5, go_backwards=True, return_sequences=True),
    ],
    "simple_rnn": lambda m: [m.layers.Embedding(12, 4, mask_zero=True), m.layers.SimpleRNN(5)],
    "bidirectional": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.Bidirectional(m.layers.LSTM(3, return_sequences=True)),
        m.layers.Bidirectional(m.layers.GRU(2)),
    ],
    "embedding_no_mask": lambda m: [m.layers.Embedding(12, 4), m.layers.LSTM(5)],
    "global_average_pooling_1d": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.GlobalAveragePooling1D(),
    ],
    "lstm_seq_then_average": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.LSTM(5, return_sequences=True),
        m.layers.GlobalAveragePooling1D(),
        m.layers.Dense(2),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_masked_padded_sequences_match_keras(keras, rng, case):
    km, lm = _models(keras, MASK_CASES[case], (8,))
    _copy_random_weights(km, lm, rng)
    x = _padded(rng)
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


def test_embedding_forward_and_mask(keras, rng):
    with keras_ref():
        kl = keras.layers.Embedding(10, 3, mask_zero=True)
        kl.build((None, 4))
        table = np.asarray(kl.embeddings)
    ll = lamina.layers.Embedding(10, 3, mask_zero=True)
    x = np.array([[1, 0, 9, 3], [0, 0, 2, 5]])
    y, _ = ll.apply({"embeddings": table}, {}, x)
    np.testing.assert_array_equal(np.asarray(y), table[x])
    np.testing.assert_array_equal(np.asarray(ll.compute_mask(x, None)), x != 0)
    assert lamina.layers.Embedding(10, 3).compute_mask(x, None) is None
    with keras_ref():
        want = kl.compute_output_shape((None, 4))
    assert ll.compute_output_shape((None, 4)) == tuple(want)
    with pytest.warns(UserWarning, match="input_length"):
        lamina.layers.Embedding(10, 3, input_length=4)


FIT_CASES = {
    "lstm": lambda m: [m.layers.LSTM(6), m.layers.Dense(1, activation="sigmoid")],
    "gru": lambda m: [
        m.layers.GRU(5, return_sequences=True),
        m.layers.GRU(4, go_backwards=True),
        m.layers.Dense(1, activation="sigmoid"),
    ],
    "embedding_masked_lstm": lambda m: [
        m.layers.Embedding(12, 4, mask_zero=True),
        m.layers.LSTM(6),
        m.layers.Dense(1, activation="sigmoid"),
    ],
    "bidirectional_gru": lambda m: [
        m.layers.Bidirectional(m.layers.GRU(3)),
        m.layers.Dense(1, activation="sigmoid"),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_short_fit_matches_keras(keras, case):
    rng = np.random.default_rng(3)
    if case.startswith("embedding"):
        x = _padded(rng, n=37, steps=8)
        y = ((x == 3).sum(1) > 0).astype("float32")
        shape = (8,)
    else:
        x = rng.normal(size=(37, 6, 3)).astype("float32")
        y = (x[:, :, 0].sum(1) > 0).astype("float32")
        shape = (6, 3)
    km, lm = _models(keras, FIT_CASES[case], shape)
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
        )
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        k_weights = km.get_weights()
    lm.compile(
        optimizer=lamina.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    lh = lm.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert list(lh.history) == list(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=1e-4, atol=1e-5)
    for lw, kw in zip(lm.get_weights(), k_weights, strict=True):
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)


def test_weight_layout_matches_keras(keras):
    def make(m):
        return [
            m.layers.LSTM(4, return_sequences=True),
            m.layers.GRU(3, return_sequences=True),
            m.layers.GRU(2, reset_after=False, return_sequences=True),
            m.layers.Bidirectional(m.layers.SimpleRNN(2)),
        ]

    km, lm = _models(keras, make, (5, 3))
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in km.get_weights()]


def test_lstm_unit_forget_bias_init():
    params, _ = lamina.layers.LSTM(3).init(jax.random.key(0), (None, 4, 2))
    np.testing.assert_array_equal(np.asarray(params["bias"]), [0, 0, 0, 1, 1, 1] + [0] * 6)
    params, _ = lamina.layers.LSTM(3, unit_forget_bias=False).init(jax.random.key(0), (None, 4, 2))
    np.testing.assert_array_equal(np.asarray(params["bias"]), np.zeros(12))


@pytest.mark.slow
def test_dropout_trains_and_inference_is_deterministic(rng):
    model = lamina.models.Sequential(
        [
            lamina.layers.Input((6, 3)),
            lamina.layers.LSTM(5, dropout=0.3, recurrent_dropout=0.2),
            lamina.layers.Dense(1),
        ]
    )
    x = rng.normal(size=(20, 6, 3)).astype("float32")
    y = x[:, :, 0].sum(1, keepdims=True)
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    layer = model.layers[0]
    params = jax.device_get(model._train_state.params[0])
    y1, _ = layer.apply(params, {}, x, training=True, key=jax.random.key(1))
    y2, _ = layer.apply(params, {}, x, training=False)
    assert not np.allclose(np.asarray(y1), np.asarray(y2))


CONFIG_CASES = {
    "SimpleRNN": (lambda m: m.layers.SimpleRNN(3, return_sequences=True, dropout=0.1), None),
    "LSTM": (lambda m: m.layers.LSTM(4, go_backwards=True, unit_forget_bias=False), None),
    "GRU": (
        lambda m: m.layers.GRU(4, reset_after=False, recurrent_activation="hard_sigmoid"),
        None,
    ),
    "Embedding": (lambda m: m.layers.Embedding(20, 5, mask_zero=True), None),
    "Bidirectional": (
        lambda m: m.layers.Bidirectional(m.layers.LSTM(3, return_sequences=True), merge_mode="sum"),
        ("layer", "backward_layer"),
    ),
    "TimeDistributed": (lambda m: m.layers.TimeDistributed(m.layers.Dense(2)), ()),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_round_trip_and_keras_keys(keras, case):
    make, nested = CONFIG_CASES[case]
    layer = make(lamina)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    with keras_ref():
        k_config = make(keras).get_config()
    assert set(config) == set(k_config)
    for k in set(config) - {"name", "dtype", "layer", *(nested or ())}:
        assert config[k] == k_config[k], k
    if "layer" in config:
        assert config["layer"]["class_name"] == k_config["layer"]["class_name"]
    for k in nested or ():
        assert config[k]["class_name"] == k_config[k]["class_name"]
        assert set(config[k]["config"]) == set(k_config[k]["config"])
        for key in set(config[k]["config"]) - {"name", "dtype"}:
            assert config[k]["config"][key] == k_config[k]["config"][key], (k, key)
    # Keras's own config builds an equivalent Lamina layer
    with keras_ref():
        k_full = keras.layers.serialize(make(keras))
    rebuilt = lamina.layers.deserialize(k_full)
    assert type(rebuilt) is type(layer)


def test_clear_errors():
    with pytest.raises(ValueError, match="fixed batch size"):
        lamina.layers.LSTM(3, stateful=True).init(jax.random.key(0), (None, 4, 2))
    with pytest.raises(ValueError, match="units"):
        lamina.layers.GRU(0)
    with pytest.raises(ValueError, match="merge_mode"):
        lamina.layers.Bidirectional(lamina.layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="rank"):
        lamina.models.Sequential([lamina.layers.Input((4,)), lamina.layers.LSTM(3)])
    with pytest.raises(ValueError, match="rank 3"):
        lamina.layers.TimeDistributed(lamina.layers.Dense(2)).compute_output_shape((None, 4))
