"""A Keras 1-style custom layer that keeps its initializer as ``self.init`` (the attention layer
copied through many Kaggle notebooks: ``self.init = initializers.get('glorot_uniform')``, then
``self.add_weight(..., initializer=self.init)``) must not hide Lamina's ``Layer.init``."""

from __future__ import annotations

import numpy as np

import lamina
from lamina import backend as K
from lamina import initializers
from lamina.layers import LSTM, Dense, Embedding, Layer


class Attention(Layer):
    def __init__(self, **kwargs):
        self.supports_masking = True
        self.init = initializers.get("ones")
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.W = self.add_weight(
            shape=(input_shape[-1],), initializer=self.init, name=f"{self.name}_W"
        )
        super().build(input_shape)

    def call(self, x, mask=None):
        eij = K.tanh(K.dot(x, K.expand_dims(self.W)))
        ai = K.exp(K.squeeze(eij, -1))
        if mask is not None:
            ai = ai * K.cast(mask, K.floatx())
        weights = ai / K.cast(K.sum(ai, axis=1, keepdims=True) + K.epsilon(), K.floatx())
        return K.sum(x * K.expand_dims(weights), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def test_a_layer_attribute_named_init_keeps_its_meaning_and_the_layer_builds():
    att = Attention()
    model = lamina.Sequential(
        [lamina.Input((6,), dtype="int32"), Embedding(20, 4, mask_zero=True),
         LSTM(5, return_sequences=True), att, Dense(1, activation="sigmoid")]
    )  # fmt: skip
    model.compile("adam", "binary_crossentropy", metrics=["acc"])
    x = np.random.default_rng(0).integers(1, 20, (8, 6))
    model.fit(x, np.ones(8), epochs=1, verbose=0)
    assert isinstance(att.init, initializers.Ones)  # still the user's initializer
    np.testing.assert_array_equal(att.get_weights()[0] != 0, True)
    # the weight was drawn from ``self.init`` (ones), then trained one epoch: close to one
    assert np.abs(att.get_weights()[0] - 1.0).max() < 0.1
    seq = model.layers[1](model.layers[0](x[:2]))
    expected = _numpy_attention(np.asarray(seq), att.get_weights()[0], x[:2] != 0)
    np.testing.assert_allclose(np.asarray(att(seq, mask=x[:2] != 0)), expected, rtol=1e-5)


def _numpy_attention(x, w, mask):
    ai = np.exp(np.tanh(x @ w)) * mask
    weights = ai / (ai.sum(axis=1, keepdims=True) + 1e-7)
    return (x * weights[..., None]).sum(axis=1)


def test_a_builtin_layer_with_an_init_attribute_still_initialises():
    layer = Dense(2)
    layer.init = initializers.get("zeros")
    model = lamina.Sequential([lamina.Input((3,)), layer])
    assert model.predict(np.ones((1, 3)), verbose=0).shape == (1, 2)
