"""keras.io NLP examples (``examples/nlp/``, Keras 3 versions) run under ``import lamina as
keras`` on small synthetic stand-in data (no downloads), each model's code copied nearly
verbatim, compared with real Keras on the same weights where that is cheap, and saved and
loaded as ``.keras``:

* "Sequence to sequence learning for performing number addition" (``addition_rnn``): LSTM,
  ``RepeatVector``, LSTM with ``return_sequences``, softmax per step;
* "Character-level recurrent sequence-to-sequence model" (``lstm_seq2seq``): the encoder's
  ``return_state=True``, the decoder's ``initial_state=``, then the inference encoder and
  decoder rebuilt from the loaded model's layers (``model.input[0]``, ``model.layers[2].output``);
* "Text classification with Transformer" (``TransformerBlock``, ``TokenAndPositionEmbedding``);
* "Bidirectional LSTM on IMDB" (``bidirectional_lstm_imdb``);
* "Using pre-trained word embeddings" (``TextVectorization``, a frozen ``Embedding`` set from a
  matrix, ``Constant(matrix)``, the end-to-end model on raw strings);
* "English-to-Spanish translation with a sequence-to-sequence Transformer"
  (``neural_machine_translation_with_transformer``: ``PositionalEmbedding.compute_mask``,
  ``TransformerEncoder``/``TransformerDecoder`` with ``supports_masking``,
  ``use_causal_mask=True`` and explicit ``query_mask=``/``key_mask=``, custom objects);
* "Text classification from scratch" (``TextVectorization(standardize=custom_standardization)``
  in a string model, saved and loaded);
* "End-to-end Masked Language Modeling with BERT" (``MaskedLanguageModel(inputs, outputs)``
  overriding ``compute_loss``/``compute_metrics``/``metrics``; ``keras_hub``'s
  ``PositionEmbedding`` replaced by a small layer; the classifier on the frozen encoder);
* "Multi-label text classification" (``StringLookup(output_mode="multi_hot")``,
  ``TextVectorization(ngrams=2, output_mode="tf_idf")``, the inference ``Sequential``);
* "Named Entity Recognition using Transformers" (a subclassed ``NERModel``, the
  ``CustomNonPaddingTokenLoss``);
* "Text classification with Switch Transformer": its ``Switch`` layer hard-codes the batch
  size in a reshape, which Lamina cannot yet place in a functional model (an xfail).

Fixed in Lamina: a ``MultiHeadAttention`` called inside a custom layer's ``call`` ignored
Keras's rule that the query mask is the one the query tensor carries (an explicit
``query_mask=`` is dropped, as Keras 3's ``call`` does); a built-in layer holding a user
function (``TextVectorization``'s ``standardize``) could not be saved; a ``Model`` subclass
built on a graph was saved and loaded as a plain ``Functional`` (its ``compute_loss`` lost).
"""

import json
import re
import string
import warnings
import zipfile

import numpy as np
import pytest

import lamina
from lamina.saving.safety import FileFormatError
from tests.helpers import keras_ref, rewrite_config


def _save_load(model, tmp_path, name="m.keras", **kwargs):
    path = str(tmp_path / name)
    model.save(path)
    return lamina.models.load_model(path, **kwargs)


