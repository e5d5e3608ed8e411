"""keras.io generative and text-generation examples (``keras-team/keras-io``,
``examples/generative/``; Keras 3 versions) run under ``import lamina as keras`` on small
stand-in data, against real Keras (JAX backend) from the same ``set_random_seed``.

* "Denoising Diffusion Implicit Models" (``ddim.py``): the residual U-Net (a ``Lambda`` of
  ``ops.sin``/``ops.cos`` sinusoidal embeddings, ``BatchNormalization(center=False,
  scale=False)``, bilinear ``UpSampling2D``), its EMA copy made by ``clone_model``, the
  ``KID`` metric (a ``Metric`` holding a ``Mean`` and an encoder), and the ``DiffusionModel``
  without ``call`` holding an adapted ``Normalization`` beside the two networks, its step
  written the Keras 3 JAX way: ``self.normalizer.stateless_call`` (a layer's, not a
  model's), an optimizer built in ``compile`` for the network's weights only, the EMA
  weights updated in the returned state.  Two epochs, the reverse diffusion and the KID give
  Keras's numbers.
* "Text generation with a miniature GPT" (``text_generation_with_miniature_gpt.py``): the
  ``TokenAndPositionEmbedding`` and ``TransformerBlock`` layers, a two-output model compiled
  with ``loss=[loss_fn, None]``, the ``TextGenerator`` callback calling ``self.model.predict``
  in ``on_epoch_end``; the script's ``causal_attention_mask`` tiles by a traced batch size,
  which neither Keras's JAX backend nor Lamina can trace (``ops.tile`` needs static
  repetitions), so both run ``use_causal_mask=True``.
* "CycleGAN" (``cyclegan.py``): ``ReflectionPadding2D`` (``ops.pad(mode="reflect")``),
  instance normalization as ``GroupNormalization(groups=-1)``, ``Conv2DTranspose``.
* "Vector-Quantized Variational Autoencoders" (``vq_vae.py``): the ``VectorQuantizer`` layer
  (a ``keras.Variable`` codebook, ``self.add_loss``, ``ops.stop_gradient`` straight-through,
  ``ops.argmin``/``ops.one_hot``/``ops.matmul``) and the ``VQVAETrainer`` without ``call``,
  its step taking the quantizer's losses from ``stateless_call(..., return_losses=True)``.
* "Density estimation using Real NVP" (``real_nvp.py``): coupling models with
  ``regularizers.l2``, a ``call(self, x, training=True)`` whose default decides the
  direction of the flow (``model(x)`` maps data to the latent space, ``predict`` samples).
"""

import contextlib
import math
import re

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=atol)


def _ref(keras):
    """``keras_ref()`` for real Keras, nothing for Lamina."""
    return keras_ref() if keras is not lamina else contextlib.nullcontext()


# ------------------------------------------------------------------- Layer.stateless_call
def test_layer_stateless_call_runs_on_the_given_arrays_as_keras(keras):
    x = np.random.default_rng(0).random((4, 3)).astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            bn = lib.layers.BatchNormalization()
            bn.build((None, 3))
            tv = [v.value for v in bn.trainable_variables]
            ntv = [v.value for v in bn.non_trainable_variables]

            def run(tv, ntv, x, bn=bn):
                return bn.stateless_call(tv, ntv, x, training=True)

            y, new_ntv = jax.jit(run)(tv, ntv, x)
            out[lib] = (y, new_ntv, np.asarray(bn.moving_mean))
    (ky, kn, km), (ly, ln, lm) = out[keras], out[lamina]
    _close([ly], [ky])
    _close(ln, kn)
    np.testing.assert_array_equal(lm, km)  # the layer's own weights are untouched
    assert not np.allclose(ln[0], 0.0)


def test_layer_stateless_call_uses_the_given_non_trainable_arrays():
    norm = lamina.layers.Normalization()
    norm.adapt(np.array([[0.0], [2.0]], "float32"))
    ntv = [np.array([1.0], "float32"), np.array([4.0], "float32"), np.array(2.0, "float32")]
    y, new_ntv = norm.stateless_call([], ntv, np.array([[3.0]], "float32"))
    np.testing.assert_allclose(np.asarray(y), [[1.0]])
    _close(new_ntv, ntv)
    np.testing.assert_allclose(np.asarray(norm.mean), [[1.0]])  # its own adapted mean


def test_layer_stateless_call_returns_added_losses_as_keras(keras):
    x = np.arange(6, dtype="float32").reshape(2, 3)
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):

            class Scaled(lib.layers.Layer):
                ops = lib.ops

                def build(self, input_shape):
                    self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

                def call(self, inputs):
                    y = inputs * self.w
                    self.add_loss(self.ops.sum(y) * 0.01)
                    return y

            layer = Scaled()
            layer.build((None, 3))
            w = [np.array([1.0, 2.0, 3.0], "float32")]
            y, ntv, losses = layer.stateless_call(w, [], x, return_losses=True)
            out[lib] = (np.asarray(y), ntv, [float(v) for v in losses])
    np.testing.assert_allclose(out[lamina][0], out[keras][0])
    assert out[lamina][1] == [] == out[keras][1]
    np.testing.assert_allclose(out[lamina][2], out[keras][2], rtol=1e-6)


