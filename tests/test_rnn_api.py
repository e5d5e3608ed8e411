"""Keras's RNN API against real Keras 3: ``RNN(cell)``, the built-in cells, ``StackedRNNCells``,
user-written cells, ``initial_state``/``return_state`` in functional graphs and custom layers.

Forward passes with copied weights, short fits (History and weights), configs and ``.keras``
files both ways.
"""

import os

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 1e-5
ATOL = 1e-5


def make_minimal_cell(m):
    """The "Working with RNNs" guide's custom cell, for ``m`` = keras or lamina."""

    class MinimalRNNCell(m.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(
                shape=(input_shape[-1], self.units), initializer="uniform", name="kernel"
            )
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
            )

        def call(self, inputs, states):
            prev_output = states[0]
            h = m.ops.matmul(inputs, self.kernel)
            output = h + m.ops.matmul(prev_output, self.recurrent_kernel)
            return m.ops.tanh(output), [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return m.saving.register_keras_serializable("rnn_api_tests")(MinimalRNNCell)


def make_two_state_cell(m):
    """A cell with two states of different sizes and an output size of its own."""

    class TwoStateCell(m.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, 2 * units]
            self.output_size = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3 * self.units), name="w")
            self.u = self.add_weight(shape=(self.units, 2 * self.units), name="u")

        def call(self, inputs, states, training=False):
            h, c = states
            z = m.ops.matmul(inputs, self.w)
            c2 = m.ops.tanh(z[:, self.units :] + m.ops.matmul(h, self.u) + 0.5 * c)
            h2 = m.ops.sigmoid(z[:, : self.units]) * c2[:, : self.units]
            return h2, [h2, c2]

    return TwoStateCell


def _models(keras, make, input_shape):
    with keras_ref():
        km = keras.Sequential([keras.Input(input_shape), *make(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(input_shape), *make(lamina)])
    return km, lm


def _copy_weights(km, lm, rng, scale=0.5):
    weights = [(scale * rng.normal(size=w.shape)).astype("float32") for w in km.get_weights()]
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)
    return weights


def _predict(lm, x):
    if lm._compiled is None:
        lm.compile(optimizer="sgd", loss="mse")
    return lm.predict(x, verbose=0)


def _padded(rng, n=9, steps=8, vocab=12):
    x = rng.integers(1, vocab, size=(n, steps))
    lengths = rng.integers(1, steps + 1, size=n)
    lengths[0], lengths[1] = 0, steps
    for i, k in enumerate(lengths):
        x[i, k:] = 0
    return x.astype("float32")


