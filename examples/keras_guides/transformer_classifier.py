"""A one-block transformer text classifier, written from Keras 3's layer APIs.

Token and position embeddings are summed by a custom layer; one encoder block (multi-head
self-attention, then a position-wise feed-forward network, each with a residual connection and
layer normalization) is a custom layer built from Keras layers; global average pooling and a
softmax head classify the sequence.  Padding (token 0) is masked: the embedding layer sets
``mask_zero=True`` and the mask reaches the attention layer, which ignores padded keys.

The data are stand-in "reviews": random token sequences of varying length, where the label is
whether the sequence holds more of the "positive" tokens (ids 2-51) than of the "negative" ones
(52-101); the rest of the vocabulary is filler.  The model has to count across positions, which
attention does well.

Runs with ``import lamina as keras`` only.

Run:  python examples/keras_guides/transformer_classifier.py
"""

import numpy as np

import lamina as keras
from lamina import layers, ops

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
vocab, maxlen, n = 2000, 64, 2400


def make_reviews(count):
    x = np.zeros((count, maxlen), "int32")
    y = np.zeros(count, "int32")
    for i in range(count):
        length = rng.integers(16, maxlen + 1)
        tokens = rng.integers(102, vocab, length)
        pos, neg = rng.integers(0, 8, 2)
        slots = rng.choice(length, pos + neg, replace=False)
        tokens[slots[:pos]] = rng.integers(2, 52, pos)
        tokens[slots[pos:]] = rng.integers(52, 102, neg)
        x[i, :length] = tokens
        y[i] = int(pos > neg)
    return x, y


class TokenAndPositionEmbedding(layers.Layer):
    """The sum of a token's embedding and its position's embedding."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(vocab_size, embed_dim, mask_zero=True)
        self.pos_emb = layers.Embedding(maxlen, embed_dim)

    def call(self, x):
        positions = ops.arange(0, ops.shape(x)[-1], 1)
        return self.token_emb(x) + self.pos_emb(positions)

    def compute_mask(self, x, mask=None):
        return ops.not_equal(x, 0)


class EncoderBlock(layers.Layer):
    """Self-attention and a feed-forward network, each added back and normalized."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.drop1 = layers.Dropout(rate)
        self.drop2 = layers.Dropout(rate)

    def call(self, inputs, training=False, mask=None):
        attention_mask = None if mask is None else ops.expand_dims(mask, 1)
        attended = self.att(inputs, inputs, attention_mask=attention_mask)
        hidden = self.norm1(inputs + self.drop1(attended, training=training))
        return self.norm2(hidden + self.drop2(self.ffn(hidden), training=training))


x, y = make_reviews(n)
x_val, y_val = make_reviews(600)

inputs = keras.Input(shape=(maxlen,), dtype="int32")
hidden = TokenAndPositionEmbedding(maxlen, vocab, 32)(inputs)
hidden = EncoderBlock(32, 2, 32)(hidden)
hidden = layers.GlobalAveragePooling1D()(hidden)
hidden = layers.Dropout(0.1)(hidden)
hidden = layers.Dense(20, activation="relu")(hidden)
outputs = layers.Dense(2, activation="softmax")(hidden)
model = keras.Model(inputs, outputs)

model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=32, epochs=6, validation_data=(x_val, y_val), verbose=0)
loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
print(f"train loss: {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}")
print(f"validation accuracy: {accuracy:.3f} (chance 0.5)")
probabilities = model.predict(x_val[:4], verbose=0)
print("predict:", probabilities.shape, "rows sum to 1:", bool(np.allclose(probabilities.sum(1), 1)))