def test_layer_stateless_call_checks_its_arguments():
    layer = lamina.layers.Dense(2)
    with pytest.raises(ValueError, match="must be built"):
        layer.stateless_call([], [], np.ones((1, 3), "float32"))
    layer.build((None, 3))
    with pytest.raises(ValueError, match="expected 2 trainable and 0 non-trainable"):
        layer.stateless_call([np.ones((3, 2))], [], np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"has shape \(2, 2\), but the layer's has \(3, 2\)"):
        layer.stateless_call([np.ones((2, 2)), np.ones(2)], [], np.ones((1, 3), "float32"))


# -------------------------------------------------- a model without call holding a layer
def _held(keras, seed=4):
    layers = keras.layers

    class Held(keras.Model):
        def __init__(self):
            super().__init__()
            self.normalizer = layers.Normalization()
            self.network = keras.Sequential(
                # No bias before the normalization: its gradient is rounding noise, which
                # Adam would turn into full steps.
                [keras.Input((3,)), layers.Dense(2, use_bias=False), layers.BatchNormalization()]
            )
            self.ema_network = keras.models.clone_model(self.network)
            self.built = True

        def compile(self, **kwargs):
            super().compile(**kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            # Only the network trains; the EMA copy follows it in the step.
            self.optimizer.build(self.network.trainable_variables)

        @property
        def metrics(self):
            return [self.loss_tracker]

        def loss_fn(self, net_tv, net_ntv, x, y):
            pred, net_ntv = self.network.stateless_call(net_tv, net_ntv, x, training=True)
            return keras.ops.mean(keras.ops.square(pred - y)), net_ntv

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data
            n_norm = len(self.normalizer.non_trainable_variables)
            n_t = len(self.network.trainable_variables)
            n_nt = len(self.network.non_trainable_variables)
            own = len(ntv) - n_norm - 2 * n_nt  # Keras lists no seed state here either
            norm_ntv = ntv[own : own + n_norm]
            net_ntv, ema_ntv = ntv[own + n_norm : own + n_norm + n_nt], ntv[own + n_norm + n_nt :]
            x, _ = self.normalizer.stateless_call([], norm_ntv, x)
            (loss, net_ntv), grads = jax.value_and_grad(self.loss_fn, has_aux=True)(
                tv[:n_t], net_ntv, x, y
            )
            net_tv, ov = self.optimizer.stateless_apply(ov, grads, tv[:n_t])
            ema_tv = [0.9 * e + 0.1 * w for w, e in zip(net_tv, tv[n_t:])]
            mv = self.loss_tracker.stateless_update_state(mv, loss)
            logs = {"loss": self.loss_tracker.stateless_result(mv)}
            new_ntv = list(ntv[:own]) + list(norm_ntv) + list(net_ntv) + list(ema_ntv)
            return logs, (list(net_tv) + ema_tv, new_ntv, ov, mv)

    keras.utils.set_random_seed(seed)
    model = Held()
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    return model


def test_model_without_call_lists_a_held_adapted_layers_variables_as_keras(keras):
    x = np.random.default_rng(1).random((8, 3)).astype("float32")
    paths = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model = _held(lib)
            model.normalizer.adapt(x)
            paths[lib] = [
                [v.path for v in model.trainable_variables],
                [v.path for v in model.non_trainable_variables],
                len(model.weights),
            ]
    # Names made earlier in the process number the layers (``normalization_3``).
    paths = {
        lib: [[re.sub(r"_\d+/", "/", p) for p in ps] for ps in v[:2]] + v[2:]
        for lib, v in paths.items()
    }
    assert paths[lamina] == paths[keras]
    assert paths[lamina][1][:3] == [
        "normalization/mean",
        "normalization/variance",
        "normalization/count",
    ]


def test_optimizer_built_for_part_of_the_weights_trains_them_as_keras(keras):
    rng = np.random.default_rng(2)
    x = rng.random((8, 3)).astype("float32")
    y = rng.random((8, 2)).astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model = _held(lib)
            model.normalizer.adapt(x)
            model.ema_network.set_weights(model.network.get_weights())
            history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
            out[lib] = (
                history["loss"],
                model.network.get_weights(),
                model.ema_network.get_weights(),
                len(model.optimizer.variables),
                np.asarray(model.normalizer.mean),
            )
    k, la = out[keras], out[lamina]
    np.testing.assert_allclose(la[0], k[0], rtol=1e-5)
    _close(la[1], k[1])
    _close(la[2], k[2])
    assert la[3] == k[3]  # the optimizer keeps the network's slots only
    np.testing.assert_allclose(la[4], k[4], rtol=1e-6)


# ------------------------------------------------------------------------------- DDIM
IMAGE_SIZE, BATCH, EMA, EMB_DIMS = 4, 4, 0.999, 8


def _ddim(keras):
    layers, ops = keras.layers, keras.ops

    class KID(keras.metrics.Metric):
        def __init__(self, name, **kwargs):
            super().__init__(name=name, **kwargs)
            self.kid_tracker = keras.metrics.Mean(name="kid_tracker")
            self.encoder = keras.Sequential(
                [
                    keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                    layers.Rescaling(255.0),
                    layers.Resizing(height=6, width=6),
                    layers.Conv2D(4, 3),  # stands in for InceptionV3
                    layers.GlobalAveragePooling2D(),
                ],
                name="inception_encoder",
            )

        def polynomial_kernel(self, features_1, features_2):
            feature_dimensions = ops.cast(ops.shape(features_1)[1], dtype="float32")
            return (features_1 @ ops.transpose(features_2) / feature_dimensions + 1.0) ** 3.0

        def update_state(self, real_images, generated_images, sample_weight=None):
            real_features = self.encoder(real_images, training=False)
            generated_features = self.encoder(generated_images, training=False)
            kernel_real = self.polynomial_kernel(real_features, real_features)
            kernel_generated = self.polynomial_kernel(generated_features, generated_features)
            kernel_cross = self.polynomial_kernel(real_features, generated_features)
            batch_size = real_features.shape[0]
            batch_size_f = ops.cast(batch_size, dtype="float32")
            off_diagonal = 1.0 - ops.eye(batch_size)
            pairs = batch_size_f * (batch_size_f - 1.0)
            mean_kernel_real = ops.sum(kernel_real * off_diagonal) / pairs
            mean_kernel_generated = ops.sum(kernel_generated * off_diagonal) / pairs
            mean_kernel_cross = ops.mean(kernel_cross)
            kid = mean_kernel_real + mean_kernel_generated - 2.0 * mean_kernel_cross
            self.kid_tracker.update_state(kid)

        def result(self):
            return self.kid_tracker.result()

        def reset_state(self):
            self.kid_tracker.reset_state()

    @keras.saving.register_keras_serializable()
    def sinusoidal_embedding(x):
        frequencies = ops.exp(ops.linspace(ops.log(1.0), ops.log(1000.0), EMB_DIMS // 2))
        angular_speeds = ops.cast(2.0 * math.pi * frequencies, "float32")
        return ops.concatenate([ops.sin(angular_speeds * x), ops.cos(angular_speeds * x)], axis=3)

    def residual_block(x, width):
        residual = x if x.shape[3] == width else layers.Conv2D(width, kernel_size=1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", activation="swish")(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same")(x)
        return layers.Add()([x, residual])

    def get_network(widths):
        noisy_images = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        noise_variances = keras.Input(shape=(1, 1, 1))
        e = layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, EMB_DIMS))(noise_variances)
        e = layers.UpSampling2D(size=IMAGE_SIZE, interpolation="nearest")(e)
        x = layers.Conv2D(widths[0], kernel_size=1)(noisy_images)
        x = layers.Concatenate()([x, e])
        skips = []
        for width in widths[:-1]:  # DownBlock, block_depth 1
            x = residual_block(x, width)
            skips.append(x)
            x = layers.AveragePooling2D(pool_size=2)(x)
        x = residual_block(x, widths[-1])
        for width in reversed(widths[:-1]):  # UpBlock
            x = layers.UpSampling2D(size=2, interpolation="bilinear")(x)
            x = layers.Concatenate()([x, skips.pop()])
            x = residual_block(x, width)
        x = layers.Conv2D(3, kernel_size=1, kernel_initializer="zeros")(x)
        return keras.Model([noisy_images, noise_variances], x, name="residual_unet")

    class DiffusionModel(keras.Model):
        def __init__(self, widths):
            super().__init__()
            self.normalizer = layers.Normalization()
            self.network = get_network(widths)
            self.ema_network = keras.models.clone_model(self.network)
            self.seed_generator = keras.random.SeedGenerator(7)
            self.built = True

        def compile(self, loss_fn, **kwargs):
            super().compile(**kwargs)
            self.loss_fn = loss_fn
            self.optimizer.build(self.network.trainable_variables)
            self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")
            self.image_loss_tracker = keras.metrics.Mean(name="i_loss")
            self.kid = KID(name="kid")

        @property
        def metrics(self):
            return [self.noise_loss_tracker, self.image_loss_tracker, self.kid]

        def denormalize(self, images):
            images = self.normalizer.mean + images * self.normalizer.variance**0.5
            return ops.clip(images, 0.0, 1.0)

        def diffusion_schedule(self, diffusion_times):
            start_angle = ops.cast(ops.arccos(0.95), "float32")
            end_angle = ops.cast(ops.arccos(0.02), "float32")
            diffusion_angles = start_angle + diffusion_times * (end_angle - start_angle)
            return ops.sin(diffusion_angles), ops.cos(diffusion_angles)

        def reverse_diffusion(self, initial_noise, diffusion_steps):
            num_images = initial_noise.shape[0]
            step_size = 1.0 / diffusion_steps
            next_noisy_images = initial_noise
            for step in range(diffusion_steps):
                noisy_images = next_noisy_images
                diffusion_times = ops.ones((num_images, 1, 1, 1)) - step * step_size
                noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
                pred_noises = self.ema_network([noisy_images, noise_rates**2], training=False)
                pred_images = (noisy_images - noise_rates * pred_noises) / signal_rates
                next_noise_rates, next_signal_rates = self.diffusion_schedule(
                    diffusion_times - step_size
                )
                next_noisy_images = next_signal_rates * pred_images + next_noise_rates * pred_noises
            return pred_images

        def generate(self, initial_noise, diffusion_steps):
            return self.denormalize(self.reverse_diffusion(initial_noise, diffusion_steps))

        def losses_of(self, net_tv, net_ntv, noisy_images, noises, images, rates):
            noise_rates, signal_rates = rates
            pred_noises, net_ntv = self.network.stateless_call(
                net_tv, net_ntv, [noisy_images, noise_rates**2], training=True
            )
            pred_images = (noisy_images - noise_rates * pred_noises) / signal_rates
            noise_loss = self.loss_fn(noises, pred_noises)
            return noise_loss, (self.loss_fn(images, pred_images), net_ntv)

        def train_step(self, state, images):
            tv, ntv, ov, mv = state
            n_norm = len(self.normalizer.non_trainable_variables)
            n_t = len(self.network.trainable_variables)
            n_nt = len(self.network.non_trainable_variables)
            # Keras lists the model's own seed state first; Lamina's engine carries it.
            n_own = len(ntv) - n_norm - 2 * n_nt
            own, norm_ntv = list(ntv[:n_own]), ntv[n_own : n_own + n_norm]
            net_ntv = ntv[n_own + n_norm : n_own + n_norm + n_nt]
            ema_ntv = ntv[n_own + n_norm + n_nt :]
            images, _ = self.normalizer.stateless_call([], norm_ntv, images)
            mapping = list(zip(self.non_trainable_variables[:n_own], own))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                shape = (BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)
                noises = keras.random.normal(shape=shape, seed=self.seed_generator)
                diffusion_times = keras.random.uniform(
                    minval=0.0, maxval=1.0, shape=(BATCH, 1, 1, 1), seed=self.seed_generator
                )
            own = [scope.get_current_value(v) for v in self.non_trainable_variables[:n_own]]
            noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
            noisy_images = signal_rates * images + noise_rates * noises
            grad_fn = jax.value_and_grad(self.losses_of, has_aux=True)
            (noise_loss, (image_loss, net_ntv)), grads = grad_fn(
                tv[:n_t], net_ntv, noisy_images, noises, images, (noise_rates, signal_rates)
            )
            net_tv, ov = self.optimizer.stateless_apply(ov, grads, tv[:n_t])
            ema_tv = [EMA * e + (1 - EMA) * w for w, e in zip(net_tv, tv[n_t:])]
            ema_ntv = [EMA * e + (1 - EMA) * w for w, e in zip(net_ntv, ema_ntv)]
            n = len(self.noise_loss_tracker.variables)
            m1 = self.noise_loss_tracker.stateless_update_state(mv[:n], noise_loss)
            m2 = self.image_loss_tracker.stateless_update_state(mv[n : 2 * n], image_loss)
            logs = {
                "n_loss": self.noise_loss_tracker.stateless_result(m1),
                "i_loss": self.image_loss_tracker.stateless_result(m2),
            }
            new_ntv = own + list(norm_ntv) + list(net_ntv) + list(ema_ntv)
            return logs, (list(net_tv) + ema_tv, new_ntv, ov, m1 + m2 + list(mv[2 * n :]))

    keras.utils.set_random_seed(11)
    model = DiffusionModel([4, 8])
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        loss_fn=keras.losses.MeanAbsoluteError(),
    )
    return model