# ------------------------------------------------------------------------ addition_rnn
@pytest.mark.slow
def test_addition_rnn_trains_predicts_and_round_trips(tmp_path):
    keras = lamina
    layers = keras.layers
    DIGITS, chars = 2, "0123456789+ "
    MAXLEN = DIGITS + 1 + DIGITS
    rng = np.random.default_rng(0)
    idx = {c: i for i, c in enumerate(sorted(set(chars)))}
    x = np.zeros((48, MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((48, DIGITS + 1, len(chars)), dtype=bool)
    for i in range(48):
        a, b = rng.integers(0, 100, 2)
        q = f"{a}+{b}".ljust(MAXLEN)[::-1]
        ans = str(a + b).ljust(DIGITS + 1)
        x[i, np.arange(MAXLEN), [idx[c] for c in q]] = 1
        y[i, np.arange(DIGITS + 1), [idx[c] for c in ans]] = 1
    model = keras.Sequential()
    model.add(layers.Input((MAXLEN, len(chars))))
    model.add(layers.LSTM(16))
    model.add(layers.RepeatVector(DIGITS + 1))
    for _ in range(1):
        model.add(layers.LSTM(16, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    hist = model.fit(x[:40], y[:40], batch_size=16, epochs=1, validation_data=(x[40:], y[40:]),
                     verbose=0)  # fmt: skip
    assert set(hist.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    preds = np.argmax(model.predict(x[40:41], verbose=0), axis=-1)
    assert preds.shape == (1, DIGITS + 1)
    loaded = _save_load(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)  # fmt: skip


# ------------------------------------------------------------------------ lstm_seq2seq
def _seq2seq_data(n=16, enc_tokens=6, dec_tokens=5, seed=0):
    rng = np.random.default_rng(seed)
    enc = np.eye(enc_tokens, dtype="float32")[rng.integers(0, enc_tokens, (n, 5))]
    dec = np.eye(dec_tokens, dtype="float32")[rng.integers(0, dec_tokens, (n, 4))]
    target = np.concatenate([dec[:, 1:], dec[:, :1] * 0], axis=1)
    return enc, dec, target


def _seq2seq_model(keras, num_encoder_tokens, num_decoder_tokens, latent_dim=8):
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    return keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)


@pytest.mark.slow
def test_lstm_seq2seq_inference_models_from_loaded_layers_match_keras(keras, tmp_path):
    enc, dec, target = _seq2seq_data()
    latent_dim = 8
    with keras_ref():
        ref = _seq2seq_model(keras, 6, 5, latent_dim)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict([enc, dec], verbose=0))
    model = _seq2seq_model(lamina, 6, 5, latent_dim)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict([enc, dec], verbose=0), expected, atol=1e-5)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit([enc, dec], target, batch_size=8, epochs=1, validation_split=0.2, verbose=0)
    model = _save_load(model, tmp_path, "s2s_model.keras")

    # The example's inference models, built from the loaded model's layers.
    keras_ = lamina
    encoder_inputs = model.input[0]  # input_1
    encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output  # lstm_1
    encoder_states = [state_h_enc, state_c_enc]
    encoder_model = keras_.Model(encoder_inputs, encoder_states)
    decoder_inputs = model.input[1]  # input_2
    decoder_state_input_h = keras_.Input(shape=(latent_dim,))
    decoder_state_input_c = keras_.Input(shape=(latent_dim,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(
        decoder_inputs, initial_state=decoder_states_inputs
    )
    decoder_states = [state_h_dec, state_c_dec]
    decoder_dense = model.layers[4]
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = keras_.Model(
        [decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states
    )
    # Teacher-forced through the two inference models == the training model.
    states_value = encoder_model.predict(enc, verbose=0)
    out, h, c = decoder_model.predict([dec] + states_value, verbose=0)
    np.testing.assert_allclose(out, model.predict([enc, dec], verbose=0), atol=1e-5)
    # The example's step-by-step decoding loop.
    target_seq = np.zeros((1, 1, 5))
    target_seq[0, 0, 0] = 1.0
    states_value = encoder_model.predict(enc[:1], verbose=0)
    for _ in range(3):
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled = int(np.argmax(output_tokens[0, -1, :]))
        target_seq = np.zeros((1, 1, 5))
        target_seq[0, 0, sampled] = 1.0
        states_value = [h, c]
    assert h.shape == (1, latent_dim)


# --------------------------------------------------- text_classification_with_transformer
def _transformer_classifier(keras, vocab_size=50, maxlen=8, embed_dim=8, num_heads=2, ff_dim=8):
    layers, ops = keras.layers, keras.ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential(
                [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


@pytest.mark.slow
def test_text_classification_with_transformer_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = lamina.utils.pad_sequences([list(rng.integers(1, 50, rng.integers(3, 9))) for _ in
                                    range(24)], maxlen=8)  # fmt: skip
    y = rng.integers(0, 2, 24)
    with keras_ref():
        ref = _transformer_classifier(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict(x, verbose=0))
    model = _transformer_classifier(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=8, epochs=1, validation_data=(x[:8], y[:8]), verbose=0)
    assert np.isfinite(hist.history["val_loss"][0])


# ------------------------------------------------------------- bidirectional_lstm_imdb
@pytest.mark.slow
def test_bidirectional_lstm_imdb_matches_keras_and_round_trips(keras, tmp_path):
    rng = np.random.default_rng(1)
    x = lamina.utils.pad_sequences([list(rng.integers(1, 40, rng.integers(3, 15))) for _ in
                                    range(16)], maxlen=10)  # fmt: skip
    y = rng.integers(0, 2, 16)

    def build(keras):
        layers = keras.layers
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = layers.Embedding(40, 8)(inputs)
        x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
        x = layers.Bidirectional(layers.LSTM(4))(x)
        outputs = layers.Dense(1, activation="sigmoid")(x)
        return keras.Model(inputs, outputs)

    with keras_ref():
        ref = build(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict(x, verbose=0))
    model = build(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), verbose=0)
    loaded = _save_load(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ----------------------------------------------------------- pretrained_word_embeddings
@pytest.mark.slow
def test_pretrained_word_embeddings_frozen_matrix_and_end_to_end_model(tmp_path):
    keras = lamina
    layers = keras.layers
    samples = ["the cat sat on the mat", "a dog ran in the park", "good movie great plot",
               "bad film awful acting", "hello world this is text"] * 4  # fmt: skip
    labels = np.arange(len(samples)) % 5
    vectorizer = layers.TextVectorization(max_tokens=20000, output_sequence_length=12)
    vectorizer.adapt(samples)
    voc = vectorizer.get_vocabulary()
    word_index = dict(zip(voc, range(len(voc))))
    output = vectorizer([["the cat sat on the mat"]])
    assert output.numpy()[0, :6].tolist() == [
        word_index[w] for w in "the cat sat on the mat".split()
    ]
    rng = np.random.default_rng(0)
    embeddings_index = {w: rng.normal(size=8).astype("float32") for w in ["the", "cat", "good"]}
    num_tokens, embedding_dim = len(voc) + 2, 8
    embedding_matrix = np.zeros((num_tokens, embedding_dim))
    for word, i in word_index.items():
        embedding_vector = embeddings_index.get(word)
        if embedding_vector is not None:
            embedding_matrix[i] = embedding_vector
    embedding_layer = layers.Embedding(num_tokens, embedding_dim, trainable=False)
    embedding_layer.build((1,))
    embedding_layer.set_weights([embedding_matrix])
    int_sequences_input = keras.Input(shape=(None,), dtype="int32")
    embedded_sequences = embedding_layer(int_sequences_input)
    x = layers.Conv1D(8, 3, activation="relu")(embedded_sequences)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(8, 3, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(int_sequences_input, preds)
    x_train = vectorizer(np.array([[s] for s in samples])).numpy()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    model.fit(x_train, labels, batch_size=8, epochs=1, validation_data=(x_train, labels),
              verbose=0)  # fmt: skip
    np.testing.assert_array_equal(embedding_layer.get_weights()[0], embedding_matrix)
    # The Keras 3 version's Constant(matrix) initializer gives the same frozen table.
    constant = layers.Embedding(num_tokens, embedding_dim, trainable=False,
                                embeddings_initializer=keras.initializers.Constant(embedding_matrix))  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(constant(np.array([[2, 3]])))[0], embedding_matrix[[2, 3]]
    )
    string_input = keras.Input(shape=(1,), dtype="string")
    x = vectorizer(string_input)
    preds = model(x)
    end_to_end_model = keras.Model(string_input, preds)
    probabilities = end_to_end_model(np.array([["this message is about the cat"]]))
    assert np.asarray(probabilities).shape == (1, 5)
    loaded = _save_load(end_to_end_model, tmp_path)
    text = np.array([["the cat sat"], ["good film"]])
    np.testing.assert_allclose(loaded.predict(text, verbose=0),
                               end_to_end_model.predict(text, verbose=0), atol=1e-6)  # fmt: skip


# ---------------------------------------------- neural_machine_translation_with_transformer
def _nmt(keras, vocab_size=30, sequence_length=8, embed_dim=8, latent_dim=16, num_heads=2):
    layers, ops = keras.layers, keras.ops

    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.dense_dim = dense_dim
            self.num_heads = num_heads
            self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = keras.Sequential(
                [layers.Dense(dense_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            if mask is not None:
                padding_mask = ops.cast(mask[:, None, :], dtype="int32")
            else:
                padding_mask = None
            attention_output = self.attention(
                query=inputs, value=inputs, key=inputs, attention_mask=padding_mask
            )
            proj_input = self.layernorm_1(inputs + attention_output)
            proj_output = self.dense_proj(proj_input)
            return self.layernorm_2(proj_input + proj_output)

        def get_config(self):
            config = super().get_config()
            config.update({"embed_dim": self.embed_dim, "dense_dim": self.dense_dim,
                           "num_heads": self.num_heads})  # fmt: skip
            return config

    class PositionalEmbedding(layers.Layer):
        def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.position_embeddings = layers.Embedding(
                input_dim=sequence_length, output_dim=embed_dim
            )
            self.sequence_length = sequence_length
            self.vocab_size = vocab_size
            self.embed_dim = embed_dim

        def call(self, inputs):
            length = ops.shape(inputs)[-1]
            positions = ops.arange(0, length, 1)
            embedded_tokens = self.token_embeddings(inputs)
            embedded_positions = self.position_embeddings(positions)
            return embedded_tokens + embedded_positions

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

        def get_config(self):
            config = super().get_config()
            config.update({"sequence_length": self.sequence_length,
                           "vocab_size": self.vocab_size, "embed_dim": self.embed_dim})  # fmt: skip
            return config

    class TransformerDecoder(layers.Layer):
        def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.latent_dim = latent_dim
            self.num_heads = num_heads
            self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = keras.Sequential(
                [layers.Dense(latent_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()
            self.layernorm_3 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            inputs, encoder_outputs = inputs
            if mask is None:
                inputs_padding_mask, encoder_outputs_padding_mask = None, None
            else:
                inputs_padding_mask, encoder_outputs_padding_mask = mask
            attention_output_1 = self.attention_1(
                query=inputs, value=inputs, key=inputs, use_causal_mask=True,
                query_mask=inputs_padding_mask,
            )  # fmt: skip
            out_1 = self.layernorm_1(inputs + attention_output_1)
            attention_output_2 = self.attention_2(
                query=out_1, value=encoder_outputs, key=encoder_outputs,
                query_mask=inputs_padding_mask, key_mask=encoder_outputs_padding_mask,
            )  # fmt: skip
            out_2 = self.layernorm_2(out_1 + attention_output_2)
            proj_output = self.dense_proj(out_2)
            return self.layernorm_3(out_2 + proj_output)

        def get_config(self):
            config = super().get_config()
            config.update({"embed_dim": self.embed_dim, "latent_dim": self.latent_dim,
                           "num_heads": self.num_heads})  # fmt: skip
            return config

    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
    encoder_outputs = TransformerEncoder(embed_dim, latent_dim, num_heads)(x)
    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="decoder_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)([x, encoder_outputs])
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    transformer = keras.Model(
        {"encoder_inputs": encoder_inputs, "decoder_inputs": decoder_inputs},
        decoder_outputs,
        name="transformer",
    )
    custom = {"PositionalEmbedding": PositionalEmbedding, "TransformerEncoder": TransformerEncoder,
              "TransformerDecoder": TransformerDecoder}  # fmt: skip
    return transformer, custom


def _nmt_data(n=8, length=8, vocab=30, seed=0):
    rng = np.random.default_rng(seed)
    enc, dec = np.zeros((n, length), "int32"), np.zeros((n, length), "int32")
    for i in range(n):  # padded sentences: the masks matter
        a, b = rng.integers(3, length + 1, 2)
        enc[i, :a] = rng.integers(1, vocab, a)
        dec[i, :b] = rng.integers(1, vocab, b)
    target = np.concatenate([dec[:, 1:], np.zeros((n, 1), "int32")], axis=1)
    return {"encoder_inputs": enc, "decoder_inputs": dec}, target


@pytest.mark.slow
def test_nmt_transformer_matches_keras_at_every_position_and_round_trips(keras, tmp_path):
    """Keras's attention ignores the decoder's explicit ``query_mask=`` on the cross
    attention (its query, a sum, carries no mask): padded positions too must agree."""
    x, y = _nmt_data()
    with warnings.catch_warnings(), keras_ref():
        warnings.simplefilter("ignore")  # int64 inputs truncated to int32 on JAX
        ref, _ = _nmt(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict(x, verbose=0))
        ref.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        expected_eval = ref.evaluate(x, y, verbose=0)
    model, custom = _nmt(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    model.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected_eval, rtol=1e-5)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    loaded = _save_load(model, tmp_path, custom_objects=custom)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)  # fmt: skip


def _cross_attention_model(keras):
    """The NMT decoder's pattern, small: an explicit ``query_mask=`` on a query that carries
    no mask (a sum), inside a custom layer."""
    layers = keras.layers

    class Cross(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.attention = layers.MultiHeadAttention(num_heads=2, key_dim=4)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            query, value = inputs
            query_mask, value_mask = (None, None) if mask is None else mask
            return self.attention(query=query + 0.0, value=value, query_mask=query_mask,
                                  key_mask=value_mask)  # fmt: skip

    q_in, v_in = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    emb = layers.Embedding(20, 8, mask_zero=True)
    out = Cross()([emb(q_in), emb(v_in)])
    return keras.Model([q_in, v_in], out)


@pytest.mark.slow
def test_attention_in_a_custom_layer_ignores_explicit_query_mask_as_keras(keras):
    q = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], "int32")
    v = np.array([[6, 7, 0, 0, 0, 0], [1, 1, 1, 2, 0, 0]], "int32")
    with keras_ref():
        ref = _cross_attention_model(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict([q, v], verbose=0))
    model = _cross_attention_model(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict([q, v], verbose=0), expected, atol=1e-5)


# ------------------------------------------------------ text_classification_from_scratch
def custom_standardization(input_data):
    """The example's function, in NumPy (its ``tf.strings`` calls have no JAX twin)."""
    lowercase = np.char.lower(np.asarray(input_data).astype(str))
    stripped_html = np.char.replace(lowercase, "<br />", " ")
    pattern = f"[{re.escape(string.punctuation)}]"
    return np.vectorize(lambda s: re.sub(pattern, "", s), otypes=[object])(stripped_html)


@pytest.mark.slow
def test_text_classification_from_scratch_end_to_end_model_saves_and_loads(tmp_path):
    keras = lamina
    layers = keras.layers
    texts = np.array(["Great movie, loved it!", "An awful <br />film.", "best acting EVER",
                      "boring plot; bad cast"] * 4)  # fmt: skip
    labels = np.array([1, 0, 1, 0] * 4)
    vectorize_layer = keras.layers.TextVectorization(
        standardize=custom_standardization, max_tokens=50, output_mode="int",
        output_sequence_length=12,
    )  # fmt: skip
    vectorize_layer.adapt(texts)
    assert (
        "great" in vectorize_layer.get_vocabulary() and "br" not in vectorize_layer.get_vocabulary()
    )
    x_train = vectorize_layer(np.expand_dims(texts, -1))
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(50, 8)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=2)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, labels, epochs=1, batch_size=8, verbose=0)
    inputs = keras.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = keras.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    end_to_end_model.evaluate(texts[:, None], labels, verbose=0)
    expected = end_to_end_model.predict(texts[:4, None], verbose=0)
    loaded = _save_load(end_to_end_model, tmp_path,
                        custom_objects={"custom_standardization": custom_standardization})  # fmt: skip
    np.testing.assert_allclose(loaded.predict(texts[:4, None], verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="custom_standardization.*custom_objects"):
        lamina.models.load_model(str(tmp_path / "m.keras"))


def test_text_vectorization_config_keeps_the_function_as_keras():
    layer = lamina.layers.TextVectorization(standardize=custom_standardization)
    config = layer.get_config()
    assert config["standardize"] is custom_standardization
    entry = lamina.layers.serialize(layer)["config"]["standardize"]
    assert entry["class_name"] == "function" and entry["config"] == "custom_standardization"
    with lamina.saving.custom_object_scope({"custom_standardization": custom_standardization}):
        again = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert again.standardize is custom_standardization


# ---------------------------------------------------------------- masked_language_modeling
MAX_LEN, VOCAB, EMBED_DIM = 8, 30, 8


def _bert(keras):
    layers = keras.layers

    class PositionEmbedding(layers.Layer):  # stands in for keras_hub.layers.PositionEmbedding
        def __init__(self, sequence_length, **kwargs):
            super().__init__(**kwargs)
            self.sequence_length = sequence_length

        def build(self, input_shape):
            self.position_embeddings = self.add_weight(
                name="embeddings", shape=(self.sequence_length, input_shape[-1]),
                initializer="glorot_uniform",
            )  # fmt: skip

        def call(self, inputs):
            length = keras.ops.shape(inputs)[-2]
            return keras.ops.broadcast_to(
                self.position_embeddings[:length], keras.ops.shape(inputs)
            )

        def get_config(self):
            return {**super().get_config(), "sequence_length": self.sequence_length}

    def bert_module(query, key, value, i):
        attention_output = layers.MultiHeadAttention(
            num_heads=2, key_dim=EMBED_DIM // 2, name=f"encoder_{i}_multiheadattention"
        )(query, key, value)
        attention_output = layers.Dropout(0.0, name=f"encoder_{i}_att_dropout")(attention_output)
        attention_output = layers.LayerNormalization(
            epsilon=1e-6, name=f"encoder_{i}_att_layernormalization"
        )(query + attention_output)
        ffn = keras.Sequential(
            [layers.Dense(8, activation="relu"), layers.Dense(EMBED_DIM)],
            name=f"encoder_{i}_ffn",
        )
        ffn_output = ffn(attention_output)
        ffn_output = layers.Dropout(0.0, name=f"encoder_{i}_ffn_dropout")(ffn_output)
        sequence_output = layers.LayerNormalization(
            epsilon=1e-6, name=f"encoder_{i}_ffn_layernormalization"
        )(attention_output + ffn_output)
        return sequence_output

    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    loss_tracker = keras.metrics.Mean(name="loss")

    class MaskedLanguageModel(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = loss_fn(y, y_pred, sample_weight)
            loss_tracker.update_state(loss, sample_weight=sample_weight)
            return keras.ops.sum(loss)

        def compute_metrics(self, x, y, y_pred, sample_weight):
            return {"loss": loss_tracker.result()}

        @property
        def metrics(self):
            return [loss_tracker]

    inputs = layers.Input((MAX_LEN,), dtype="int64")
    word_embeddings = layers.Embedding(VOCAB, EMBED_DIM, name="word_embedding")(inputs)
    position_embeddings = PositionEmbedding(sequence_length=MAX_LEN)(word_embeddings)
    embeddings = word_embeddings + position_embeddings
    encoder_output = embeddings
    for i in range(1):
        encoder_output = bert_module(encoder_output, encoder_output, encoder_output, i)
    mlm_output = layers.Dense(VOCAB, name="mlm_cls", activation="softmax")(encoder_output)
    mlm_model = MaskedLanguageModel(inputs, mlm_output, name="masked_bert_model")
    mlm_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001))
    custom = {"MaskedLanguageModel": MaskedLanguageModel, "PositionEmbedding": PositionEmbedding}
    return mlm_model, custom


def _mlm_data(n=16, seed=0):
    rs = np.random.RandomState(seed)
    encoded = np.zeros((n, MAX_LEN), "int32")
    for i in range(n):
        k = rs.randint(3, MAX_LEN + 1)
        encoded[i, :k] = rs.randint(3, VOCAB - 1, k)
    inp_mask = (rs.rand(*encoded.shape) < 0.3) & (encoded > 2)
    masked = np.where(inp_mask, VOCAB - 1, encoded)
    sample_weights = inp_mask.astype("float32")
    return masked, encoded, sample_weights


@pytest.mark.slow
def test_masked_language_model_fit_matches_keras_and_loads_as_its_class(keras, tmp_path):
    x, y, sw = _mlm_data()
    with warnings.catch_warnings(), keras_ref():
        warnings.simplefilter("ignore")  # int64 inputs truncated to int32 on JAX
        ref, _ = _bert(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = ref.fit(x, y, sample_weight=sw, epochs=1, batch_size=8, verbose=0,
                           shuffle=False).history  # fmt: skip
    model, custom = _bert(lamina)
    model.set_weights(weights)
    hist = model.fit(x, y, sample_weight=sw, epochs=1, batch_size=8, verbose=0, shuffle=False)
    np.testing.assert_allclose(hist.history["loss"], expected["loss"], rtol=1e-5)
    loaded = _save_load(model, tmp_path, "bert_mlm_imdb.keras", custom_objects=custom)
    assert type(loaded) is custom["MaskedLanguageModel"]  # was a plain Functional
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)  # fmt: skip
    # The classifier on the loaded model's encoder, frozen then fine-tuned.
    pretrained = lamina.Model(
        loaded.input, loaded.get_layer("encoder_0_ffn_layernormalization").output
    )
    pretrained.trainable = False
    inputs = lamina.layers.Input((MAX_LEN,), dtype="int64")
    pooled = lamina.layers.GlobalMaxPooling1D()(pretrained(inputs))
    outputs = lamina.layers.Dense(1, activation="sigmoid")(pooled)
    classifier = lamina.Model(inputs, outputs, name="classification")
    classifier.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    frozen = [np.asarray(w) for w in pretrained.get_weights()]
    classifier.fit(y, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(frozen, pretrained.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_graph_built_model_subclass_without_its_class_loads_as_functional(tmp_path):
    model, custom = _bert(lamina)
    path = str(tmp_path / "m.keras")
    model.save(path)
    given = {"PositionEmbedding": custom["PositionEmbedding"]}
    with pytest.warns(UserWarning, match="MaskedLanguageModel.*custom_objects"):
        loaded = lamina.models.load_model(path, custom_objects=given, compile=False)
    assert type(loaded).__name__ == "Functional"


# ---------------------------------------------------------- multi_label_classification
@pytest.mark.slow
def test_multi_label_classification_inference_model_round_trips(tmp_path):
    keras = lamina
    layers = keras.layers
    terms = [["cs.LG"], ["cs.LG", "stat.ML"], ["cs.CV"], ["cs.CV", "cs.LG"]] * 4
    abstracts = np.array(["deep learning for graphs", "statistical learning theory bounds",
                          "image segmentation networks", "vision transformers learning"] * 4)  # fmt: skip
    lookup = layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(terms)
    vocab = lookup.get_vocabulary()
    assert vocab == ["[UNK]", "cs.LG", "cs.CV", "stat.ML"]
    label_binarized = np.asarray(lookup([terms[1]]))
    np.testing.assert_array_equal(label_binarized, [[0, 1, 0, 1]])
    text_vectorizer = layers.TextVectorization(max_tokens=50, ngrams=2, output_mode="tf_idf")
    text_vectorizer.adapt(abstracts)
    x = text_vectorizer(abstracts)
    y = np.concatenate([np.asarray(lookup([t])) for t in terms])
    shallow_mlp_model = keras.Sequential(
        [
            layers.Dense(16, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(lookup.vocabulary_size(), activation="sigmoid"),
        ]
    )
    shallow_mlp_model.compile(
        loss="binary_crossentropy", optimizer="adam", metrics=["binary_accuracy"]
    )
    history = shallow_mlp_model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert "val_binary_accuracy" in history.history
    model_for_inference = keras.Sequential([text_vectorizer, shallow_mlp_model])
    predicted = model_for_inference.predict(abstracts[:2], verbose=0)
    assert predicted.shape == (2, 4)
    loaded = _save_load(model_for_inference, tmp_path)
    np.testing.assert_allclose(loaded.predict(abstracts[:2], verbose=0), predicted, atol=1e-6)


# --------------------------------------------------------------------- ner_transformers
def _ner(keras, vocab_size=30, maxlen=8, num_tags=5, embed_dim=8, ff_dim=8):
    layers, ops = keras.layers, keras.ops

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, inputs):
            maxlen = ops.shape(inputs)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            return self.token_emb(inputs) + self.pos_emb(positions)

    class NERModel(keras.Model):
        def __init__(self, num_tags, vocab_size, maxlen=128, embed_dim=32, ff_dim=32):
            super().__init__()
            self.embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
            self.att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=embed_dim)
            self.layernorm = keras.layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(0.1)
            self.ff = layers.Dense(ff_dim, activation="relu")
            self.ff_final = layers.Dense(num_tags, activation="softmax")

        def call(self, inputs, training=False):
            x = self.embedding_layer(inputs)
            x = self.layernorm(x + self.att(x, x))
            x = self.dropout1(x, training=training)
            return self.ff_final(self.ff(x))

    class CustomNonPaddingTokenLoss(keras.losses.Loss):
        def __init__(self, name="custom_ner_loss"):
            super().__init__(name=name)

        def call(self, y_true, y_pred):
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=False, reduction=None)
            loss = loss_fn(y_true, y_pred)
            mask = ops.cast((y_true > 0), dtype="float32")
            loss = loss * mask
            return ops.sum(loss) / ops.sum(mask)

    model = NERModel(num_tags, vocab_size, maxlen=maxlen, embed_dim=embed_dim, ff_dim=ff_dim)
    return model, CustomNonPaddingTokenLoss()


@pytest.mark.slow
def test_ner_model_and_non_padding_loss_match_keras(keras):
    rng = np.random.default_rng(0)
    x, y = np.zeros((16, 8), "int32"), np.zeros((16, 8), "int32")
    for i in range(16):
        k = rng.integers(3, 9)
        x[i, :k], y[i, :k] = rng.integers(1, 30, k), rng.integers(1, 5, k)
    with keras_ref():
        ref, ref_loss = _ner(keras)
        ref(x[:1])
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = np.asarray(ref.predict(x, verbose=0))
        ref.compile(optimizer="adam", loss=ref_loss)
        expected_loss = ref.evaluate(x, y, batch_size=16, verbose=0)
    model, loss = _ner(lamina)
    model(x[:1])
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    model.compile(optimizer="adam", loss=loss)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=16, verbose=0), expected_loss,
                               rtol=1e-5)  # fmt: skip
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


# ------------------------------------------------- text_classification_with_switch_transformer
@pytest.mark.xfail(
    strict=True,
    reason="a call() that hard-codes the batch size (the switch transformer's "
    "ops.reshape(inputs, [num_tokens_per_batch, embed_dim])) cannot be placed in a "
    "functional model: Lamina infers shapes and builds sub-layers at filled batch sizes "
    "(1, 3, 4), Keras with a JAX symbolic batch dimension that accepts the reshape",
)
def test_layer_with_a_fixed_batch_reshape_builds_in_a_functional_model():
    keras = lamina

    class FixedBatch(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(4)

        def call(self, inputs):
            b = keras.ops.shape(inputs)[0]
            flat = keras.ops.reshape(inputs, [16, 4])  # the tokens of a batch of 4
            return keras.ops.reshape(self.dense(flat), [b, 4, 4])

    inp = keras.Input((4, 4))
    model = keras.Model(inp, FixedBatch()(inp))
    assert model.output.shape == (None, 4, 4)


class _Tiny(lamina.Model):
    """A user class built on a graph, as the masked language model is."""


def _tiny_file(tmp_path):
    inp = lamina.Input((3,))
    model = _Tiny(inp, lamina.layers.Dense(2)(inp))
    path = tmp_path / "tiny.keras"
    model.save(str(path))
    return model, path


def test_graph_built_model_subclass_is_written_and_loaded_as_its_class(tmp_path):
    model, path = _tiny_file(tmp_path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["class_name"] == "_Tiny" and config["registered_name"] == "_Tiny"
    loaded = lamina.models.load_model(str(path), custom_objects={"_Tiny": _Tiny})
    assert type(loaded) is _Tiny
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_graph_built_model_subclass_entry_is_checked_before_building(tmp_path):
    _, path = _tiny_file(tmp_path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    config["config"]["trainable"] = "no"
    bad = rewrite_config(path, tmp_path / "bad.keras", config)
    with pytest.raises(FileFormatError, match="'trainable': 'no'"):
        lamina.models.load_model(str(bad), custom_objects={"_Tiny": _Tiny})
