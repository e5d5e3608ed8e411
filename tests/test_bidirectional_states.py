"""``Bidirectional`` returning several tensors, against real Keras 3 with the same weights:
``merge_mode=None`` (the forward and backward outputs), a ``return_state=True`` layer
(``[output, forward_h, forward_c, backward_h, backward_c]``) and ``initial_state=`` split in
half between the directions; eagerly, in functional models (fit, predict) and through
``.keras`` files written by either library."""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = ATOL = 1e-5


def _weights(k_layer_or_model, rng, scale=0.5):
    return [(scale * rng.normal(size=w.shape)).astype("float32")
            for w in k_layer_or_model.get_weights()]  # fmt: skip


def _close(got, want):
    got = list(got) if isinstance(got, list | tuple) else [got]
    want = list(want) if isinstance(want, list | tuple) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(np.shape(g)) == tuple(np.shape(w))
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------- eager calls
EAGER = {
    "gru_none": lambda m: m.layers.Bidirectional(m.layers.GRU(4), merge_mode=None),
    "lstm_state": lambda m: m.layers.Bidirectional(m.layers.LSTM(4, return_state=True)),
    "gru_state_sum": lambda m: m.layers.Bidirectional(
        m.layers.GRU(3, return_state=True), merge_mode="sum"
    ),
    "lstm_seq_state_none": lambda m: m.layers.Bidirectional(
        m.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode=None
    ),
    "simple_seq_state_ave": lambda m: m.layers.Bidirectional(
        m.layers.SimpleRNN(3, return_sequences=True, return_state=True), merge_mode="ave"
    ),
    "rnn_cell_state": lambda m: m.layers.Bidirectional(
        m.layers.RNN(m.layers.LSTMCell(3), return_state=True), merge_mode="mul"
    ),
}


@pytest.mark.parametrize("fuse", [False, True], ids=["two_loops", "one_scan"])
@pytest.mark.parametrize("case", sorted(EAGER))
def test_eager_outputs_match_keras(keras, rng, monkeypatch, case, fuse):
    from lamina.layers import _rnn_fused

    monkeypatch.setattr(_rnn_fused, "FUSE", fuse)
    x = rng.normal(size=(3, 6, 2)).astype("float32")
    with keras_ref():
        k = EAGER[case](keras)
        k.build(x.shape)
        weights = _weights(k, rng)
        k.set_weights(weights)
        want = k(x)
    layer = EAGER[case](lamina)
    layer.build(x.shape)
    layer.set_weights(weights)
    got = layer(x)
    assert isinstance(got, list) == isinstance(want, tuple)
    _close(got, want)


@pytest.mark.parametrize("fuse", [False, True], ids=["two_loops", "one_scan"])
def test_eager_initial_state_is_split_in_half(keras, rng, monkeypatch, fuse):
    from lamina.layers import _rnn_fused

    monkeypatch.setattr(_rnn_fused, "FUSE", fuse)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    cases = [
        (lambda m: m.layers.Bidirectional(m.layers.LSTM(4)), 4, 4),
        (
            lambda m: m.layers.Bidirectional(
                m.layers.GRU(3, return_sequences=True, return_state=True), merge_mode=None
            ),
            2,
            3,
        ),  # fmt: skip
    ]
    for make, n, units in cases:
        states = [rng.normal(size=(3, units)).astype("float32") for _ in range(n)]
        with keras_ref():
            k = make(keras)
            k.build(x.shape)
            weights = _weights(k, rng)
            k.set_weights(weights)
            want = k(x, initial_state=states)
        layer = make(lamina)
        layer.build(x.shape)
        layer.set_weights(weights)
        _close(layer(x, initial_state=states), want)
        _close(layer(x, states), want)  # Keras's second positional argument


def test_eager_masks_of_the_outputs(keras, rng):
    """Embedding(mask_zero=True) upstream: the sequences keep the mask, the states none."""
    tokens = np.array([[3, 1, 2, 0, 0], [4, 2, 0, 0, 0]])
    with keras_ref():
        emb = keras.layers.Embedding(6, 3, mask_zero=True)
        emb.build((None, 5))
        table = _weights(emb, rng, scale=1.0)
        emb.set_weights(table)
        bi = keras.layers.Bidirectional(
            keras.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode=None
        )
        bi.build((None, 5, 3))
        weights = _weights(bi, rng)
        bi.set_weights(weights)
        want = bi(emb(tokens))
    lemb = lamina.layers.Embedding(6, 3, mask_zero=True)
    lemb.build((None, 5))
    lemb.set_weights(table)
    lbi = lamina.layers.Bidirectional(
        lamina.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode=None
    )
    lbi.build((None, 5, 3))
    lbi.set_weights(weights)
    got = lbi(lemb(tokens))
    _close(got, want)
    masks = [getattr(t, "_keras_mask", None) for t in got]
    for m in masks[:2]:
        np.testing.assert_array_equal(np.asarray(m), tokens != 0)
    assert masks[2:] == [None] * 4


