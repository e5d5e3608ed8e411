"""Masks cross the boundary of a nested model, as in Keras 3: a functional model or a
``Sequential`` called on a masked tensor gets the mask on its inputs (``Functional.call(...,
mask=)``), and the mask its inner layers compute leaves with its outputs, so the outer
model's losses and metrics are masked (keras.io's English-to-Spanish Transformer: the decoder
is a nested model called on ``[tokens, encoder_outputs]``)."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref
from tests.test_masks_in_calls import assert_predicts_like_keras

TOKENS = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [5, 6, 7, 8, 9], [2, 2, 0, 0, 0]])
TARGETS = np.array([[2, 3, 1, 0, 0], [1, 0, 0, 0, 0], [6, 7, 8, 9, 1], [3, 1, 0, 0, 0]])


def _mask_into_functional(k):
    """An outer ``Embedding(mask_zero=True)`` feeds a nested functional model whose LSTM must
    skip the padded steps."""
    inner_in = k.Input((None, 4))
    inner = k.Model(inner_in, k.layers.LSTM(3)(inner_in), name="inner")
    inputs = k.Input((None,), dtype="int32")
    return k.Model(inputs, inner(k.layers.Embedding(10, 4, mask_zero=True)(inputs)))


def _mask_into_sequential(k):
    inner = k.Sequential([k.layers.GRU(3, return_sequences=True), k.layers.LSTM(2)])
    inputs = k.Input((None,), dtype="int32")
    return k.Model(inputs, inner(k.layers.Embedding(10, 4, mask_zero=True)(inputs)))


def _decoder_like(k):
    """The Transformer example's shape: an encoder in the outer graph, a nested decoder model
    on ``[tokens, encoder_outputs]`` whose own embedding masks its output."""

    class CrossBlock(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.att = k.layers.MultiHeadAttention(2, 4)
            self.supports_masking = True

        def call(self, inputs, encoder_outputs, mask=None):
            return inputs + self.att(inputs, encoder_outputs)

    enc_in = k.Input((None,), dtype="int32")
    encoded = k.layers.LSTM(4, return_sequences=True)(
        k.layers.Embedding(10, 4, mask_zero=True)(enc_in)
    )
    dec_tokens = k.Input((None,), dtype="int32")
    dec_encoded = k.Input((None, 4))
    x = k.layers.Embedding(10, 4, mask_zero=True)(dec_tokens)
    x = CrossBlock()(x, dec_encoded)
    x = k.layers.Dropout(0.0)(x)
    decoder = k.Model(
        [dec_tokens, dec_encoded], k.layers.Dense(10, activation="softmax")(x), name="decoder"
    )
    outer_dec = k.Input((None,), dtype="int32")
    return k.Model([enc_in, outer_dec], decoder([outer_dec, encoded]))


@pytest.mark.parametrize("build", [_mask_into_functional, _mask_into_sequential])
def test_a_nested_model_gets_the_mask_of_its_input(keras, build):
    assert_predicts_like_keras(keras, build, TOKENS)


@pytest.mark.filterwarnings("ignore:.*destroy the mask information")  # Keras warns too
def test_the_mask_computed_inside_a_nested_model_masks_the_outer_loss(keras):
    x = [TOKENS, TARGETS]
    with keras_ref():
        ref = _decoder_like(keras)
        ref.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        weights = ref.get_weights()
        expected_pred = ref.predict(x, verbose=0)
        expected = ref.evaluate(x, TOKENS, verbose=0)
        hist = ref.fit(x, TOKENS, epochs=2, batch_size=2, shuffle=False, verbose=0).history
    model = _decoder_like(lamina)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected_pred, atol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, TOKENS, verbose=0), expected, atol=1e-5)
    got = model.fit(x, TOKENS, epochs=2, batch_size=2, shuffle=False, verbose=0).history
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(got[name], hist[name], atol=1e-4)


@pytest.mark.filterwarnings("ignore:.*destroy the mask information")
def test_a_nested_model_called_inside_a_custom_layer_takes_and_gives_masks(keras):
    def build(k):
        inner_in = k.Input((None, 4))
        inner = k.Model(inner_in, k.layers.GRU(3, return_sequences=True)(inner_in))
        embed_in = k.Input((None,), dtype="int32")
        embed = k.Model(embed_in, k.layers.Embedding(10, 4, mask_zero=True)(embed_in))

        class Block(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.embed = embed  # makes the mask inside, gives it out
                self.inner = inner  # takes it in, passes it on
                self.pool = k.layers.LSTM(2)

            def call(self, x):
                return self.pool(self.inner(self.embed(x)))

        inputs = k.Input((None,), dtype="int32")
        return k.Model(inputs, Block()(inputs))

    assert_predicts_like_keras(keras, build, TOKENS)


@pytest.mark.filterwarnings("ignore:.*destroy the mask information")
def test_a_mask_that_the_nested_model_drops_does_not_leave_it(keras):
    """Keras's models do not pass their input's mask on: only the masks their own layers
    propagate leave with the outputs (a ``Conv1D`` inside drops it)."""

    def build(k):
        inner_in = k.Input((None, 4))
        inner = k.Model(inner_in, k.layers.Conv1D(4, 1)(inner_in))
        inputs = k.Input((None,), dtype="int32")
        x = inner(k.layers.Embedding(10, 4, mask_zero=True)(inputs))
        return k.Model(inputs, k.layers.LSTM(2)(x))

    assert_predicts_like_keras(keras, build, TOKENS)