CASES = {
    "simple_cell": lambda m: [m.layers.RNN(m.layers.SimpleRNNCell(4))],
    "lstm_cell_seq_back": lambda m: [
        m.layers.RNN(m.layers.LSTMCell(5), return_sequences=True, go_backwards=True)
    ],
    "gru_cell_reset_before": lambda m: [m.layers.RNN(m.layers.GRUCell(4, reset_after=False))],
    "gru_cell_unroll": lambda m: [m.layers.RNN(m.layers.GRUCell(3), unroll=True)],
    "stacked_list": lambda m: [m.layers.RNN([m.layers.LSTMCell(4), m.layers.GRUCell(3)])],
    "stacked_cells_seq": lambda m: [
        m.layers.RNN(
            m.layers.StackedRNNCells([m.layers.SimpleRNNCell(3), m.layers.LSTMCell(2)]),
            return_sequences=True,
        )
    ],
    "minimal_cell": lambda m: [m.layers.RNN(make_minimal_cell(m)(4))],
    "minimal_cell_seq_back_unroll": lambda m: [
        m.layers.RNN(make_minimal_cell(m)(3), return_sequences=True, go_backwards=True, unroll=True)
    ],
    "two_state_cell": lambda m: [m.layers.RNN(make_two_state_cell(m)(3), return_sequences=True)],
    "stacked_custom_and_builtin": lambda m: [
        m.layers.RNN([make_minimal_cell(m)(4), m.layers.LSTMCell(3)])
    ],
    "bidirectional_cell": lambda m: [
        m.layers.Bidirectional(m.layers.RNN(m.layers.LSTMCell(3), return_sequences=True))
    ],
    "bidirectional_custom_cell": lambda m: [
        m.layers.Bidirectional(m.layers.RNN(make_minimal_cell(m)(3)), merge_mode="sum")
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_keras(keras, rng, case):
    km, lm = _models(keras, CASES[case], (7, 3))
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in km.get_weights()]
    _copy_weights(km, lm, rng)
    x = rng.normal(size=(6, 7, 3)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shapes_match_keras(keras, case):
    for shape in [(None, 7, 3), (2, 5, 3)]:
        with keras_ref():
            want = CASES[case](keras)[0].compute_output_shape(shape)
        got = CASES[case](lamina)[0].compute_output_shape(shape)
        assert tuple(got) == tuple(want)


MASK_CASES = {
    "lstm_cell": lambda m: m.layers.RNN(m.layers.LSTMCell(4)),
    "minimal_cell_seq": lambda m: m.layers.RNN(make_minimal_cell(m)(4), return_sequences=True),
    "minimal_cell_back_zero": lambda m: m.layers.RNN(
        make_minimal_cell(m)(3), go_backwards=True, return_sequences=True, zero_output_for_mask=True
    ),
    "stacked": lambda m: m.layers.RNN([m.layers.GRUCell(3), m.layers.LSTMCell(2)]),
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_masked_sequences_match_keras(keras, rng, case):
    def make(m):
        return [m.layers.Embedding(12, 4, mask_zero=True), MASK_CASES[case](m)]

    km, lm = _models(keras, make, (8,))
    _copy_weights(km, lm, rng)
    x = _padded(rng)
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


FIT_CASES = {
    "lstm_cell": lambda m: [m.layers.RNN(m.layers.LSTMCell(5)), m.layers.Dense(1, "sigmoid")],
    "minimal_cell": lambda m: [
        m.layers.RNN(make_minimal_cell(m)(4), return_sequences=True),
        m.layers.RNN(m.layers.GRUCell(3)),
        m.layers.Dense(1, "sigmoid"),
    ],
    "bidirectional_cell": lambda m: [
        m.layers.Bidirectional(m.layers.RNN(m.layers.LSTMCell(3), return_sequences=True)),
        m.layers.Bidirectional(m.layers.GRU(2)),
        m.layers.Dense(1, "sigmoid"),
    ],
    "stacked_two_state": lambda m: [
        m.layers.RNN([m.layers.SimpleRNNCell(4), make_two_state_cell(m)(3)]),
        m.layers.Dense(1, "sigmoid"),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_short_fit_matches_keras(keras, case):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(37, 6, 3)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("float32")
    km, lm = _models(keras, FIT_CASES[case], (6, 3))
    _copy_weights(km, lm, rng, scale=0.3)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                   metrics=["accuracy"])  # fmt: skip
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        k_weights = km.get_weights()
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="binary_crossentropy",
               metrics=["accuracy"])  # fmt: skip
    lh = lm.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert list(lh.history) == list(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=1e-4, atol=1e-5)
    for lw, kw in zip(lm.get_weights(), k_weights, strict=True):
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)


CONFIG_CASES = {
    "SimpleRNNCell": lambda m: m.layers.SimpleRNNCell(3, dropout=0.1, seed=2),
    "LSTMCell": lambda m: m.layers.LSTMCell(4, unit_forget_bias=False, recurrent_dropout=0.2),
    "GRUCell": lambda m: m.layers.GRUCell(4, reset_after=False, activation="relu"),
    "RNN": lambda m: m.layers.RNN(m.layers.LSTMCell(3), return_sequences=True, unroll=True),
    "RNN_stacked": lambda m: m.layers.RNN(
        m.layers.StackedRNNCells([m.layers.GRUCell(2), m.layers.SimpleRNNCell(3)]),
        go_backwards=True,
    ),
    "StackedRNNCells": lambda m: m.layers.StackedRNNCells([m.layers.LSTMCell(2)]),
}


def _strip(config):
    """A config without names and dtypes (they differ in spelling between the two)."""
    if isinstance(config, dict):
        return {k: _strip(v) for k, v in config.items() if k not in ("name", "dtype", "module")}
    if isinstance(config, list):
        return [_strip(v) for v in config]
    return config


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_round_trip_and_keras_keys(keras, case):
    layer = CONFIG_CASES[case](lamina)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    with keras_ref():
        k_layer = CONFIG_CASES[case](keras)
        k_config = k_layer.get_config()
        k_full = keras.layers.serialize(k_layer)
    assert _strip(config) == _strip(k_config)
    rebuilt = lamina.layers.deserialize(k_full)
    assert type(rebuilt) is type(layer)
    assert _strip(rebuilt.get_config()) == _strip(config)


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "LSTMCell", "GRUCell", "stacked"])
def test_keras_files_move_both_ways(keras, tmp_path, rng, cell):
    def make(m):
        c = (
            [m.layers.LSTMCell(3), m.layers.GRUCell(2)]
            if cell == "stacked"
            else getattr(m.layers, cell)(4)
        )
        return [m.layers.RNN(c, return_sequences=True), m.layers.Dense(2)]

    _, lm = _models(keras, make, (5, 3))
    lm.set_weights([rng.normal(size=w.shape).astype("float32") for w in lm.get_weights()])
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    want = _predict(lm, x)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
        back = os.fspath(tmp_path / "keras.keras")
        km.save(back)
    again = lamina.models.load_model(back)
    np.testing.assert_allclose(_predict(again, x), want, rtol=RTOL, atol=ATOL)