@pytest.mark.slow
def test_ddim_trains_generates_and_scores_as_keras(keras, tmp_path):
    data = np.random.default_rng(1).uniform(0, 1, (8, IMAGE_SIZE, IMAGE_SIZE, 3))
    data = data.astype("float32")
    noise = np.random.default_rng(2).normal(size=(3, IMAGE_SIZE, IMAGE_SIZE, 3))
    noise = noise.astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model = _ddim(lib)
            model.normalizer.adapt(data)
            if lib is keras:
                weights = model.network.get_weights()
            else:  # the same initial weights from the same seed
                _close(model.network.get_weights(), weights, atol=1e-7)
            model.ema_network.set_weights(model.network.get_weights())
            history = model.fit(data, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
            generated = model.generate(lib.ops.convert_to_tensor(noise), 3)
            model.kid.update_state(data[:3], generated)
            out[lib] = (
                history.history,
                model.network.get_weights(),
                model.ema_network.get_weights(),
                np.asarray(generated),
                float(model.kid.result()),
            )
            model.network.save_weights(str(tmp_path / f"{lib.__name__}.weights.h5"))
    k, la = out[keras], out[lamina]
    assert sorted(la[0]) == sorted(k[0]) == ["i_loss", "n_loss"]
    for name in k[0]:
        np.testing.assert_allclose(la[0][name], k[0][name], rtol=1e-5)
    _close(la[1], k[1])
    _close(la[2], k[2])
    np.testing.assert_allclose(la[3], k[3], atol=1e-5)
    np.testing.assert_allclose(la[4], k[4], rtol=1e-4)
    # The network's weights file loads into Keras's network.
    with keras_ref():
        ref = _ddim(keras)
        ref.network.load_weights(str(tmp_path / "lamina.weights.h5"))
        _close(ref.network.get_weights(), la[1], atol=0)


# ----------------------------------------------------------------------------- VQ-VAE
def _vq_vae_trainer(keras):
    layers, ops = keras.layers, keras.ops

    class VectorQuantizer(layers.Layer):
        def __init__(self, num_embeddings, embedding_dim, beta=0.25, **kwargs):
            super().__init__(**kwargs)
            self.embedding_dim = embedding_dim
            self.num_embeddings = num_embeddings
            self.beta = beta
            w_init = keras.initializers.RandomUniform()
            self.embeddings = keras.Variable(
                initializer=w_init(shape=(embedding_dim, num_embeddings), dtype="float32"),
                trainable=True,
                name="embeddings_vqvae",
            )

        def call(self, x):
            input_shape = ops.shape(x)
            flattened = ops.reshape(x, [-1, self.embedding_dim])
            encoding_indices = self.get_code_indices(flattened)
            encodings = ops.one_hot(encoding_indices, self.num_embeddings)
            quantized = ops.matmul(encodings, ops.transpose(self.embeddings))
            quantized = ops.reshape(quantized, input_shape)
            commitment_loss = ops.mean((ops.stop_gradient(quantized) - x) ** 2)
            codebook_loss = ops.mean((quantized - ops.stop_gradient(x)) ** 2)
            self.add_loss(self.beta * commitment_loss + codebook_loss)
            return x + ops.stop_gradient(quantized - x)  # straight-through estimator

        def get_code_indices(self, flattened_inputs):
            similarity = ops.matmul(flattened_inputs, self.embeddings)
            distances = (
                ops.sum(flattened_inputs**2, axis=1, keepdims=True)
                + ops.sum(self.embeddings**2, axis=0)
                - 2 * similarity
            )
            return ops.argmin(distances, axis=1)

    def get_encoder(latent_dim=4):
        inputs = keras.Input(shape=(8, 8, 1))
        x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(inputs)
        x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
        return keras.Model(inputs, layers.Conv2D(latent_dim, 1, padding="same")(x), name="encoder")

    def get_decoder():
        inputs = keras.Input(shape=get_encoder().output.shape[1:])
        x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(inputs)
        x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
        return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding="same")(x), name="decoder")

    def get_vqvae():
        vq_layer = VectorQuantizer(8, 4, name="vector_quantizer")
        encoder, decoder = get_encoder(), get_decoder()
        inputs = keras.Input(shape=(8, 8, 1))
        return keras.Model(inputs, decoder(vq_layer(encoder(inputs))), name="vq_vae")

    class VQVAETrainer(keras.models.Model):
        def __init__(self, train_variance, **kwargs):
            super().__init__(**kwargs)
            self.train_variance = train_variance
            self.vqvae = get_vqvae()
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.vq_loss_tracker = keras.metrics.Mean(name="vq_loss")
            self.built = True

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.vq_loss_tracker]

        def compute(self, tv, ntv, x):
            reconstructions, ntv, losses = self.vqvae.stateless_call(
                tv, ntv, x, training=True, return_losses=True
            )
            reconstruction_loss = ops.mean((x - reconstructions) ** 2) / self.train_variance
            vq_loss = sum(losses)
            return reconstruction_loss + vq_loss, (reconstruction_loss, vq_loss, ntv)

        def train_step(self, state, x):
            tv, ntv, ov, mv = state
            grad_fn = jax.value_and_grad(self.compute, has_aux=True)
            (total, (reconstruction, vq, ntv)), grads = grad_fn(tv, ntv, x)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric, value in zip(self.metrics, (total, reconstruction, vq)):
                this = metric.stateless_update_state(
                    mv[len(new_mv) :][: len(metric.variables)], value
                )
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            return logs, (tv, ntv, ov, new_mv)

    keras.utils.set_random_seed(9)
    trainer = VQVAETrainer(0.5)
    trainer.compile(optimizer=keras.optimizers.Adam())
    return trainer