# ------------------------------------------------------------------- functional models
def _encoder_decoder(m, units=4, n_in=3, n_out=3):
    """The keras.io bidirectional seq2seq encoder: both directions' final states, joined,
    start a unidirectional decoder."""
    enc_in, dec_in = m.Input((None, n_in)), m.Input((None, n_out))
    _, fh, fc, bh, bc = m.layers.Bidirectional(m.layers.LSTM(units, return_state=True))(enc_in)
    state_h = m.layers.Concatenate()([fh, bh])
    state_c = m.layers.Concatenate()([fc, bc])
    dec = m.layers.LSTM(2 * units, return_sequences=True)(dec_in, initial_state=[state_h, state_c])
    return m.Model([enc_in, dec_in], m.layers.Dense(n_out, activation="softmax")(dec))


def _bidirectional_decoder(m, units=3, n_in=3, n_out=3):
    """A Bidirectional decoder started by a Bidirectional encoder's four states."""
    enc_in, dec_in = m.Input((None, n_in)), m.Input((None, n_out))
    _, *states = m.layers.Bidirectional(m.layers.LSTM(units, return_state=True))(enc_in)
    dec = m.layers.Bidirectional(m.layers.LSTM(units, return_sequences=True))(
        dec_in, initial_state=states
    )
    return m.Model([enc_in, dec_in], m.layers.Dense(n_out, activation="softmax")(dec))


def _gru_unmerged(m, units=3, n_in=3, n_out=3):
    """``merge_mode=None`` with states: the two directions combined by the user."""
    enc_in, dec_in = m.Input((None, n_in)), m.Input((None, n_out))
    fwd, bwd, fh, bh = m.layers.Bidirectional(
        m.layers.GRU(units, return_sequences=True, return_state=True), merge_mode=None
    )(enc_in)
    seq = m.layers.Subtract()([fwd, bwd])
    dec = m.layers.Bidirectional(m.layers.GRU(units), merge_mode=None)(
        dec_in, initial_state=[fh, bh]
    )
    pooled = m.layers.GlobalAveragePooling1D()(seq)
    joined = m.layers.Concatenate()([pooled, *dec])
    return m.Model([enc_in, dec_in], m.layers.Dense(n_out, activation="softmax")(joined))


FUNCTIONAL = {
    "encoder_decoder": (_encoder_decoder, True),
    "bidirectional_decoder": (_bidirectional_decoder, True),
    "gru_unmerged": (_gru_unmerged, False),
}


def _data(rng, sequences_out, n=10):
    xe = rng.normal(size=(n, 6, 3)).astype("float32")
    xd = rng.normal(size=(n, 4, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(n, 4) if sequences_out else (n,))
    return [xe, xd], np.eye(3, dtype="float32")[labels]


@pytest.mark.parametrize("case", sorted(FUNCTIONAL))
def test_functional_predict_fit_and_files_match_keras(keras, rng, tmp_path, case):
    make, sequences_out = FUNCTIONAL[case]
    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    assert tuple(lm.output_shape) == tuple(km.output_shape)
    weights = _weights(km, rng)
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)
    x, y = _data(rng, sequences_out)
    with keras_ref():
        want = km.predict(x, verbose=0)
    _close(lm.predict(x, verbose=0), want)

    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        k_after = km.get_weights()
        k_pred = km.predict(x, verbose=0)
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="categorical_crossentropy")
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5, atol=1e-5)
    for lw, kw in zip(lm.get_weights(), k_after, strict=True):
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)

    # Lamina's file in Keras, then Keras's own file back in Lamina.
    mine = lm.predict(x, verbose=0)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        from_lamina = keras.models.load_model(path)
        _close(mine, from_lamina.predict(x, verbose=0))
        k_path = os.fspath(tmp_path / "keras.keras")
        km.save(k_path)
    _close(lamina.models.load_model(k_path).predict(x, verbose=0), k_pred)
    _close(lamina.models.load_model(path).predict(x, verbose=0), mine)