def _seq2seq(m, latent=6, n_in=5, n_out=4):
    """Keras's ``lstm_seq2seq`` example: the encoder's states start the decoder."""
    enc_in = m.Input(shape=(None, n_in))
    _, h, c = m.layers.LSTM(latent, return_state=True)(enc_in)
    dec_in = m.Input(shape=(None, n_out))
    dec_seq, _, _ = m.layers.LSTM(latent, return_sequences=True, return_state=True)(
        dec_in, initial_state=[h, c]
    )
    out = m.layers.Dense(n_out, activation="softmax")(dec_seq)
    return m.Model([enc_in, dec_in], out)


@pytest.mark.slow
def test_seq2seq_encoder_states_feed_the_decoder(keras, rng):
    with keras_ref():
        km = _seq2seq(keras)
    lm = _seq2seq(lamina)
    _copy_weights(km, lm, rng)
    xe = rng.normal(size=(10, 7, 5)).astype("float32")
    xd = rng.normal(size=(10, 3, 4)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, size=(10, 3))]
    with keras_ref():
        want = km.predict([xe, xd], verbose=0)
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
        kh = km.fit([xe, xd], y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        k_weights = km.get_weights()
    np.testing.assert_allclose(_predict(lm, [xe, xd]), want, rtol=RTOL, atol=ATOL)
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="categorical_crossentropy")
    lh = lm.fit([xe, xd], y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-5)
    for lw, kw in zip(lm.get_weights(), k_weights, strict=True):
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)