@pytest.mark.slow
def test_vq_vae_trainer_matches_keras_and_round_trips(keras, tmp_path):
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            trainer = _vq_vae_trainer(lib)
            vqvae = trainer.vqvae
            if lib is keras:
                weights = vqvae.get_weights()
            else:
                _close(vqvae.get_weights(), weights, atol=1e-7)
            first = (np.asarray(vqvae(x)), [float(v) for v in vqvae.losses])
            history = trainer.fit(x, epochs=2, batch_size=4, shuffle=False, verbose=0).history
            latents = vqvae.get_layer("encoder").predict(x[:2], verbose=0)
            quantizer = vqvae.get_layer("vector_quantizer")
            with jax.numpy_rank_promotion("allow"):  # the script's own (8, 1) + (8,)
                codes = quantizer.get_code_indices(latents.reshape(-1, 4))
            out[lib] = (first, history, vqvae.get_weights(), np.asarray(codes))
    k, la = out[keras], out[lamina]
    np.testing.assert_allclose(la[0][0], k[0][0], atol=1e-6)
    np.testing.assert_allclose(la[0][1], k[0][1], rtol=1e-5)
    for name in k[1]:
        np.testing.assert_allclose(la[1][name], k[1][name], rtol=1e-5)
    _close(la[2], k[2])
    np.testing.assert_array_equal(la[3], k[3])
    trainer = _vq_vae_trainer(lamina)
    trainer.vqvae.set_weights(la[2])
    path = str(tmp_path / "vqvae.keras")
    trainer.vqvae.save(path)
    quantizer = type(trainer.vqvae.get_layer("vector_quantizer"))
    loaded = lamina.models.load_model(path, custom_objects={"VectorQuantizer": quantizer})
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(trainer.vqvae(x)), atol=1e-6)