def test_symbolic_outputs_and_unpacking(keras):
    """Keras's output structure: five tensors for an LSTM's states, six unmerged."""
    for m in (keras, lamina):
        with keras_ref():
            x = m.Input((7, 2))
            out, fh, fc, bh, bc = m.layers.Bidirectional(m.layers.LSTM(4, return_state=True))(x)
            both = m.layers.Bidirectional(
                m.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode=None
            )(x)
            pair = m.layers.Bidirectional(m.layers.GRU(4), merge_mode=None)(x)
            seq, h1, h2 = m.layers.Bidirectional(
                m.layers.GRU(5, return_state=True, return_sequences=True), merge_mode="sum"
            )(x)
        assert tuple(out.shape) == (None, 8) and tuple(fh.shape) == tuple(bc.shape) == (None, 4)
        assert [tuple(t.shape) for t in both] == [(None, 7, 4)] * 2 + [(None, 4)] * 4
        assert [tuple(t.shape) for t in pair] == [(None, 4)] * 2
        assert (tuple(seq.shape), tuple(h1.shape), tuple(h2.shape)) == (
            (None, 7, 5), (None, 5), (None, 5)
        )  # fmt: skip


def test_masked_encoder_states_match_keras(keras, rng):
    """Embedding(mask_zero=True) upstream of a Bidirectional returning its states."""

    def make(m):
        tokens = m.Input((8,))
        emb = m.layers.Embedding(12, 4, mask_zero=True)(tokens)
        seq = m.layers.Bidirectional(m.layers.GRU(3, return_sequences=True))(emb)
        _, fh, fc, bh, bc = m.layers.Bidirectional(m.layers.LSTM(3, return_state=True))(seq)
        return m.Model(tokens, m.layers.Dense(2)(m.layers.Concatenate()([fh, fc, bh, bc])))

    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    weights = _weights(km, rng)
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)
    x = rng.integers(1, 12, size=(9, 8))
    for i, k in enumerate(rng.integers(1, 9, size=9)):
        x[i, k:] = 0
    with keras_ref():
        want = km.predict(x, verbose=0)
    _close(lm.predict(x, verbose=0), want)


@pytest.mark.parametrize("kind", ["lstm_states", "bidirectional_unmerged", "bidirectional_states"])
def test_masks_reach_the_layers_after_a_multi_output_layer(keras, rng, kind):
    """The sequence output of a layer returning several tensors keeps its mask downstream
    (Keras's compute_mask lists one mask per output; the states have none)."""

    def make(m):
        tokens = m.Input((7,))
        x = m.layers.Embedding(12, 4, mask_zero=True)(tokens)
        if kind == "lstm_states":
            x, h, _ = m.layers.LSTM(3, return_sequences=True, return_state=True)(x)
        elif kind == "bidirectional_unmerged":
            fwd, bwd = m.layers.Bidirectional(
                m.layers.GRU(3, return_sequences=True), merge_mode=None
            )(x)
            x = m.layers.Add()([fwd, bwd])
        else:
            x, *_ = m.layers.Bidirectional(
                m.layers.LSTM(3, return_sequences=True, return_state=True)
            )(x)
        return m.Model(tokens, m.layers.GRU(2)(x))

    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    weights = _weights(km, rng)
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)
    x = rng.integers(1, 12, size=(6, 7))
    for i, k in enumerate(rng.integers(1, 7, size=6)):
        x[i, k:] = 0
    with keras_ref():
        want = km.predict(x, verbose=0)
    _close(lm.predict(x, verbose=0), want)


# ---------------------------------------------------------------------------- errors
def test_sequential_refuses_several_outputs_clearly():
    L = lamina.layers
    for layer in (L.Bidirectional(L.GRU(4), merge_mode=None),
                  L.Bidirectional(L.LSTM(4, return_state=True))):  # fmt: skip
        with pytest.raises(ValueError, match="functional API"):
            lamina.models.Sequential([L.Input((5, 3)), layer, L.Dense(2)])
        # Refused by the Sequential, the same layer still works in a functional model.
        x = L.Input((5, 3))
        assert len(layer(x)) in (2, 5)


def test_clear_errors():
    L = lamina.layers
    with pytest.raises(ValueError, match="merge_mode.*Received: 'max'"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")
    bi = L.Bidirectional(L.LSTM(3))
    x = np.ones((2, 4, 2), "float32")
    h = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"forward_h, forward_c, backward_h, backward_c.*2 ten"):
        bi(x, initial_state=[h, h])
    with pytest.raises(ValueError, match="return_state"):
        L.Bidirectional(L.GRU(3), backward_layer=L.GRU(3, go_backwards=True, return_state=True))
