"""Masks ride on tensors, as in Keras 3: inside a custom layer's ``call``, a sub-layer called
on a masked tensor gets its mask without being passed it (an attention block after
``Embedding(mask_zero=True)``, an ``Embedding`` then an ``LSTM``), and a masking layer on a
list of inputs passes the first input's mask on."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

TOKENS = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [5, 6, 7, 8, 9], [2, 2, 0, 0, 0]])


def _attention_block(k):
    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.att = k.layers.MultiHeadAttention(2, 4)

        def call(self, inputs):
            return self.att(inputs, inputs)

    inputs = k.Input((None,), dtype="int32")
    return k.Model(inputs, Block()(k.layers.Embedding(10, 4, mask_zero=True)(inputs)))


def _embedding_then_lstm(k):
    class Encoder(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = k.layers.Embedding(10, 4, mask_zero=True)
            self.lstm = k.layers.LSTM(3)

        def call(self, x):
            return self.lstm(self.embedding(x))

    inputs = k.Input((5,), dtype="int32")
    return k.Model(inputs, Encoder()(inputs))


def assert_predicts_like_keras(keras, build, x):
    """``build(keras)`` and ``build(lamina)`` with Keras's weights predict the same on ``x``."""
    with keras_ref():
        ref = build(keras)
        weights = ref.get_weights()
        expected = ref.predict(x, verbose=0)
    model = build(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*destroy the mask information")  # Keras warns too
def test_sublayers_inside_call_get_the_masks_their_inputs_carry(keras):
    for build in (_attention_block, _embedding_then_lstm):
        assert_predicts_like_keras(keras, build, TOKENS)


def test_a_masking_layer_on_a_list_passes_the_first_mask_on(keras):
    def build(k):
        class Merge(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True

            def call(self, inputs, mask=None):
                return inputs[0] + inputs[1]

        inputs = k.Input((None,), dtype="int32")
        e = k.layers.Embedding(10, 4, mask_zero=True)(inputs)
        model = k.Model(inputs, k.layers.Dense(3, activation="softmax")(Merge()([e, e])))
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    y = (TOKENS * 2 + 1) % 3
    with keras_ref():
        ref = build(keras)
        weights = ref.get_weights()
        expected = ref.evaluate(TOKENS, y, verbose=0)
    model = build(lamina)
    model.set_weights(weights)
    # Loss and accuracy over the 11 real tokens only, not all 20 positions.
    np.testing.assert_allclose(model.evaluate(TOKENS, y, verbose=0), expected, rtol=1e-5)