# -------------------------------------------------------------------------- Real NVP
def test_call_without_training_uses_the_calls_own_default_as_keras(keras):
    x = np.ones((1, 2), "float32")
    got = {}
    for lib in (keras, lamina):
        with _ref(lib):

            class Flow(lib.Model):
                def __init__(self, dense):
                    super().__init__()
                    self.dense = dense

                def call(self, x, training=True):
                    return self.dense(x) * (10.0 if training else 1.0)

            class Scale(lib.layers.Layer):
                def call(self, x, training=True):
                    return x * (10.0 if training else 1.0)

            model = Flow(lib.layers.Dense(1, kernel_initializer="ones"))
            got[lib] = [
                float(np.asarray(model(x))[0, 0]),
                float(np.asarray(model(x, training=False))[0, 0]),
                float(model.predict(x, verbose=0)[0, 0]),
                float(np.asarray(Scale()(x))[0, 0]),
            ]
    assert got[lamina] == got[keras] == [20.0, 2.0, 2.0, 10.0]


def _real_nvp(keras):
    layers, ops, regularizers = keras.layers, keras.ops, keras.regularizers
    output_dim, reg = 8, 0.01

    def Coupling(input_shape):
        inputs = keras.layers.Input(shape=(input_shape,))
        t = s = inputs
        for _ in range(4):
            t = layers.Dense(
                output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg)
            )(t)
            s = layers.Dense(
                output_dim, activation="relu", kernel_regularizer=regularizers.l2(reg)
            )(s)
        t = layers.Dense(input_shape, kernel_regularizer=regularizers.l2(reg))(t)
        s = layers.Dense(input_shape, activation="tanh", kernel_regularizer=regularizers.l2(reg))(s)
        return keras.Model(inputs=inputs, outputs=[s, t])

    class RealNVP(keras.Model):
        def __init__(self, num_coupling_layers):
            super().__init__()
            self.num_coupling_layers = num_coupling_layers
            self.masks = np.array([[0, 1], [1, 0]] * (num_coupling_layers // 2), "float32")
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.layers_list = [Coupling(2) for i in range(num_coupling_layers)]

        @property
        def metrics(self):
            return [self.loss_tracker]

        def call(self, x, training=True):
            log_det_inv = 0
            direction = -1 if training else 1
            for i in range(self.num_coupling_layers)[::direction]:
                x_masked = x * self.masks[i]
                reversed_mask = 1 - self.masks[i]
                s, t = self.layers_list[i](x_masked)
                s *= reversed_mask
                t *= reversed_mask
                gate = (direction - 1) / 2
                x = (
                    reversed_mask * (x * ops.exp(direction * s) + direction * t * ops.exp(gate * s))
                    + x_masked
                )
                log_det_inv += gate * ops.sum(s, [1])
            return x, log_det_inv

        def log_loss(self, tv, ntv, x):
            (y, logdet), ntv = self.stateless_call(tv, ntv, x, training=True)
            # The standard normal's log density (the script's tfp MultivariateNormalDiag).
            log_prob = -0.5 * ops.sum(y**2, axis=1) - math.log(2 * math.pi)
            return -ops.mean(log_prob + logdet), ntv

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            (loss, ntv), grads = jax.value_and_grad(self.log_loss, has_aux=True)(tv, ntv, data)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            mv = self.loss_tracker.stateless_update_state(mv, loss)
            return {"loss": self.loss_tracker.stateless_result(mv)}, (tv, ntv, ov, mv)

        def test_step(self, state, data):
            tv, ntv, mv = state
            loss, _ = self.log_loss(tv, ntv, data)
            mv = self.loss_tracker.stateless_update_state(mv, loss)
            return {"loss": self.loss_tracker.stateless_result(mv)}, (tv, ntv, mv)

    keras.utils.set_random_seed(3)
    model = RealNVP(num_coupling_layers=4)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001))
    return model


