"""keras.io audio, reinforcement-learning and character-level text examples run under
``import lamina as keras`` on small synthetic data (no downloads), each compared with real
Keras from the same initial weights (``set_weights`` from one to the other, ``shuffle=False``):

* "Speaker Recognition" (``speaker_recognition_using_cnn``): the ``Conv1D`` residual blocks on
  FFT magnitudes from ``keras.ops.fft``, ``EarlyStopping(restore_best_weights=True)``;
* "MelGAN-based spectrogram inversion" (``melgan_spectrogram_inversion``): the generator's
  ``Conv1DTranspose`` upsampling and dilated residual stacks (a user weight-normalized
  convolution written with ``keras.ops.conv`` stands in for ``tfa``'s wrapper) and the
  multi-scale discriminator with grouped ``Conv1D(groups=4)``;
* a wav2vec 2.0-style convolutional feature encoder (strided ``Conv1D``, per-channel
  ``GroupNormalization``, GELU, positional grouped convolution) trained a batch with seeded
  dropout
  ``STFTSpectrogram``/``MelSpectrogram`` front ends;
* "Automatic Speech Recognition with Transformer" (``transformer_asr``): the subclassed
  ``Transformer`` with its ``SpeechFeatureEmbedding`` held both as an attribute and inside the
  encoder ``Sequential``, a causal self-attention mask, label smoothing masked by
  ``sample_weight``, a ``LearningRateSchedule`` subclass, JAX-style ``train_step``/``test_step``
  and greedy ``generate`` from a callback;
* "Deep Q-Learning for Atari Breakout" (``deep_q_network_breakout``): the Q-network and its
  target network, trained with ``stateless_call`` + ``jax.value_and_grad`` (Keras 3's JAX
  replacement of ``GradientTape``) and, in the older style, ``predict_on_batch``/
  ``train_on_batch``;
* "Actor Critic Method" (``actor_critic_cartpole``): one model with a softmax actor head and a
  critic head;
* "Deep Deterministic Policy Gradient" (``ddpg_pendulum``): actor and two-input critic, target
  networks soft-updated through ``get_weights``/``set_weights`` and through
  ``variable.assign``;
* "Proximal Policy Optimization" (``ppo_cartpole``): ``keras.ops.log_softmax``,
  ``keras.random.categorical`` with a ``SeedGenerator``, the clipped surrogate objective;
* "Character-level text generation with LSTM" (``lstm_character_level_text_generation``):
  boolean one-hot inputs, ``RMSprop``, temperature sampling.

Fixed in Lamina: a subclassed model's attribute layer that ``call`` runs only inside a nested
model (the ASR ``Transformer``'s ``enc_input``, run by ``self.encoder``) had its weights listed
at the nested model's place, so ``get_weights``/``set_weights`` disagreed with Keras's order
(``lamina.models.nested_homes``)
and Keras's weights-file walk into a nested ``Sequential``
that sorts first (``body/layers/dense``) is now followed (``lamina.saving.keras_paths``), so
such a model's weights files keep Keras's layout (a guard: that layout held before the first
fix, which would otherwise have moved it).
"""

import os

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


# ------------------------------------------------------------------ speaker recognition
def _residual_block(keras, x, filters, conv_num=3, activation="relu"):
    s = keras.layers.Conv1D(filters, 1, padding="same")(x)
    for _ in range(conv_num - 1):
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.Activation(activation)(x)
    x = keras.layers.Conv1D(filters, 3, padding="same")(x)
    x = keras.layers.Add()([x, s])
    x = keras.layers.Activation(activation)(x)
    return keras.layers.MaxPool1D(pool_size=2, strides=2)(x)


def _speaker_model(keras, input_shape=(64, 1), num_classes=3):
    inputs = keras.layers.Input(shape=input_shape, name="input")
    x = _residual_block(keras, inputs, 8, 2)
    x = _residual_block(keras, x, 8, 2)
    x = _residual_block(keras, x, 16, 3)
    x = keras.layers.AveragePooling1D(pool_size=3, strides=3)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.models.Model(inputs=inputs, outputs=outputs)


