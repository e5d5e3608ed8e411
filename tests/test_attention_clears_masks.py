"""Keras's ``MultiHeadAttention`` reads its query's mask and then clears the masks of its
query, value and key tensors in place, so the residual ``Add([attention, x])`` after it passes
no mask on: the next attention's query is unmasked and the output (hence the loss) carries no
mask.  A captioning decoder (keras.io's image captioning) gave other predictions at padded
positions and another loss before Lamina followed that rule; a mask that a layer's ``call``
takes as an argument (pooling after the residual) is still the graph's."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _decoder(k, head):
    layers = k.layers
    tokens, features = k.Input((6,), dtype="int32"), k.Input((4, 8))
    x = layers.Embedding(20, 8, mask_zero=True)(tokens)
    attended = layers.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    crossed = layers.MultiHeadAttention(2, 4)(x, features)
    x = layers.LayerNormalization()(layers.Add()([x, crossed]))
    if head == "tokens":
        out = layers.Dense(20)(x)
    else:  # a pooling whose call takes the mask: the graph's mask still reaches it
        out = layers.Dense(20)(layers.GlobalAveragePooling1D()(x))
    model = k.Model([tokens, features], out)
    model.compile(k.optimizers.SGD(0.1), k.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("head", ["tokens", "pooled"])
def test_decoder_with_padding_matches_keras(keras, head):
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, (8, 6))
    for i, n in enumerate(rng.integers(2, 6, 8)):
        tokens[i, n:] = 0
    features = rng.normal(size=(8, 4, 8)).astype("float32")
    y = rng.integers(0, 20, (8, 6) if head == "tokens" else (8,))
    with keras_ref():
        ref = _decoder(keras, head)
        weights = ref.get_weights()
        want_pred = ref.predict([tokens, features], verbose=0)
        want_eval = ref.evaluate([tokens, features], y, batch_size=8, verbose=0)
        want_fit = ref.fit([tokens, features], y, batch_size=4, epochs=2, shuffle=False,
                           verbose=0).history["loss"]  # fmt: skip
    model = _decoder(lamina, head)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict([tokens, features], verbose=0), want_pred,
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    got_eval = model.evaluate([tokens, features], y, batch_size=8, verbose=0)
    assert got_eval == pytest.approx(want_eval, rel=1e-5)
    got_fit = model.fit([tokens, features], y, batch_size=4, epochs=2, shuffle=False,
                        verbose=0).history["loss"]  # fmt: skip
    np.testing.assert_allclose(got_fit, want_fit, rtol=1e-5)