@pytest.mark.slow
def test_real_nvp_maps_trains_and_samples_as_keras(keras):
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model = _real_nvp(lib)
            z, log_det = model(x)  # data to latent space: call's training=True
            if lib is keras:
                weights = model.get_weights()
            else:
                _close(model.get_weights(), weights, atol=1e-7)
            history = model.fit(
                x, batch_size=8, epochs=2, validation_split=0.25, shuffle=False, verbose=0
            ).history
            samples, _ = model.predict(x[:5], verbose=0)  # latent to data: training=False
            out[lib] = (z, log_det, history, model.get_weights(), samples, model.losses)
    k, la = out[keras], out[lamina]
    np.testing.assert_allclose(np.asarray(la[0]), np.asarray(k[0]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(la[1]), np.asarray(k[1]), atol=1e-6)
    assert sorted(la[2]) == sorted(k[2]) == ["loss", "val_loss"]
    for name in k[2]:
        np.testing.assert_allclose(la[2][name], k[2][name], rtol=1e-5)
    _close(la[3], k[3])
    np.testing.assert_allclose(la[4], k[4], atol=1e-5)
    assert len(la[5]) == len(k[5]) == 40  # one l2 term per kernel
    _close(la[5], k[5])


# ----------------------------------------------------------------------- miniature GPT
MAXLEN, VOCAB = 8, 20


def _mini_gpt(keras, embed_dim=16, num_heads=2, ff_dim=16):
    layers, ops = keras.layers, keras.ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads, embed_dim)
            self.ffn = keras.Sequential(
                [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attention_output = self.att(inputs, inputs, use_causal_mask=True)
            attention_output = self.dropout1(attention_output)
            out1 = self.layernorm1(inputs + attention_output)
            ffn_output = self.dropout2(self.ffn(out1))
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = self.pos_emb(ops.arange(0, maxlen, 1))
            return self.token_emb(x) + positions

    keras.utils.set_random_seed(3)
    inputs = layers.Input(shape=(MAXLEN,), dtype="int32")
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim)(x)
    outputs = layers.Dense(VOCAB)(x)
    model = keras.Model(inputs=inputs, outputs=[outputs, x])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss=[loss_fn, None])
    return model


