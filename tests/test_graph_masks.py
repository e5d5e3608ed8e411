"""Implicit masks (``Embedding(mask_zero=True)``, ``Masking``) reach the layers of a functional
graph that take several inputs, as Keras's ``Layer.__call__`` passes them (issue #14):
``MultiHeadAttention(query=x, value=x)`` gets ``query_mask``/``value_mask``, ``Attention``,
``Add`` and ``Concatenate`` a list of masks.  Reference: real Keras 3 on JAX."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 5e-5


def _tokens(n=32, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 10, size=(n, steps)).astype("int32")
    lengths = rng.integers(2, steps + 1, size=n)
    x[np.arange(steps)[None, :] >= lengths[:, None]] = 0  # right padding
    y = rng.random((n, 1)).astype("float32")
    return x, y


def _encoder_block(K, mask_zero=True):
    inp = K.Input((6,), dtype="int32")
    x = K.layers.Embedding(10, 8, mask_zero=mask_zero)(inp)
    attn = K.layers.MultiHeadAttention(num_heads=2, key_dim=4)(query=x, value=x)
    x = K.layers.LayerNormalization()(K.layers.Add()([x, attn]))
    ff = K.layers.Dense(8, activation="relu")(x)
    x = K.layers.LayerNormalization()(K.layers.Add()([x, ff]))
    pooled = K.layers.GlobalAveragePooling1D()(x)
    return K.Model(inp, K.layers.Dense(1)(pooled))


def _attention_concat(K):
    q_in = K.Input((6,), dtype="int32")
    v_in = K.Input((6,), dtype="int32")
    q = K.layers.Embedding(10, 4, mask_zero=True)(q_in)
    v = K.layers.Embedding(10, 4, mask_zero=True)(v_in)
    att = K.layers.Attention()([q, v])
    joined = K.layers.Concatenate()([q, att])
    pooled = K.layers.GlobalAveragePooling1D()(joined)
    return K.Model([q_in, v_in], K.layers.Dense(1)(pooled))


def _fit_both(keras, build, x, y, epochs=2):
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    with keras_ref():
        k_before = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_before, rtol=RTOL, atol=ATOL)
    with keras_ref():
        km.compile("adam", "mse")
        kh = km.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
        k_after = km.predict(x, verbose=0)
    lm.compile("adam", "mse")
    lh = lm.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_after, rtol=RTOL, atol=ATOL)
    return lm


@pytest.mark.slow
def test_transformer_encoder_block_with_padding_matches_keras(keras):
    x, y = _tokens()
    model = _fit_both(keras, _encoder_block, x, y)
    # The masks matter here: without them the padded steps change the outputs.
    unmasked = _encoder_block(lamina, mask_zero=False)
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict(x, verbose=0), model.predict(x, verbose=0))


def test_attention_and_concatenate_get_their_inputs_masks_as_in_keras(keras):
    xq, y = _tokens(seed=1)
    xv, _ = _tokens(seed=2)
    _fit_both(keras, _attention_concat, [xq, xv], y)


def test_masking_layer_mask_reaches_add_as_in_keras(keras):
    def build(K):
        inp = K.Input((5, 3))
        masked = K.layers.Masking(0.0)(inp)
        a = K.layers.Dense(4)(masked)
        b = K.layers.Dense(4)(masked)
        summed = K.layers.Add()([a, b])
        return K.Model(inp, K.layers.GlobalAveragePooling1D()(summed))

    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    x[:, 3:] = 0.0
    with keras_ref():
        km = build(keras)
        expected = km.predict(x, verbose=0)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    np.testing.assert_allclose(lm.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)