def _audio_to_fft(keras, audio):
    ops = keras.ops
    audio = ops.squeeze(audio, axis=-1)
    real, imag = ops.fft((audio, ops.zeros_like(audio)))
    fft = ops.expand_dims(ops.sqrt(real**2 + imag**2), axis=-1)
    return fft[:, : (audio.shape[1] // 2), :]


@pytest.mark.slow
def test_speaker_recognition_conv1d_residual_net_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(24, 128, 1)).astype("float32")
    y = rng.integers(0, 3, 24)

    def run(k, weights):
        x = np.asarray(_audio_to_fft(k, k.ops.convert_to_tensor(audio)))
        model = _speaker_model(k)
        weights = _weights(model) if weights is None else weights
        model.set_weights(weights)
        model.compile(optimizer="Adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])  # fmt: skip
        stop = k.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
        hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                         validation_data=(x[:8], y[:8]), callbacks=[stop])  # fmt: skip
        return weights, x, hist.history, np.asarray(model.predict(x, verbose=0))

    with keras_ref():
        weights, kx, khist, kpred = run(keras, None)
    _, x, hist, pred = run(lamina, weights)
    np.testing.assert_allclose(x, kx, atol=1e-5)
    for key, values in khist.items():
        np.testing.assert_allclose(hist[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(pred, kpred, atol=1e-5)


# ------------------------------------------------------------------------------ MelGAN
def _weight_norm_conv(keras):
    class WeightNormConv1D(keras.layers.Layer):
        def __init__(self, filters, kernel_size, dilation_rate=1, **kwargs):
            super().__init__(**kwargs)
            self.filters, self.kernel_size = filters, kernel_size
            self.dilation_rate = dilation_rate

        def build(self, input_shape):
            self.v = self.add_weight(shape=(self.kernel_size, input_shape[-1], self.filters),
                                     initializer="glorot_uniform", name="v")  # fmt: skip
            self.g = self.add_weight(shape=(self.filters,), initializer="ones", name="g")
            self.b = self.add_weight(shape=(self.filters,), initializer="zeros", name="b")

        def call(self, x):
            ops = keras.ops
            norm = ops.sqrt(ops.sum(ops.square(self.v), axis=(0, 1), keepdims=True))
            kernel = self.v / norm * self.g
            return ops.conv(x, kernel, padding="same", dilation_rate=self.dilation_rate) + self.b

    return WeightNormConv1D


def _melgan(keras):
    layers = keras.layers
    wn = _weight_norm_conv(keras)

    def residual_stack(x, filters):
        c1 = wn(filters, 3, dilation_rate=1)(x)
        c2 = wn(filters, 3, dilation_rate=1)(layers.LeakyReLU()(c1))
        add1 = layers.Add()([c2, x])
        c3 = wn(filters, 3, dilation_rate=3)(layers.LeakyReLU()(add1))
        c4 = wn(filters, 3, dilation_rate=1)(layers.LeakyReLU()(c3))
        return layers.Add()([add1, c4])

    def conv_block(x, conv_dim, upsampling_factor):
        x = layers.Conv1DTranspose(conv_dim, 16, upsampling_factor, padding="same")(x)
        x = residual_stack(layers.LeakyReLU()(x), conv_dim)
        return layers.LeakyReLU()(x)

    def discriminator_block(x):
        lrelu1 = layers.LeakyReLU()(layers.Conv1D(8, 15, 1, "same")(x))
        lrelu2 = layers.LeakyReLU()(layers.Conv1D(16, 41, 4, "same", groups=4)(lrelu1))
        lrelu3 = layers.LeakyReLU()(layers.Conv1D(16, 5, 1, "same")(lrelu2))
        return [lrelu1, lrelu2, lrelu3, layers.Conv1D(1, 3, 1, "same")(lrelu3)]

    inp = keras.Input((None, 8))
    x = layers.LeakyReLU()(wn(32, 7)(inp))
    x = conv_block(x, 16, 4)
    x = conv_block(x, 8, 2)
    generator = keras.Model(inp, layers.Conv1D(1, 7, padding="same", activation="tanh")(x))
    audio = keras.Input((None, 1))
    pooled = layers.AveragePooling1D(2)(audio)
    discriminator = keras.Model(audio, [discriminator_block(audio), discriminator_block(pooled)])
    return generator, discriminator


@pytest.mark.slow
def test_melgan_generator_and_grouped_conv_discriminator_match_keras(keras):
    mel = np.random.default_rng(1).normal(size=(2, 6, 8)).astype("float32")
    with keras_ref():
        kgen, kdisc = _melgan(keras)
        wg, wd = _weights(kgen), _weights(kdisc)
        kaudio = np.asarray(kgen(mel))
        kmaps = [np.asarray(t) for t in keras.tree.flatten(kdisc(kaudio))]
    gen, disc = _melgan(lamina)
    gen.set_weights(wg)
    disc.set_weights(wd)
    audio = np.asarray(gen(mel))
    assert audio.shape == (2, 48, 1)
    np.testing.assert_allclose(audio, kaudio, atol=1e-5)
    maps = [np.asarray(t) for t in lamina.tree.flatten(disc(audio))]
    for got, want in zip(maps, kmaps, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


# --------------------------------------------------------------------- wav2vec encoder
def _wav2vec_encoder(keras):
    inp = keras.Input((None,))
    x = keras.ops.expand_dims(inp, -1)
    for i, (channels, kernel, stride) in enumerate(zip((16, 16, 16), (10, 3, 2), (5, 2, 2))):
        x = keras.layers.Conv1D(channels, kernel, strides=stride, use_bias=False)(x)
        if i == 0:
            x = keras.layers.GroupNormalization(groups=channels, epsilon=1e-5)(x)
        x = keras.layers.Activation("gelu")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = keras.layers.Dropout(0.1)(keras.layers.Dense(24)(x))
    pos = keras.layers.Conv1D(24, 8, padding="same", groups=4, activation="gelu")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(keras.layers.Add()([x, pos]))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.slow
def test_wav2vec_style_feature_encoder_trains_a_batch_as_keras(keras):
    rng = np.random.default_rng(2)
    wav = rng.normal(size=(8, 400)).astype("float32")
    y = rng.integers(0, 3, 8)

    def run(k, weights):
        k.utils.set_random_seed(3)  # the same dropout masks
        model = _wav2vec_encoder(k)
        weights = _weights(model) if weights is None else weights
        model.set_weights(weights)
        pred = np.asarray(model.predict(wav, verbose=0))
        model.compile("adam", "sparse_categorical_crossentropy")
        return weights, pred, model.train_on_batch(wav, y), np.asarray(model(wav))

    with keras_ref():
        weights, kpred, kloss, kafter = run(keras, None)
    _, pred, loss, after = run(lamina, weights)
    np.testing.assert_allclose(pred, kpred, atol=1e-5)
    np.testing.assert_allclose(loss, kloss, rtol=1e-5)
    np.testing.assert_allclose(after, kafter, atol=1e-5)


def _spectrogram_models(keras):
    inp = keras.Input((256, 1))
    x = keras.layers.STFTSpectrogram(mode="log", frame_length=64, frame_step=32, fft_length=64,
                                     trainable=False, expand_dims=True)(inp)  # fmt: skip
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    stft = keras.Model(inp, keras.layers.Dense(2)(x))
    inp = keras.Input((256,))
    x = keras.layers.MelSpectrogram(
        fft_length=64,
        sequence_stride=32,
        sequence_length=64,
        num_mel_bins=16,
        sampling_rate=8000,
        max_freq=4000,
    )(inp)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(4, 3)(x))
    return stft, keras.Model(inp, keras.layers.Dense(2)(x))


@pytest.mark.slow
def test_stft_and_mel_spectrogram_front_ends_predict_as_keras(keras):
    rng = np.random.default_rng(3)
    data = [rng.normal(size=(4, 256, 1)).astype("float32"), rng.normal(size=(4, 256))]
    with keras_ref():
        refs = _spectrogram_models(keras)
        weights = [_weights(m) for m in refs]
        expected = [np.asarray(m(d)) for m, d in zip(refs, data)]
    for model, w, d, want in zip(_spectrogram_models(lamina), weights, data, expected):
        model.set_weights(w)
        np.testing.assert_allclose(np.asarray(model(d)), want, rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------- transformer ASR
def _asr(keras):
    layers = keras.layers
    ops = keras.ops

    class TokenEmbedding(layers.Layer):
        def __init__(self, num_vocab=1000, maxlen=100, num_hid=64):
            super().__init__()
            self.emb = keras.layers.Embedding(num_vocab, num_hid)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=num_hid)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            x = self.emb(x)
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            return x + positions

    class SpeechFeatureEmbedding(layers.Layer):
        def __init__(self, num_hid=64, maxlen=100):
            super().__init__()
            self.conv1 = keras.layers.Conv1D(
                num_hid, 11, strides=2, padding="same", activation="relu"
            )
            self.conv2 = keras.layers.Conv1D(
                num_hid, 11, strides=2, padding="same", activation="relu"
            )
            self.conv3 = keras.layers.Conv1D(
                num_hid, 11, strides=2, padding="same", activation="relu"
            )

        def call(self, x):
            x = self.conv1(x)
            x = self.conv2(x)
            return self.conv3(x)

    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim, num_heads, feed_forward_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential(
                [layers.Dense(feed_forward_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs, training=False):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output, training=training)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output, training=training)
            return self.layernorm2(out1 + ffn_output)

    class TransformerDecoder(layers.Layer):
        def __init__(self, embed_dim, num_heads, feed_forward_dim, dropout_rate=0.1):
            super().__init__()
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm3 = layers.LayerNormalization(epsilon=1e-6)
            self.self_att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.enc_att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.self_dropout = layers.Dropout(0.5)
            self.enc_dropout = layers.Dropout(dropout_rate)
            self.ffn_dropout = layers.Dropout(dropout_rate)
            self.ffn = keras.Sequential(
                [layers.Dense(feed_forward_dim, activation="relu"), layers.Dense(embed_dim)]
            )

        def causal_attention_mask(self, batch_size, n_dest, n_src, dtype):
            i = ops.arange(n_dest)[:, None]
            j = ops.arange(n_src)
            m = i >= j - n_src + n_dest
            mask = ops.cast(m, dtype)
            mask = ops.reshape(mask, [1, n_dest, n_src])
            return ops.tile(mask, [batch_size, 1, 1])

        def call(self, enc_out, target):
            input_shape = ops.shape(target)
            batch_size = input_shape[0]
            seq_len = input_shape[1]
            causal_mask = self.causal_attention_mask(batch_size, seq_len, seq_len, "bool")
            target_att = self.self_att(target, target, attention_mask=causal_mask)
            target_norm = self.layernorm1(target + self.self_dropout(target_att))
            enc_out = self.enc_att(target_norm, enc_out)
            enc_out_norm = self.layernorm2(self.enc_dropout(enc_out) + target_norm)
            ffn_out = self.ffn(enc_out_norm)
            return self.layernorm3(enc_out_norm + self.ffn_dropout(ffn_out))

    class Transformer(keras.Model):
        def __init__(
            self,
            num_hid=64,
            num_head=2,
            num_feed_forward=128,
            source_maxlen=100,
            target_maxlen=100,
            num_layers_enc=4,
            num_layers_dec=1,
            num_classes=10,
        ):
            super().__init__()
            self.loss_metric = keras.metrics.Mean(name="loss")
            self.num_layers_enc = num_layers_enc
            self.num_layers_dec = num_layers_dec
            self.target_maxlen = target_maxlen
            self.num_classes = num_classes
            self.enc_input = SpeechFeatureEmbedding(num_hid=num_hid, maxlen=source_maxlen)
            self.dec_input = TokenEmbedding(
                num_vocab=num_classes, maxlen=target_maxlen, num_hid=num_hid
            )
            self.encoder = keras.Sequential(
                [self.enc_input]
                + [
                    TransformerEncoder(num_hid, num_head, num_feed_forward, 0.1)
                    for _ in range(num_layers_enc)
                ]
            )
            for i in range(num_layers_dec):
                setattr(
                    self,
                    f"dec_layer_{i}",
                    TransformerDecoder(num_hid, num_head, num_feed_forward, 0.1),
                )
            self.classifier = layers.Dense(num_classes)

        def decode(self, enc_out, target):
            y = self.dec_input(target)
            for i in range(self.num_layers_dec):
                y = getattr(self, f"dec_layer_{i}")(enc_out, y)
            return y

        def call(self, inputs):
            if isinstance(inputs, dict):  # Keras's symbolic build passes the batch dict
                inputs = [inputs["source"], inputs["target"][:, :-1]]
            source = inputs[0]
            target = inputs[1]
            x = self.encoder(source)
            y = self.decode(x, target)
            return self.classifier(y)

        @property
        def metrics(self):
            return [self.loss_metric]

        def compute_loss_and_updates(self, tv, ntv, source, dec_input, dec_target, training):
            preds, ntv = self.stateless_call(tv, ntv, [source, dec_input])
            one_hot = ops.one_hot(dec_target, self.num_classes)
            mask = ops.logical_not(ops.equal(dec_target, 0))
            loss = self.loss_fn(one_hot, preds, sample_weight=mask)
            return loss, ntv

        def train_step(self, state, batch):
            tv, ntv, ov, mv = state
            source = batch["source"]
            target = batch["target"]
            dec_input = target[:, :-1]
            dec_target = target[:, 1:]
            (loss, ntv), grads = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)(
                tv, ntv, source, dec_input, dec_target, True
            )
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            mv = self.loss_metric.stateless_update_state(mv, loss)
            return {"loss": self.loss_metric.stateless_result(mv)}, (tv, ntv, ov, mv)

        def test_step(self, state, batch):
            tv, ntv, mv = state
            source = batch["source"]
            target = batch["target"]
            loss, ntv = self.compute_loss_and_updates(
                tv, ntv, source, target[:, :-1], target[:, 1:], False
            )
            mv = self.loss_metric.stateless_update_state(mv, loss)
            return {"loss": self.loss_metric.stateless_result(mv)}, (tv, ntv, mv)

        def generate(self, source, target_start_token_idx):
            bs = ops.shape(source)[0]
            enc = self.encoder(source)
            dec_input = ops.ones((bs, 1), dtype="int32") * target_start_token_idx
            dec_logits = []
            for _ in range(self.target_maxlen - 1):
                dec_out = self.decode(enc, dec_input)
                logits = self.classifier(dec_out)
                logits = ops.argmax(logits, axis=-1)
                last_logit = ops.expand_dims(logits[:, -1], axis=-1)
                dec_logits.append(last_logit)
                dec_input = ops.concatenate([dec_input, ops.cast(last_logit, "int32")], axis=-1)
            return dec_input

    class CustomSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(
            self,
            init_lr=0.00001,
            lr_after_warmup=0.001,
            final_lr=0.00001,
            warmup_epochs=15,
            decay_epochs=85,
            steps_per_epoch=203,
        ):
            super().__init__()
            self.init_lr = init_lr
            self.lr_after_warmup = lr_after_warmup
            self.final_lr = final_lr
            self.warmup_epochs = warmup_epochs
            self.decay_epochs = decay_epochs
            self.steps_per_epoch = steps_per_epoch

        def calculate_lr(self, epoch):
            warmup_lr = (
                self.init_lr
                + ((self.lr_after_warmup - self.init_lr) / (self.warmup_epochs - 1)) * epoch
            )
            decay_lr = ops.maximum(
                self.final_lr,
                self.lr_after_warmup
                - (epoch - self.warmup_epochs)
                * (self.lr_after_warmup - self.final_lr)
                / self.decay_epochs,
            )
            return ops.minimum(warmup_lr, decay_lr)

        def __call__(self, step):
            epoch = step // self.steps_per_epoch
            epoch = ops.cast(epoch, "float32")
            return self.calculate_lr(epoch)

    class DisplayOutputs(keras.callbacks.Callback):
        def __init__(self, batch, target_start_token_idx=1):
            self.batch = batch
            self.target_start_token_idx = target_start_token_idx
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            source = self.batch["source"]
            preds = self.model.generate(source, self.target_start_token_idx)
            self.seen.append(np.asarray(preds))

    return Transformer, CustomSchedule, DisplayOutputs


def _asr_run(k, weights, source, target):
    k.utils.set_random_seed(5)
    transformer, schedule, display = _asr(k)
    model = transformer(num_hid=16, num_head=2, num_feed_forward=32, target_maxlen=6,
                        num_layers_enc=1, num_layers_dec=1, num_classes=10)  # fmt: skip
    # Keras 3 on JAX cannot build a compiled loss from the dict batches: the model holds it.
    model.loss_fn = k.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    lr = schedule(init_lr=1e-3, lr_after_warmup=1e-2, final_lr=1e-4, warmup_epochs=3,
                  decay_epochs=5, steps_per_epoch=2)  # fmt: skip
    model.compile(optimizer=k.optimizers.Adam(lr))
    model([source[:1], target[:1, :-1]])
    weights = _weights(model) if weights is None else weights
    model.set_weights(weights)
    shown = display({"source": source[:2]})
    hist = model.fit({"source": source, "target": target}, batch_size=4, epochs=2, shuffle=False,
                     validation_data={"source": source[:4], "target": target[:4]},
                     callbacks=[shown], verbose=0)  # fmt: skip
    return (weights, hist.history, np.asarray(model.generate(source[:3], 1)), shown.seen,
            np.asarray(model([source, target[:, :-1]])), _weights(model))  # fmt: skip


@pytest.mark.slow
def test_transformer_asr_trains_and_generates_as_keras(keras):
    rng = np.random.default_rng(4)
    source = rng.normal(size=(8, 32, 6)).astype("float32")
    target = rng.integers(2, 10, (8, 6)).astype("int32")
    target[:, 0] = 1
    target[:4, 4:] = 0  # padding, masked out of the loss
    with keras_ref():
        weights, khist, kgen, kseen, kpred, kafter = _asr_run(keras, None, source, target)
    _, hist, gen, seen, pred, after = _asr_run(lamina, weights, source, target)
    for key, values in khist.items():
        np.testing.assert_allclose(hist[key], values, rtol=1e-5, err_msg=key)
    np.testing.assert_array_equal(gen, kgen)
    for got, want in zip(seen, kseen, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(pred, kpred, atol=1e-4)
    for got, want in zip(after, kafter, strict=True):  # Adam: near-zero gradients vary
        np.testing.assert_allclose(got, want, atol=1e-4)


def _body_and_head(k):
    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.head = k.layers.Dense(2, name="head")
            self.body = k.Sequential([k.layers.Dense(3, name="d3"), self.head])

        def call(self, x):
            return self.body(x)

    return Net()


def test_attribute_layer_run_only_in_a_nested_sequential_lists_first_as_keras(keras):
    x = np.random.default_rng(5).normal(size=(6, 4)).astype("float32")
    with keras_ref():
        ref = _body_and_head(keras)
        ref(x[:1])
        weights = _weights(ref)
        expected = np.asarray(ref(x))
    model = _body_and_head(lamina)
    model(x[:1])
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
    # Paths below the model and Sequential names (which count per process).
    assert [v.path.split("/", 2)[2] for v in model.weights] == [
        v.path.split("/", 2)[2] for v in ref.weights
    ]
    model.set_weights(weights)
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-6)
    model.compile("sgd", "mse")
    with keras_ref():
        ref.compile("sgd", "mse")
        ref.fit(x, np.ones((6, 2)), batch_size=3, epochs=1, shuffle=False, verbose=0)
    model.fit(x, np.ones((6, 2)), batch_size=3, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), _weights(ref), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_weights_file_of_a_layer_shared_with_a_nested_sequential_is_keras_layout(keras, tmp_path):
    h5py = pytest.importorskip("h5py")
    x = np.random.default_rng(6).normal(size=(6, 4)).astype("float32")

    def datasets(path):
        out = []
        with h5py.File(path) as f:
            f.visititems(lambda n, o: out.append((n, o.shape)) if hasattr(o, "shape") else None)
        return out

    model = _body_and_head(lamina)
    model(x[:1])
    model.save_weights(os.path.join(tmp_path, "lamina.weights.h5"))
    with keras_ref():
        ref = _body_and_head(keras)
        ref(x[:1])
        ref.save_weights(os.path.join(tmp_path, "keras.weights.h5"))
        expected = np.asarray(ref(x))
        other = _body_and_head(keras)
        other(x[:1])
        other.load_weights(os.path.join(tmp_path, "lamina.weights.h5"))
        np.testing.assert_allclose(np.asarray(other(x)), np.asarray(model(x)), atol=1e-6)
    assert datasets(tmp_path / "lamina.weights.h5") == datasets(tmp_path / "keras.weights.h5")
    model.load_weights(os.path.join(tmp_path, "keras.weights.h5"))
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-6)


# ---------------------------------------------------------------------------------- DQN
def _q_network(k, num_actions=4):
    inputs = k.layers.Input(shape=(20, 20, 4))
    x = k.layers.Conv2D(8, 8, strides=4, activation="relu")(inputs)
    x = k.layers.Conv2D(16, 2, strides=1, activation="relu")(x)
    x = k.layers.Dense(32, activation="relu")(k.layers.Flatten()(x))
    return k.Model(inputs=inputs, outputs=k.layers.Dense(num_actions, activation="linear")(x))


def _dqn_run(k, weights, state, action, reward):
    model, target = _q_network(k), _q_network(k)
    model.set_weights(weights)
    target.set_weights(model.get_weights())
    # SGD: Adam turns last-bit gradient differences of dead ReLUs into whole steps.
    optimizer = k.optimizers.SGD(learning_rate=0.01, clipnorm=1.0)
    loss_function = k.losses.Huber()
    optimizer.build(model.trainable_variables)
    masks = k.ops.one_hot(action, 4)
    losses = []
    for step in range(3):
        future_rewards = target.predict(state, verbose=0)
        updated_q_values = reward + 0.99 * k.ops.max(future_rewards, axis=1)

        def compute(trainable, non_trainable):
            q_values, non_trainable = model.stateless_call(trainable, non_trainable, state)
            q_action = k.ops.sum(k.ops.multiply(q_values, masks), axis=1)
            return loss_function(updated_q_values, q_action), non_trainable  # noqa: B023

        (loss, _), grads = jax.value_and_grad(compute, has_aux=True)(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
        if step == 1:
            target.set_weights(model.get_weights())
    return losses, np.asarray(model(state[:2])), np.asarray(target(state[:2]))


@pytest.mark.slow
def test_dqn_q_network_trains_with_stateless_call_and_jax_grad_as_keras(keras):
    rng = np.random.default_rng(7)
    state = rng.normal(size=(8, 20, 20, 4)).astype("float32")
    action = rng.integers(0, 4, 8)
    reward = rng.normal(size=8).astype("float32")
    with keras_ref():
        weights = _weights(_q_network(keras))
        expected = _dqn_run(keras, weights, state, action, reward)
    got = _dqn_run(lamina, weights, state, action, reward)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-5)
    np.testing.assert_allclose(got[2], expected[2], atol=1e-5)


def _small_q(k):
    inputs = k.Input((4,))
    hidden = k.layers.Dense(16, activation="relu")(inputs)
    return k.Model(inputs, k.layers.Dense(2)(hidden))


@pytest.mark.slow
def test_dqn_train_on_batch_loop_with_a_target_network_matches_keras(keras):
    rng = np.random.default_rng(8)
    obs = rng.normal(size=(16, 4)).astype("float32")
    act = rng.integers(0, 2, 16)
    ret = rng.normal(size=16).astype("float32")

    def run(k, weights):
        model, target = _small_q(k), _small_q(k)
        model.set_weights(weights)
        target.set_weights(weights)
        model.compile(optimizer=k.optimizers.Adam(1e-3), loss="huber")
        losses = []
        for i in range(4):
            future = target.predict_on_batch(obs)
            q = model.predict_on_batch(obs)
            q[np.arange(16), act] = ret + 0.9 * np.max(future, axis=1)  # a writable copy
            losses.append(model.train_on_batch(obs, q))
            if i == 2:
                target.set_weights(model.get_weights())
        return losses, np.asarray(model.predict(obs, verbose=0))

    with keras_ref():
        weights = _weights(_small_q(keras))
        klosses, kpred = run(keras, weights)
    losses, pred = run(lamina, weights)
    np.testing.assert_allclose(losses, klosses, rtol=1e-5)
    np.testing.assert_allclose(pred, kpred, atol=1e-5)


# ----------------------------------------------------------------------- actor critic
def _actor_critic(k, num_inputs=4, num_actions=2, num_hidden=16):
    inputs = k.layers.Input(shape=(num_inputs,))
    common = k.layers.Dense(num_hidden, activation="relu")(inputs)
    action = k.layers.Dense(num_actions, activation="softmax")(common)
    critic = k.layers.Dense(1)(common)
    return k.Model(inputs=inputs, outputs=[action, critic])


@pytest.mark.slow
def test_actor_critic_two_heads_train_as_keras(keras):
    rng = np.random.default_rng(9)
    obs = rng.normal(size=(16, 4)).astype("float32")
    act = rng.integers(0, 2, 16).astype("int32")
    returns = rng.normal(size=16).astype("float32")

    def run(k, weights):
        model = _actor_critic(k)
        model.set_weights(weights)
        optimizer = k.optimizers.Adam(learning_rate=0.01)
        huber = k.losses.Huber()
        optimizer.build(model.trainable_variables)
        states = k.ops.convert_to_tensor(obs)
        out = []
        for _ in range(3):

            def loss_fn(trainable):
                (probs, values), _ = model.stateless_call(trainable, [], states)
                picked = k.ops.take_along_axis(probs, k.ops.expand_dims(act, -1), axis=1)
                diff = returns - values[:, 0]
                actor_losses = -k.ops.log(picked)[:, 0] * diff
                critic_loss = huber(k.ops.expand_dims(values[:, 0], 0),
                                    k.ops.expand_dims(returns, 0))  # fmt: skip
                return k.ops.sum(actor_losses) + critic_loss

            loss, grads = jax.value_and_grad(loss_fn)([v.value for v in model.trainable_variables])
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            out.append(float(loss))
        probs, values = model(states)
        return out, np.asarray(probs), np.asarray(values)

    with keras_ref():
        weights = _weights(_actor_critic(keras))
        expected = run(keras, weights)
    got = run(lamina, weights)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------- DDPG
def _ddpg_actor(k, num_states=3, upper_bound=2.0):
    last_init = k.initializers.RandomUniform(minval=-0.003, maxval=0.003)
    inputs = k.layers.Input(shape=(num_states,))
    out = k.layers.Dense(16, activation="relu")(inputs)
    out = k.layers.Dense(16, activation="relu")(out)
    outputs = k.layers.Dense(1, activation="tanh", kernel_initializer=last_init)(out)
    return k.Model(inputs, outputs * upper_bound)


def _ddpg_critic(k, num_states=3, num_actions=1):
    state_input = k.layers.Input(shape=(num_states,))
    state_out = k.layers.Dense(16, activation="relu")(state_input)
    state_out = k.layers.Dense(32, activation="relu")(state_out)
    action_input = k.layers.Input(shape=(num_actions,))
    action_out = k.layers.Dense(32, activation="relu")(action_input)
    out = k.layers.Concatenate()([state_out, action_out])
    out = k.layers.Dense(16, activation="relu")(out)
    return k.Model([state_input, action_input], k.layers.Dense(1)(out))


def _ddpg_run(k, wa, wc, batch, soft_update):
    actor, critic = _ddpg_actor(k), _ddpg_critic(k)
    actor.set_weights(wa)
    critic.set_weights(wc)
    target_actor, target_critic = _ddpg_actor(k), _ddpg_critic(k)
    target_actor.set_weights(actor.get_weights())
    target_critic.set_weights(critic.get_weights())
    s, a, r, ns = [k.ops.convert_to_tensor(t) for t in batch]
    critic_opt, actor_opt = k.optimizers.Adam(0.002), k.optimizers.Adam(0.001)
    critic_opt.build(critic.trainable_variables)
    actor_opt.build(actor.trainable_variables)
    out = []
    for _ in range(3):
        y = r + 0.99 * target_critic([ns, target_actor(ns, training=True)], training=True)

        def critic_loss(trainable):
            value, _ = critic.stateless_call(trainable, [], [s, a], training=True)
            return k.ops.mean(k.ops.square(y - value))  # noqa: B023

        def actor_loss(trainable):
            actions, _ = actor.stateless_call(trainable, [], s, training=True)
            return -k.ops.mean(critic([s, actions], training=True))

        lc, gc = jax.value_and_grad(critic_loss)([v.value for v in critic.trainable_variables])
        critic_opt.apply_gradients(zip(gc, critic.trainable_variables))
        la, ga = jax.value_and_grad(actor_loss)([v.value for v in actor.trainable_variables])
        actor_opt.apply_gradients(zip(ga, actor.trainable_variables))
        soft_update(target_actor, actor, 0.005)
        soft_update(target_critic, critic, 0.005)
        out.append((float(lc), float(la)))
    return out, _weights(target_actor), np.asarray(target_critic([s, a]))


def _update_by_weights(target, original, tau):
    target_weights = target.get_weights()
    original_weights = original.get_weights()
    for i in range(len(target_weights)):
        target_weights[i] = original_weights[i] * tau + target_weights[i] * (1 - tau)
    target.set_weights(target_weights)


def _update_by_assign(target, original, tau):
    for a, b in zip(target.variables, original.variables):
        a.assign(b * tau + a * (1 - tau))


@pytest.mark.slow
@pytest.mark.parametrize("soft_update", [_update_by_weights, _update_by_assign])
def test_ddpg_target_networks_soft_update_as_keras(keras, soft_update):
    rng = np.random.default_rng(10)
    batch = [rng.normal(size=shape).astype("float32") for shape in [(8, 3), (8, 1), (8, 1), (8, 3)]]
    with keras_ref():
        wa, wc = _weights(_ddpg_actor(keras)), _weights(_ddpg_critic(keras))
        expected = _ddpg_run(keras, wa, wc, batch, soft_update)
    got = _ddpg_run(lamina, wa, wc, batch, soft_update)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    for a, b in zip(got[1], expected[1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(got[2], expected[2], atol=1e-5)


# ---------------------------------------------------------------------------------- PPO
def _mlp(k, x, sizes, activation, output_activation=None):
    for size in sizes[:-1]:
        x = k.layers.Dense(units=size, activation=activation)(x)
    return k.layers.Dense(units=sizes[-1], activation=output_activation)(x)


def _logprobabilities(k, logits, a, num_actions=2):
    logprobabilities_all = k.ops.log_softmax(logits)
    return k.ops.sum(k.ops.one_hot(a, num_actions) * logprobabilities_all, axis=1)


def _ppo_models(k):
    observation_input = k.Input(shape=(4,), dtype="float32")
    actor = k.Model(observation_input, _mlp(k, observation_input, [16, 16, 2], "tanh"))
    value = k.ops.squeeze(_mlp(k, observation_input, [16, 16, 1], "tanh"), axis=1)
    return actor, k.Model(observation_input, value)


@pytest.mark.slow
def test_ppo_policy_and_value_updates_with_keras_ops_as_keras(keras):
    rng = np.random.default_rng(11)
    obs = rng.normal(size=(16, 4)).astype("float32")
    act = rng.integers(0, 2, 16).astype("int32")
    advantage = rng.normal(size=16).astype("float32")
    returns = rng.normal(size=16).astype("float32")

    def run(k, wa, wc):
        actor, critic = _ppo_models(k)
        actor.set_weights(wa)
        critic.set_weights(wc)
        seed_generator = k.random.SeedGenerator(1337)
        logits = actor(obs[:4])
        sampled = k.ops.squeeze(k.random.categorical(logits, 1, seed=seed_generator), axis=1)
        old_logprob = _logprobabilities(k, actor(obs), act)
        policy_opt, value_opt = k.optimizers.Adam(3e-4), k.optimizers.Adam(1e-3)
        policy_opt.build(actor.trainable_variables)
        value_opt.build(critic.trainable_variables)
        out = []
        for _ in range(3):

            def policy_loss(trainable):
                logits, _ = actor.stateless_call(trainable, [], obs)
                ratio = k.ops.exp(_logprobabilities(k, logits, act) - old_logprob)
                min_advantage = k.ops.where(advantage > 0, 1.2 * advantage, 0.8 * advantage)
                return -k.ops.mean(k.ops.minimum(ratio * advantage, min_advantage))

            def value_loss(trainable):
                value, _ = critic.stateless_call(trainable, [], obs)
                return k.ops.mean((returns - value) ** 2)

            lp, gp = jax.value_and_grad(policy_loss)([v.value for v in actor.trainable_variables])
            policy_opt.apply_gradients(zip(gp, actor.trainable_variables))
            kl = k.ops.sum(k.ops.mean(old_logprob - _logprobabilities(k, actor(obs), act)))
            lv, gv = jax.value_and_grad(value_loss)([v.value for v in critic.trainable_variables])
            value_opt.apply_gradients(zip(gv, critic.trainable_variables))
            out.append((float(lp), float(lv), float(kl)))
        return out, np.asarray(sampled), np.asarray(actor(obs))

    with keras_ref():
        actor, critic = _ppo_models(keras)
        wa, wc = _weights(actor), _weights(critic)
        expected = run(keras, wa, wc)
    got = run(lamina, wa, wc)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[2], expected[2], atol=1e-5)


# ------------------------------------------------------------ character-level text LSTM
def _sample(preds, temperature, rng):
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    return np.argmax(rng.multinomial(1, preds, 1))


@pytest.mark.slow
def test_char_level_lstm_text_generation_samples_as_keras(keras):
    text = "the quick brown fox jumps over the lazy dog " * 3
    chars = sorted(set(text))
    char_indices = {c: i for i, c in enumerate(chars)}
    maxlen, step = 8, 3
    starts = range(0, len(text) - maxlen, step)
    x = np.zeros((len(starts), maxlen, len(chars)), dtype="bool")
    y = np.zeros((len(starts), len(chars)), dtype="bool")
    for i, begin in enumerate(starts):
        for t, c in enumerate(text[begin : begin + maxlen]):
            x[i, t, char_indices[c]] = 1
        y[i, char_indices[text[begin + maxlen]]] = 1

    def run(k, weights):
        model = k.Sequential([k.Input(shape=(maxlen, len(chars))), k.layers.LSTM(16),
                              k.layers.Dense(len(chars), activation="softmax")])  # fmt: skip
        model.compile(loss="categorical_crossentropy",
                      optimizer=k.optimizers.RMSprop(learning_rate=0.01))  # fmt: skip
        weights = _weights(model) if weights is None else weights
        model.set_weights(weights)
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        generated = []
        for diversity in [0.2, 1.0]:
            rng, sentence, out = np.random.default_rng(0), text[:maxlen], ""
            for _ in range(4):
                x_pred = np.zeros((1, maxlen, len(chars)))
                for t, c in enumerate(sentence):
                    x_pred[0, t, char_indices[c]] = 1.0
                preds = model.predict(x_pred, verbose=0)[0]
                next_char = chars[_sample(preds, diversity, rng)]
                sentence, out = sentence[1:] + next_char, out + next_char
            generated.append(out)
        return weights, hist.history["loss"], generated

    with keras_ref():
        weights, klosses, kgenerated = run(keras, None)
    _, losses, generated = run(lamina, weights)
    np.testing.assert_allclose(losses, klosses, rtol=1e-5)
    assert generated == kgenerated