def _text_generator(keras, start_tokens, max_tokens=4, top_k=5):
    ops = keras.ops

    class TextGenerator(keras.callbacks.Callback):
        def __init__(self):
            self.generated = []

        def sample_from(self, logits):
            logits, indices = ops.top_k(logits, k=top_k, sorted=True)
            indices = np.asarray(indices).astype("int32")
            preds = np.asarray(keras.activations.softmax(ops.expand_dims(logits, 0))[0])
            return int(indices[np.argmax(preds)])  # greedy: comparable across libraries

        def on_epoch_end(self, epoch, logs=None):
            tokens = list(start_tokens)
            generated = []
            while len(generated) <= max_tokens:
                pad_len = MAXLEN - len(tokens)
                sample_index = len(tokens) - 1
                if pad_len < 0:
                    x, sample_index = tokens[:MAXLEN], MAXLEN - 1
                else:
                    x = tokens + [0] * pad_len
                y, _ = self.model.predict(np.array([x]), verbose=0)
                token = self.sample_from(y[0][sample_index])
                generated.append(token)
                tokens.append(token)
            self.generated.append(generated)

    return TextGenerator()


@pytest.mark.slow
def test_miniature_gpt_trains_and_generates_as_keras(keras):
    x = np.random.default_rng(0).integers(0, VOCAB, (16, MAXLEN)).astype("int32")
    y = np.roll(x, -1, axis=1)
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model = _mini_gpt(lib)
            if lib is keras:
                weights = model.get_weights()
            else:
                _close(model.get_weights(), weights, atol=1e-7)
            first = model.predict(x[:4], verbose=0)
            generator = _text_generator(lib, [1, 2, 3])
            history = model.fit(
                x, y, batch_size=8, epochs=2, callbacks=[generator], shuffle=False, verbose=0
            ).history
            out[lib] = (first, history, generator.generated, model.get_weights())
    k, la = out[keras], out[lamina]
    _close(la[0], k[0])
    assert sorted(la[1]) == sorted(k[1]) == ["loss"]
    np.testing.assert_allclose(la[1]["loss"], k[1]["loss"], rtol=1e-5)
    assert la[2] == k[2]
    _close(la[3], k[3])