def test_initial_state_inside_a_custom_layer(keras, rng):
    def make(m):
        class EncodeDecode(m.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.enc = m.layers.GRU(4, return_state=True)
                self.dec = m.layers.RNN(m.layers.GRUCell(4), return_sequences=True)

            def call(self, x):
                _, h = self.enc(x)
                return self.dec(x, initial_state=[h])

        return [EncodeDecode()]

    km, lm = _models(keras, make, (6, 3))
    _copy_weights(km, lm, rng)
    x = rng.normal(size=(5, 6, 3)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


def test_return_state_and_initial_state_of_custom_cells_in_functional_graphs(keras, rng):
    def make(m):
        inp = m.Input((6, 3))
        _, h, c = m.layers.RNN(make_two_state_cell(m)(3), return_state=True)(inp)
        seq = m.layers.RNN(make_two_state_cell(m)(3), return_sequences=True)(
            inp, initial_state=[h, c]
        )
        return m.Model(inp, [seq, h])

    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    _copy_weights(km, lm, rng)
    x = rng.normal(size=(5, 6, 3)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    got = _predict(lm, x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_stateful_rnn_carries_states_between_batches(keras, rng):
    """As the built-in stateful layers (and Keras 2) do: predict carries the states on too
    (Keras 3 on JAX leaves them at zero in predict), so the second call is checked with NumPy."""

    def make(m):
        return [m.layers.RNN(make_minimal_cell(m)(3), stateful=True)]

    with keras_ref():
        km = keras.Sequential([keras.Input(batch_shape=(2, 4, 3)), *make(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(batch_shape=(2, 4, 3)), *make(lamina)])
    kernel, recurrent = _copy_weights(km, lm, rng)
    x = rng.normal(size=(2, 4, 3)).astype("float32")

    def numpy_run(h):
        for t in range(x.shape[1]):
            h = x[:, t] @ kernel + h @ recurrent
        return np.tanh(h), h

    want1, h1 = numpy_run(np.zeros((2, 3), "float32"))
    want2, _ = numpy_run(h1)
    with keras_ref():
        np.testing.assert_allclose(km.predict(x, verbose=0), want1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_predict(lm, x), want1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_predict(lm, x), want2, rtol=1e-4, atol=1e-4)
    lm.layers[0].reset_states()
    np.testing.assert_allclose(_predict(lm, x), want1, rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_dropout_in_cells_trains_and_predicts_deterministically(rng):
    rnn = lamina.layers.RNN(
        [lamina.layers.LSTMCell(4, dropout=0.3), lamina.layers.GRUCell(3, recurrent_dropout=0.3)]
    )
    assert rnn.uses_rng
    x = rng.normal(size=(5, 6, 3)).astype("float32")
    params, state = rnn.init(jax.random.key(0), (None, 6, 3))
    y1, _ = rnn.apply(params, state, x, training=True, key=jax.random.key(1))
    y2, _ = rnn.apply(params, state, x, training=False)
    y3, _ = rnn.apply(params, state, x, training=False)
    assert not np.allclose(np.asarray(y1), np.asarray(y2))
    np.testing.assert_array_equal(np.asarray(y2), np.asarray(y3))


def test_builtin_cell_runs_one_step_like_keras(keras, rng):
    x = rng.normal(size=(2, 3)).astype("float32")
    h = rng.normal(size=(2, 4)).astype("float32")
    with keras_ref():
        kc = keras.layers.LSTMCell(4)
        kout, (kh, kc_state) = kc(x, [h, h])
        weights = kc.get_weights()
    cell = lamina.layers.LSTMCell(4)
    params = dict(zip(["kernel", "recurrent_kernel", "bias"], weights))
    (out, (lh, lc)), _ = cell.apply(params, {}, [x, [h, h]])
    np.testing.assert_allclose(np.asarray(out), np.asarray(kout), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(lc), np.asarray(kc_state), rtol=RTOL, atol=ATOL)


def test_clear_errors():
    class NoState(lamina.layers.Layer):
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match="state_size"):
        lamina.layers.RNN(NoState())
    with pytest.raises(ValueError, match="non-empty list"):
        lamina.layers.StackedRNNCells([])
    lstm = lamina.layers.LSTM(3)
    params, state = lstm.init(jax.random.key(0), (None, 4, 2))
    x = np.ones((2, 4, 2), "float32")
    with pytest.raises(ValueError, match=r"list of 2 state tensor\(s\)"):
        lstm.apply(params, state, x, initial_state=[np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match=r"shape \(batch, units\)"):
        lstm.apply(params, state, x, initial_state=[np.zeros((2, 4), "float32")] * 2)
    with pytest.raises(TypeError, match=r"RNN\(cell\)"):
        lamina.layers.LSTMCell(3).apply({}, {}, x)
    with pytest.raises(lamina._unsupported.UnsupportedKerasAPIError):
        lamina.layers.Deconvolution3D  # noqa: B018


def test_masked_seq2seq_with_initial_state_matches_keras(keras, rng):
    """A masked encoder's final states start the decoder.  (The decoder's input is not masked:
    Keras 3 does not pass a mask on to a layer called with tensor keyword arguments such as
    ``initial_state=``, while Lamina's functional graphs pass the first input's mask.)"""

    def make(m):
        enc_in, dec_in = m.Input((8,)), m.Input((5,))
        enc = m.layers.Embedding(12, 4, mask_zero=True)(enc_in)
        _, h, c = m.layers.LSTM(3, return_state=True)(enc)
        dec = m.layers.Embedding(12, 4)(dec_in)
        seq = m.layers.RNN(m.layers.LSTMCell(3), return_sequences=True)(dec, initial_state=[h, c])
        return m.Model([enc_in, dec_in], m.layers.Dense(2)(seq))

    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    _copy_weights(km, lm, rng)
    xe, xd = _padded(rng), _padded(rng, steps=5)
    with keras_ref():
        want = km.predict([xe, xd], verbose=0)
    np.testing.assert_allclose(_predict(lm, [xe, xd]), want, rtol=RTOL, atol=ATOL)


BI_CASES = {
    "lstm_seq": lambda m: m.layers.Bidirectional(m.layers.LSTM(3, return_sequences=True)),
    "gru_before_sum": lambda m: m.layers.Bidirectional(
        m.layers.GRU(3, reset_after=False), merge_mode="sum"
    ),
    "rnn_cell_ave": lambda m: m.layers.Bidirectional(
        m.layers.RNN(m.layers.SimpleRNNCell(2), return_sequences=True), merge_mode="ave"
    ),
}


@pytest.mark.parametrize(
    "case",
    [c if c == "lstm_seq" else pytest.param(c, marks=pytest.mark.slow) for c in sorted(BI_CASES)],
)
def test_bidirectional_in_one_scan_matches_keras(keras, rng, monkeypatch, case):
    """Both directions in one scan (the default off CPU), forced here, masked and not."""
    from lamina.layers import _rnn_fused

    monkeypatch.setattr(_rnn_fused, "FUSE", True)

    def make(m):
        return [m.layers.Embedding(12, 4, mask_zero=True), BI_CASES[case](m)]

    km, lm = _models(keras, make, (8,))
    bi = lm.layers[-1]
    assert _rnn_fused.fusable(bi.forward_layer, bi.backward_layer) is not None
    _copy_weights(km, lm, rng)
    x = _padded(rng)
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)
    with keras_ref():
        want = km.layers[-1](km.layers[0](x[2:]))  # no mask: rows 2+ are unpadded only in part
    params = jax.device_get(lm._train_state.params[1])
    emb = jax.device_get(lm._train_state.params[0])["embeddings"][x[2:].astype(int)]
    got, _ = bi.apply(params, {}, emb)
    with keras_ref():
        ref = keras.layers.Bidirectional.from_config(km.layers[-1].get_config())
        ref.build(emb.shape)
        ref.set_weights(km.layers[-1].get_weights())
        want = ref(emb)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=RTOL, atol=ATOL)
    monkeypatch.setattr(_rnn_fused, "FUSE", False)
    unfused, _ = bi.apply(params, {}, emb)
    np.testing.assert_allclose(np.asarray(unfused), np.asarray(got), rtol=RTOL, atol=ATOL)


def test_bidirectional_dropout_in_one_scan_trains(rng, monkeypatch):
    from lamina.layers import _rnn_fused

    monkeypatch.setattr(_rnn_fused, "FUSE", True)
    bi = lamina.layers.Bidirectional(lamina.layers.LSTM(3, dropout=0.3, recurrent_dropout=0.3))
    params, state = bi.init(jax.random.key(0), (None, 6, 2))
    x = rng.normal(size=(4, 6, 2)).astype("float32")
    y1, _ = bi.apply(params, state, x, training=True, key=jax.random.key(1))
    y2, _ = bi.apply(params, state, x, training=False)
    assert y1.shape == y2.shape == (4, 6)
    assert not np.allclose(np.asarray(y1), np.asarray(y2))


def test_stateful_builtin_cell_runs_as_the_stateful_layer(rng):
    """``RNN(LSTMCell(4), stateful=True)`` carries and resets its states as ``LSTM`` does."""
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    outs, weights = [], None
    for layer in (lamina.layers.RNN(lamina.layers.LSTMCell(4), stateful=True),
                  lamina.layers.LSTM(4, stateful=True)):  # fmt: skip
        model = lamina.models.Sequential([lamina.layers.Input(batch_shape=(2, 4, 3)), layer])
        model.compile(optimizer="sgd", loss="mse")
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
        layer.reset_states()
        outs.append((first, second, model.predict(x, verbose=0)))
    (a1, a2, a3), (b1, b2, b3) = outs
    assert not np.allclose(a1, a2)
    np.testing.assert_allclose(a3, a1, rtol=RTOL, atol=ATOL)
    for a, b in ((a1, b1), (a2, b2)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_initial_state_passed_positionally_as_in_keras(keras):
    """Keras's ``RNN.call(sequences, initial_state=None, mask=None, training=...)``: the second
    positional argument is the initial state (``decoder_lstm(dec_in, encoder_states)``)."""
    x = np.linspace(-1, 1, 2 * 5 * 4, dtype="float32").reshape(2, 5, 4)
    h = np.full((2, 3), 0.5, "float32")
    c = np.full((2, 3), -0.25, "float32")

    def run(k):
        lstm = k.layers.LSTM(3, kernel_initializer="ones", recurrent_initializer="ones")
        eager = np.asarray(lstm(x, [h, c]))
        dec_in, s1, s2 = k.Input((5, 4)), k.Input((3,)), k.Input((3,))
        model = k.Model([dec_in, s1, s2], k.layers.GRU(3, name="g")(dec_in, s1))
        return eager, model.predict([x, h, c], verbose=0).shape

    with keras_ref():
        ref = run(keras)
    got = run(lamina)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-6)
    assert got[1] == ref[1] == (2, 3)
    with pytest.raises(TypeError, match="at most 4 positional arguments"):
        lamina.layers.LSTM(3)(x, [h, c], None, False, 1)