def test_causal_mask_tiled_by_a_traced_batch_size_fails_as_in_keras_jax():
    """The script's ``causal_attention_mask`` tiles by ``ops.shape(inputs)[0]``; JAX needs
    static repetitions, so Keras's JAX backend refuses it too (the script runs on
    TensorFlow); ``use_causal_mask=True`` is the portable form."""
    ops = lamina.ops

    class Masked(lamina.layers.Layer):
        def call(self, inputs):
            batch_size = ops.shape(inputs)[0]
            mask = ops.reshape(ops.tril(ops.ones((3, 3), "bool")), [1, 3, 3])
            mult = ops.concatenate(
                [ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])], 0
            )
            return ops.tile(mask, mult)

    with pytest.raises(TypeError, match="not hashable"):
        Masked()(lamina.Input((3, 4)))


# --------------------------------------------------------------------------- CycleGAN
def _cyclegan_generator(keras, filters=4):
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(5)  # before the initializers, which draw their seeds
    kernel_init = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
    gamma_init = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)

    class ReflectionPadding2D(layers.Layer):
        def __init__(self, padding=(1, 1), **kwargs):
            self.padding = tuple(padding)
            super().__init__(**kwargs)

        def call(self, input_tensor, mask=None):
            padding_width, padding_height = self.padding
            padding_tensor = [
                [0, 0],
                [padding_height, padding_height],
                [padding_width, padding_width],
                [0, 0],
            ]
            return ops.pad(input_tensor, padding_tensor, mode="reflect")

    def instance_norm(x):
        return layers.GroupNormalization(groups=-1, gamma_initializer=gamma_init)(x)

    def conv(x, filters, kernel_size, **kwargs):
        kwargs.setdefault("use_bias", False)
        return layers.Conv2D(filters, kernel_size, kernel_initializer=kernel_init, **kwargs)(x)

    def residual_block(x):
        dim = x.shape[-1]
        y = layers.Activation("relu")(instance_norm(conv(ReflectionPadding2D()(x), dim, 3)))
        y = instance_norm(conv(ReflectionPadding2D()(y), dim, 3))
        return layers.add([x, y])

    img_input = layers.Input(shape=(8, 8, 3), name="generator_G_img_input")
    x = ReflectionPadding2D(padding=(3, 3))(img_input)
    x = layers.Activation("relu")(instance_norm(conv(x, filters, (7, 7))))
    for _ in range(2):  # downsampling
        filters *= 2
        x = conv(x, filters, (3, 3), strides=(2, 2), padding="same")
        x = layers.Activation("relu")(instance_norm(x))
    for _ in range(2):
        x = residual_block(x)
    for _ in range(2):  # upsampling
        filters //= 2
        x = layers.Conv2DTranspose(
            filters,
            (3, 3),
            strides=(2, 2),
            padding="same",
            kernel_initializer=kernel_init,
            use_bias=False,
        )(x)
        x = layers.Activation("relu")(instance_norm(x))
    x = ReflectionPadding2D(padding=(3, 3))(x)
    x = layers.Activation("tanh")(layers.Conv2D(3, (7, 7), padding="valid")(x))
    model = keras.models.Model(img_input, x, name="generator_G")
    model.compile(keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5), "mae")
    return model, ReflectionPadding2D


@pytest.mark.slow
def test_cyclegan_generator_matches_keras_and_round_trips(keras, tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    out = {}
    for lib in (keras, lamina):
        with _ref(lib):
            model, padding_layer = _cyclegan_generator(lib)
            first = np.asarray(model(x))
            history = model.fit(x, x, epochs=2, shuffle=False, verbose=0).history
            out[lib] = (model.get_weights(), first, history["loss"], model)
    k, la = out[keras], out[lamina]
    _close(la[1:2], k[1:2], atol=1e-6)
    np.testing.assert_allclose(la[2], k[2], rtol=1e-5)
    _close(la[0], k[0])
    path = str(tmp_path / "generator.keras")
    la[3].save(path)
    loaded = lamina.models.load_model(path, custom_objects={"ReflectionPadding2D": padding_layer})
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(la[3](x)), atol=1e-6)
