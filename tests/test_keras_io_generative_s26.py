"""keras.io generative examples and recipes (``keras-team/keras-io``, ``examples/generative/``,
``examples/keras_recipes/``; Keras 3 versions) run under ``import lamina as keras``: each
script's model and training code, nearly verbatim, on small stand-in data, against real Keras
(JAX backend) on the same weights where the numbers are cheap to compare.

* "Variational AutoEncoder" (``vae.py``): the ``Sampling`` layer drawing from its
  ``keras.random.SeedGenerator``, the conv encoder/decoder, the ``VAE`` subclass with ``Mean``
  trackers behind ``@property metrics``; its ``tf.GradientTape`` step written the Keras 3 JAX
  way (``stateless_call``, ``jax.value_and_grad``, ``optimizer.stateless_apply``).  Two epochs
  give Keras's losses and weights.
* "DCGAN overriding ``Model.train_step``" (``dcgan_overriding_train_step.py``), "Conditional
  GAN" (``conditional_gan.py``) and "WGAN-GP" (``wgan_gp.py``): a ``GAN`` subclass without
  ``call`` overriding ``compile(d_optimizer, g_optimizer, loss_fn)``, metrics made in
  ``compile``, two optimizers, the JAX step (for the comparisons, its own seed generator read
  through a ``keras.StatelessScope`` as Keras's JAX backend needs; the conditional GAN draws
  from it directly and updates its ``Mean`` trackers in place, as Lamina's engine allows, on
  ``fit(images, one_hot_labels)``); WGAN-GP's gradient penalty is a ``jax.grad`` with
  respect to the interpolated images, inside the critic's loss; ``gan.trainable_variables`` lists
  the generator's and discriminator's weights, as Keras's; the ``GANMonitor`` callback (no
  ``super().__init__()``) generating images from ``self.model.generator`` in ``on_epoch_end``
  and saving them with ``keras.utils.array_to_img``.  One step gives Keras's losses and weights.
* "PixelCNN" (``pixelcnn.py``): ``PixelConvLayer`` builds its ``Conv2D`` in ``build`` and
  masks its kernel in ``call`` with ``self.conv.kernel.assign(self.conv.kernel * self.mask)``,
  which Keras's JAX backend runs (the call reads the masked kernel; the step drops the
  assignment): training matches Keras's.
* "Deep Dream" (``deep_dream.py``) and "Neural style transfer" (``neural_style_transfer.py``):
  ``keras.Model(inputs=base.inputs, outputs={name: layer.output})``, ``jax.value_and_grad`` of
  a loss with respect to the input image, the image a ``keras.Variable`` updated by
  ``SGD(ExponentialDecay(...)).apply_gradients([(grads, image)])`` and read back with
  ``np.array(image)`` (a writable copy, as the script's ``deprocess_image`` edits it in place).
* "Simple custom layer example: Antirectifier" (``keras_recipes/antirectifier.py``).

(The endpoint layer pattern, ``keras_recipes/endpoint_layer_pattern.py``, is covered by
``tests/test_layer_metrics_fit.py`` and ``tests/test_layer_metric_writeback.py``.)
"""

import random

import jax
import numpy as np
import PIL.Image
import pytest

import lamina
from tests.helpers import keras_ref

RNG = np.random.default_rng(26)


def _close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=atol)


# --------------------------------------------------------------------------------------- VAE
def _vae(keras):
    layers, ops = keras.layers, keras.ops

    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    latent_dim = 2
    encoder_inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(2 * 2 * 8, activation="relu")(latent_inputs)
    x = layers.Reshape((2, 2, 8))(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
            self.built = True  # Keras 3 cannot build a model without call() from data

        @property
        def metrics(self):
            return [
                self.total_loss_tracker,
                self.reconstruction_loss_tracker,
                self.kl_loss_tracker,
            ]

        def compute_losses(self, trainable_variables, non_trainable_variables, data):
            n_t = len(self.encoder.trainable_variables)
            n_nt = len(self.encoder.non_trainable_variables)
            (z_mean, z_log_var, z), enc_nt = self.encoder.stateless_call(
                trainable_variables[:n_t], non_trainable_variables[:n_nt], data, training=True
            )
            reconstruction, dec_nt = self.decoder.stateless_call(
                trainable_variables[n_t:], non_trainable_variables[n_nt:], z, training=True
            )
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
            return total_loss, (reconstruction_loss, kl_loss, list(enc_nt) + list(dec_nt))

        def train_step(self, state, data):
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_vars = state
            grad_fn = jax.value_and_grad(self.compute_losses, has_aux=True)
            (total_loss, (reconstruction_loss, kl_loss, non_trainable_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, data
            )
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables
            )
            new_metrics_vars, logs = [], {}
            for metric, value in zip(self.metrics, (total_loss, reconstruction_loss, kl_loss)):
                this = metrics_vars[len(new_metrics_vars) :][: len(metric.variables)]
                this = metric.stateless_update_state(this, value)
                logs[metric.name] = metric.stateless_result(this)
                new_metrics_vars += this
            return logs, (
                trainable_variables,
                non_trainable_variables,
                optimizer_variables,
                new_metrics_vars,
            )

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


@pytest.mark.slow
def test_vae_trains_as_keras(keras):
    digits = RNG.random((16, 8, 8, 1)).astype("float32")
    with keras_ref():
        ref = _vae(keras)
        weights = ref.encoder.get_weights() + ref.decoder.get_weights()
        expected = ref.fit(digits, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        expected_weights = ref.encoder.get_weights() + ref.decoder.get_weights()
    vae = _vae(lamina)
    n = len(vae.encoder.get_weights())
    vae.encoder.set_weights(weights[:n])
    vae.decoder.set_weights(weights[n:])
    history = vae.fit(digits, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(history) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-5, atol=1e-6)
    _close(vae.encoder.get_weights() + vae.decoder.get_weights(), expected_weights)
    sampler = vae.encoder.layers[-1]
    assert np.asarray(sampler.seed_generator.state).tolist() == [1337, 4]  # one draw a step


# --------------------------------------------------------------------------------------- GANs
def _own_and_parts(model, ntv, *subs):
    """Splits a GAN step's ``non_trainable_variables`` as Keras lists them: the model's own
    (its seed generator's state in Keras; none in Lamina, whose engine carries it), then
    each sub-model's."""
    sizes = [len(sub.non_trainable_variables) for sub in subs]
    n_own = len(ntv) - sum(sizes)
    out, at = [list(ntv[:n_own])], n_own
    for size in sizes:
        out.append(list(ntv[at : at + size]))
        at += size
    return out


def _seed_scope(keras, model, own):
    """The scope Keras's JAX backend needs for ``keras.random.*(seed=self.seed_generator)``
    inside a compiled step (an empty mapping in Lamina)."""
    return keras.StatelessScope(state_mapping=list(zip(model.non_trainable_variables, own)))


def _dcgan(keras, latent_dim=8):
    layers, ops = keras.layers, keras.ops
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(2 * 2 * 8),
            layers.Reshape((2, 2, 8)),
            layers.Conv2DTranspose(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(4, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, kernel_size=5, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.built = True

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def d_loss_fn(self, d_tv, d_ntv, images, labels):
            predictions, d_ntv = self.discriminator.stateless_call(
                d_tv, d_ntv, images, training=True
            )
            return self.loss_fn(labels, predictions), d_ntv

        def g_loss_fn(self, g_tv, g_ntv, d_tv, d_ntv, random_latent_vectors):
            fakes, g_ntv = self.generator.stateless_call(
                g_tv, g_ntv, random_latent_vectors, training=True
            )
            predictions, _ = self.discriminator.stateless_call(d_tv, d_ntv, fakes, training=True)
            # Assemble labels that say "all real images"
            misleading_labels = ops.zeros((ops.shape(random_latent_vectors)[0], 1))
            return self.loss_fn(misleading_labels, predictions), g_ntv

        def train_step(self, state, real_images):
            tv, ntv, optimizer_variables, metrics_variables = state
            own, d_ntv, g_ntv = _own_and_parts(self, ntv, self.discriminator, self.generator)
            n_d = len(self.discriminator.trainable_variables)
            d_tv, g_tv = tv[:n_d], tv[n_d:]
            batch_size = ops.shape(real_images)[0]
            with _seed_scope(keras, self, own) as scope:
                # Sample random points in the latent space
                random_latent_vectors = keras.random.normal(
                    shape=(batch_size, self.latent_dim), seed=self.seed_generator
                )
                noise = keras.random.uniform((2 * batch_size, 1), seed=self.seed_generator)
                next_latent_vectors = keras.random.normal(
                    shape=(batch_size, self.latent_dim), seed=self.seed_generator
                )
            own = [scope.get_current_value(v) for v in self.non_trainable_variables[: len(own)]]
            # Decode them to fake images
            generated_images, _ = self.generator.stateless_call(g_tv, g_ntv, random_latent_vectors)
            # Combine them with real images
            combined_images = ops.concatenate([generated_images, real_images], axis=0)
            # Assemble labels discriminating real from fake images
            labels = ops.concatenate(
                [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
            )
            # Add random noise to the labels - important trick!
            labels += 0.05 * noise
            # Train the discriminator
            (d_loss, d_ntv), grads = jax.value_and_grad(self.d_loss_fn, has_aux=True)(
                d_tv, d_ntv, combined_images, labels
            )
            d_tv, _ = self.d_optimizer.stateless_apply(self.d_optimizer.variables, grads, d_tv)
            # Train the generator (the discriminator's weights are not updated here)
            (g_loss, g_ntv), grads = jax.value_and_grad(self.g_loss_fn, has_aux=True)(
                g_tv, g_ntv, d_tv, d_ntv, next_latent_vectors
            )
            g_tv, _ = self.g_optimizer.stateless_apply(self.g_optimizer.variables, grads, g_tv)
            # Update metrics
            n = len(self.d_loss_metric.variables)
            d_m = self.d_loss_metric.stateless_update_state(metrics_variables[:n], d_loss)
            g_m = self.g_loss_metric.stateless_update_state(metrics_variables[n:], g_loss)
            logs = {
                "d_loss": self.d_loss_metric.stateless_result(d_m),
                "g_loss": self.g_loss_metric.stateless_result(g_m),
            }
            new_ntv = own + list(d_ntv) + list(g_ntv)
            return logs, (list(d_tv) + list(g_tv), new_ntv, optimizer_variables, d_m + g_m)

    class GANMonitor(keras.callbacks.Callback):
        def __init__(self, folder, num_img=3, latent_dim=128):
            self.folder = folder
            self.num_img = num_img
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(42)
            self.images = []

        def on_epoch_end(self, epoch, logs=None):
            random_latent_vectors = keras.random.normal(
                shape=(self.num_img, self.latent_dim), seed=self.seed_generator
            )
            generated_images = self.model.generator(random_latent_vectors)
            generated_images *= 255
            for i in range(self.num_img):
                img = keras.utils.array_to_img(generated_images[i])
                img.save(str(self.folder / ("generated_img_%03d_%d.png" % (epoch, i))))  # noqa: UP031
                self.images.append(np.asarray(generated_images[i]))

    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.001),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss_fn=keras.losses.BinaryCrossentropy(),
    )
    return gan, GANMonitor


def _gan_weights(gan):
    return gan.discriminator.get_weights() + gan.generator.get_weights()


@pytest.mark.slow
def test_gan_without_call_lists_its_sub_models_variables(keras):
    gan, _ = _dcgan(lamina)
    with keras_ref():
        ref, _ = _dcgan(keras)
        expected = [tuple(v.shape) for v in ref.trainable_variables]
        expected_all = [tuple(v.shape) for v in ref.weights]
    assert [tuple(v.shape) for v in gan.trainable_variables] == expected
    assert [tuple(v.shape) for v in gan.weights] == expected_all
    assert len(gan.trainable_variables) == 14
    assert gan.non_trainable_weights == []


@pytest.mark.slow
def test_dcgan_step_and_monitor_match_keras(keras, tmp_path):
    real_images = RNG.random((8, 8, 8, 1)).astype("float32")
    (tmp_path / "keras").mkdir()
    (tmp_path / "lamina").mkdir()
    with keras_ref():
        ref, Monitor = _dcgan(keras)
        weights = _gan_weights(ref)
        ref_monitor = Monitor(tmp_path / "keras", num_img=2, latent_dim=8)
        expected = ref.fit(
            real_images, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[ref_monitor]
        ).history
        expected_weights = _gan_weights(ref)
    gan, Monitor = _dcgan(lamina)
    n_d = len(gan.discriminator.get_weights())
    gan.discriminator.set_weights(weights[:n_d])
    gan.generator.set_weights(weights[n_d:])
    monitor = Monitor(tmp_path / "lamina", num_img=2, latent_dim=8)
    history = gan.fit(
        real_images, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[monitor]
    )
    for name in ("d_loss", "g_loss"):
        np.testing.assert_allclose(history.history[name], expected[name], rtol=1e-5)
    _close(_gan_weights(gan), expected_weights)
    _close(monitor.images, ref_monitor.images, atol=1e-3)
    saved = sorted(p.name for p in (tmp_path / "lamina").iterdir())
    assert saved == ["generated_img_000_0.png", "generated_img_000_1.png"]
    assert PIL.Image.open(tmp_path / "lamina" / saved[0]).size == (8, 8)
    assert np.asarray(gan.seed_generator.state).tolist() == [1337, 3]  # three draws a step


# ----------------------------------------------------------------------------------- PixelCNN
def _pixelcnn(keras):
    layers, ops = keras.layers, keras.ops

    class PixelConvLayer(layers.Layer):
        def __init__(self, mask_type, **kwargs):
            super().__init__()
            self.mask_type = mask_type
            self.conv = layers.Conv2D(**kwargs)

        def build(self, input_shape):
            # Build the conv2d layer to initialize kernel variables
            self.conv.build(input_shape)
            # Use the initialized kernel to create the mask
            kernel_shape = ops.shape(self.conv.kernel)
            self.mask = np.zeros(shape=kernel_shape)
            self.mask[: kernel_shape[0] // 2, ...] = 1.0
            self.mask[kernel_shape[0] // 2, : kernel_shape[1] // 2, ...] = 1.0
            if self.mask_type == "B":
                self.mask[kernel_shape[0] // 2, kernel_shape[1] // 2, ...] = 1.0

        def call(self, inputs):
            self.conv.kernel.assign(self.conv.kernel * self.mask)
            return self.conv(inputs)

    class ResidualBlock(keras.layers.Layer):
        def __init__(self, filters, **kwargs):
            super().__init__(**kwargs)
            self.conv1 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")
            self.pixel_conv = PixelConvLayer(
                mask_type="B",
                filters=filters // 2,
                kernel_size=3,
                activation="relu",
                padding="same",
            )
            self.conv2 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")

        def call(self, inputs):
            x = self.conv1(inputs)
            x = self.pixel_conv(x)
            x = self.conv2(x)
            return keras.layers.add([inputs, x])

    inputs = keras.Input(shape=(6, 6, 1), batch_size=8)
    x = PixelConvLayer(mask_type="A", filters=8, kernel_size=7, activation="relu", padding="same")(
        inputs
    )
    for _ in range(2):
        x = ResidualBlock(filters=8)(x)
    for _ in range(2):
        x = PixelConvLayer(
            mask_type="B",
            filters=8,
            kernel_size=1,
            strides=1,
            activation="relu",
            padding="valid",
        )(x)
    out = keras.layers.Conv2D(
        filters=1, kernel_size=1, strides=1, activation="sigmoid", padding="valid"
    )(x)
    pixel_cnn = keras.Model(inputs, out)
    adam = keras.optimizers.Adam(learning_rate=0.0005)
    pixel_cnn.compile(optimizer=adam, loss="binary_crossentropy")
    return pixel_cnn


@pytest.mark.slow
def test_pixelcnn_masked_kernel_trains_as_keras(keras):
    data = (RNG.random((16, 6, 6, 1)) > 0.5).astype("float32")
    with keras_ref():
        ref = _pixelcnn(keras)
        weights = ref.get_weights()
        expected = ref.fit(
            x=data, y=data, batch_size=8, epochs=2, validation_split=0.5, shuffle=False,
            verbose=0,
        ).history  # fmt: skip
        expected_weights = ref.get_weights()
        expected_probs = np.asarray(ref.predict(data, verbose=0))
    pixel_cnn = _pixelcnn(lamina)
    first = pixel_cnn.layers[1].conv.kernel.numpy()
    assert np.count_nonzero(first[4:]) > 0  # built unmasked: the mask applies in call()
    pixel_cnn.set_weights(weights)
    history = pixel_cnn.fit(
        x=data, y=data, batch_size=8, epochs=2, validation_split=0.5, shuffle=False, verbose=0
    ).history
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-5)
    _close(pixel_cnn.get_weights(), expected_weights)
    np.testing.assert_allclose(pixel_cnn.predict(data, verbose=0), expected_probs, atol=1e-5)
    # The sampling loop: one pixel at a time from predict's probabilities.
    pixels = np.zeros(shape=(8,) + (pixel_cnn.input_shape)[1:])
    batch, rows, cols, channels = pixels.shape
    for row in range(2):
        for col in range(cols):
            for channel in range(channels):
                probs = pixel_cnn.predict(pixels, verbose=0)[:, row, col, channel]
                pixels[:, row, col, channel] = lamina.ops.ceil(
                    probs - lamina.random.uniform(probs.shape)
                )
    assert set(np.unique(pixels)) <= {0.0, 1.0}


def test_assign_to_own_trainable_weight_in_call_is_still_refused():
    class Own(lamina.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            self.w.assign(self.w * 2.0)
            return inputs * self.w

    with pytest.raises(NotImplementedError, match="trainable=False"):
        Own()(lamina.Input((2,)))


# ------------------------------------------------------------------ Deep Dream, style transfer
def _dream(keras):
    layers, ops = keras.layers, keras.ops
    inp = keras.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="mixed4")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="mixed5")(x)
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="mixed6")(x)
    base_model = keras.Model(inp, layers.GlobalAveragePooling2D()(x))
    layer_settings = {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0}
    # Get the symbolic outputs of each "key" layer (we gave them unique names).
    outputs_dict = dict(
        [
            (layer.name, layer.output)
            for layer in [base_model.get_layer(name) for name in layer_settings.keys()]
        ]
    )
    # Set up a model that returns the activation values for every target layer
    feature_extractor = keras.Model(inputs=base_model.inputs, outputs=outputs_dict)

    def compute_loss(input_image):
        features = feature_extractor(input_image)
        # Initialize the loss
        loss = ops.zeros(shape=())
        for name in features.keys():
            coeff = layer_settings[name]
            activation = features[name]
            # We avoid border artifacts by only involving non-border pixels in the loss.
            scaling = ops.prod(ops.cast(ops.shape(activation), "float32"))
            loss += coeff * ops.sum(ops.square(activation[:, 2:-2, 2:-2, :])) / scaling
        return loss

    @jax.jit
    def gradient_ascent_step(img, learning_rate):
        loss, grads = jax.value_and_grad(compute_loss)(img)
        # Normalize gradients.
        grads = grads / ops.maximum(ops.mean(ops.abs(grads)), 1e-6)
        img += learning_rate * grads
        return loss, img

    return base_model, gradient_ascent_step


@pytest.mark.slow
def test_deep_dream_gradient_ascent_matches_keras(keras):
    img = RNG.random((1, 12, 12, 3)).astype("float32")
    with keras_ref():
        ref, step = _dream(keras)
        weights = ref.get_weights()
        expected = [step(img, 0.01)]
        expected.append(step(expected[0][1], 0.01))
    base_model, step = _dream(lamina)
    base_model.set_weights(weights)
    got = [step(img, 0.01)]
    got.append(step(got[0][1], 0.01))
    for (loss, image), (ref_loss, ref_image) in zip(got, expected):
        np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(image), np.asarray(ref_image), atol=1e-5)


def _style_transfer(keras, base_image_path, style_reference_image_path, weights=None):
    layers, ops = keras.layers, keras.ops
    vgg19 = keras.applications.vgg19
    total_variation_weight, style_weight, content_weight = 1e-6, 1e-6, 2.5e-8
    img_nrows, img_ncols = 8, 8

    def preprocess_image(image_path):
        # Util function to open, resize and format pictures into appropriate tensors
        img = keras.utils.load_img(image_path, target_size=(img_nrows, img_ncols))
        img = keras.utils.img_to_array(img)
        img = np.expand_dims(img, axis=0)
        img = vgg19.preprocess_input(img)
        return img

    def deprocess_image(x):
        # Util function to convert a tensor into a valid image
        x = x.reshape((img_nrows, img_ncols, 3))
        # Remove zero-center by mean pixel
        x[:, :, 0] += 103.939
        x[:, :, 1] += 116.779
        x[:, :, 2] += 123.68
        # 'BGR'->'RGB'
        x = x[:, :, ::-1]
        x = np.clip(x, 0, 255).astype("uint8")
        return x

    def gram_matrix(x):
        x = ops.transpose(x, (2, 0, 1))
        features = ops.reshape(x, (ops.shape(x)[0], -1))
        gram = ops.matmul(features, ops.transpose(features))
        return gram

    def style_loss(style, combination):
        S = gram_matrix(style)
        C = gram_matrix(combination)
        channels = 3
        size = img_nrows * img_ncols
        return ops.sum(ops.square(S - C)) / (4.0 * (channels**2) * (size**2))

    def content_loss(base, combination):
        return ops.sum(ops.square(combination - base))

    def total_variation_loss(x):
        a = ops.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, 1:, : img_ncols - 1, :])
        b = ops.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, : img_nrows - 1, 1:, :])
        return ops.sum(ops.power(a + b, 1.25))

    inp = keras.Input((None, None, 3))  # a small stand-in for VGG19(weights="imagenet")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(inp)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv2")(x)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_conv1")(x)
    model = keras.Model(inp, x)
    if weights is not None:
        model.set_weights(weights)
    # Get the symbolic outputs of each "key" layer (we gave them unique names).
    outputs_dict = dict([(layer.name, layer.output) for layer in model.layers])
    # Set up a model that returns the activation values for every layer (as a dict).
    feature_extractor = keras.Model(inputs=model.inputs, outputs=outputs_dict)
    style_layer_names = ["block1_conv1", "block2_conv1"]
    content_layer_name = "block1_conv2"

    def compute_loss(combination_image, base_image, style_reference_image):
        input_tensor = ops.concatenate(
            [base_image, style_reference_image, combination_image], axis=0
        )
        features = feature_extractor(input_tensor)
        # Initialize the loss
        loss = ops.zeros(shape=())
        # Add content loss
        layer_features = features[content_layer_name]
        base_image_features = layer_features[0, :, :, :]
        combination_features = layer_features[2, :, :, :]
        loss = loss + content_weight * content_loss(base_image_features, combination_features)
        # Add style loss
        for layer_name in style_layer_names:
            layer_features = features[layer_name]
            style_reference_features = layer_features[1, :, :, :]
            combination_features = layer_features[2, :, :, :]
            sl = style_loss(style_reference_features, combination_features)
            loss += (style_weight / len(style_layer_names)) * sl
        # Add total variation loss
        loss += total_variation_weight * total_variation_loss(combination_image)
        return loss

    compute_loss_and_grads = jax.jit(jax.value_and_grad(compute_loss))
    optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate=100.0, decay_steps=100, decay_rate=0.96
        )
    )
    base_image = preprocess_image(base_image_path)
    style_reference_image = preprocess_image(style_reference_image_path)
    combination_image = keras.Variable(preprocess_image(base_image_path))
    losses = []
    for _ in range(1, 4):
        loss, grads = compute_loss_and_grads(
            combination_image.value, base_image, style_reference_image
        )
        optimizer.apply_gradients([(grads, combination_image)])
        losses.append(float(loss))
    img = deprocess_image(np.array(combination_image))
    return model.get_weights(), losses, img, int(optimizer.iterations)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras
def test_neural_style_transfer_optimizes_a_variable_image_as_keras(keras, tmp_path):
    for name in ("base", "style"):
        pixels = (RNG.random((10, 12, 3)) * 255).astype("uint8")
        PIL.Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    paths = (str(tmp_path / "base.png"), str(tmp_path / "style.png"))
    with keras_ref():
        weights, expected_losses, expected_img, _ = _style_transfer(keras, *paths)
    _, losses, img, iterations = _style_transfer(lamina, *paths, weights=weights)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    assert losses[-1] < losses[0]
    assert iterations == 3
    assert np.abs(img.astype(int) - expected_img.astype(int)).max() <= 1


def test_optimizer_applies_gradients_to_a_free_variable_and_np_array_copies(keras):
    start = np.arange(6, dtype="float32").reshape(2, 3)
    grads = np.full((2, 3), 0.5, "float32")
    image = lamina.Variable(start)
    lamina.optimizers.Adam(0.1).apply_gradients([(grads, image)])
    with keras_ref():
        ref = keras.Variable(start)
        keras.optimizers.Adam(0.1).apply_gradients([(grads, ref)])
        expected = np.asarray(ref.value)
    np.testing.assert_allclose(image.numpy(), expected, rtol=1e-6)
    out = np.array(image)
    out[0, 0] = 100.0  # np.array(variable) is a writable copy
    np.testing.assert_allclose(image.numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="plain arrays"):
        lamina.optimizers.Adam(0.1).apply_gradients([(grads, np.zeros((2, 3), "float32"))])


def test_sub_layer_weight_of_a_functional_models_layer_reads_before_any_weights_read(keras):
    def build(k):
        class Wrapper(k.layers.Layer):
            def __init__(self):
                super().__init__()
                self.dense = k.layers.Dense(3)

            def call(self, x):
                return self.dense(x)

        inputs = k.Input((4,))
        return k.Model(inputs, Wrapper()(inputs))

    with keras_ref():
        expected = tuple(build(keras).layers[1].dense.kernel.shape)
    model = build(lamina)
    assert tuple(model.layers[1].dense.kernel.shape) == expected == (4, 3)


def test_gan_of_dense_sub_models_lists_their_variables_in_keras_order():
    class GAN(lamina.Model):
        def __init__(self):
            super().__init__()
            self.discriminator = lamina.Sequential(
                [lamina.Input((2,)), lamina.layers.Dropout(0.1), lamina.layers.Dense(1)]
            )
            self.generator = lamina.Sequential(
                [lamina.Input((3,)), lamina.layers.Dense(2), lamina.layers.BatchNormalization()]
            )

    gan = GAN()
    shapes = [tuple(v.shape) for v in gan.trainable_variables]
    assert shapes == [(2, 1), (1,), (3, 2), (2,), (2,), (2,)]
    assert [tuple(v.shape) for v in gan.non_trainable_weights] == [(2,), (2,)]
    # Keras's order: the discriminator's dropout seed state, then the moving statistics.
    assert [tuple(v.shape) for v in gan.non_trainable_variables] == [(2,), (2,), (2,)]
    assert len(gan.weights) == 8 and len(gan.variables) == 9


# ------------------------------------------------------------------------------------ WGAN-GP
def _wgan(keras, noise_dim=8):
    layers, ops = keras.layers, keras.ops

    def conv_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1),
                   padding="same", use_bias=True, use_bn=False, use_dropout=False,
                   drop_value=0.5):  # fmt: skip
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=use_bias)(x)  # fmt: skip
        if use_bn:
            x = layers.BatchNormalization()(x)
        x = activation(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    def get_discriminator_model():
        img_input = layers.Input(shape=(6, 6, 1))
        # Zero pad the input to make the input images size to (8, 8, 1).
        x = layers.ZeroPadding2D((1, 1))(img_input)
        x = conv_block(x, 4, kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                       activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=False,
                       drop_value=0.3)  # fmt: skip
        x = conv_block(x, 8, kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                       activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=True,
                       drop_value=0.3)  # fmt: skip
        x = layers.Flatten()(x)
        x = layers.Dropout(0.2)(x)
        x = layers.Dense(1)(x)
        return keras.models.Model(img_input, x, name="discriminator")

    def upsample_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1),
                       up_size=(2, 2), padding="same", use_bn=False, use_bias=True,
                       use_dropout=False, drop_value=0.3):  # fmt: skip
        x = layers.UpSampling2D(up_size)(x)
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          use_bias=use_bias)(x)  # fmt: skip
        if use_bn:
            x = layers.BatchNormalization()(x)
        if activation:
            x = activation(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    def get_generator_model():
        noise = layers.Input(shape=(noise_dim,))
        x = layers.Dense(2 * 2 * 8, use_bias=False)(noise)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Reshape((2, 2, 8))(x)
        x = upsample_block(x, 4, layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False,
                           use_bn=True, padding="same", use_dropout=False)  # fmt: skip
        x = upsample_block(x, 1, layers.Activation("tanh"), strides=(1, 1),
                           use_bias=False, use_bn=True)  # fmt: skip
        # Crop the image back to (6, 6, 1).
        x = layers.Cropping2D((1, 1))(x)
        return keras.models.Model(noise, x, name="generator")

    class WGAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim,
                     discriminator_extra_steps=3, gp_weight=10.0):  # fmt: skip
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_steps = discriminator_extra_steps
            self.gp_weight = gp_weight
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.built = True

        def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.d_loss_fn = d_loss_fn
            self.g_loss_fn = g_loss_fn
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)

        def gradient_penalty(self, d_tv, d_ntv, real_images, fake_images, alpha):
            """Calculates the gradient penalty on an interpolated image."""
            diff = fake_images - real_images
            interpolated = real_images + alpha * diff

            def critic(images):  # 1. the discriminator output for this interpolated image
                pred, _ = self.discriminator.stateless_call(d_tv, d_ntv, images, training=True)
                return ops.sum(pred)

            # 2. Calculate the gradients w.r.t to this interpolated image.
            grads = jax.grad(critic)(interpolated)
            # 3. Calculate the norm of the gradients.
            norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))
            return ops.mean((norm - 1.0) ** 2)

        def critic_loss(self, d_tv, d_ntv, g_tv, g_ntv, real_images, latent, alpha):
            fake_images, g_ntv = self.generator.stateless_call(g_tv, g_ntv, latent, training=True)
            fake_logits, d_ntv = self.discriminator.stateless_call(
                d_tv, d_ntv, fake_images, training=True
            )
            real_logits, d_ntv = self.discriminator.stateless_call(
                d_tv, d_ntv, real_images, training=True
            )
            d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
            gp = self.gradient_penalty(d_tv, d_ntv, real_images, fake_images, alpha)
            return d_cost + gp * self.gp_weight, (d_ntv, g_ntv)

        def generator_loss(self, g_tv, g_ntv, d_tv, d_ntv, latent):
            generated_images, g_ntv = self.generator.stateless_call(
                g_tv, g_ntv, latent, training=True
            )
            gen_img_logits, d_ntv = self.discriminator.stateless_call(
                d_tv, d_ntv, generated_images, training=True
            )
            return self.g_loss_fn(gen_img_logits), (d_ntv, g_ntv)

        def train_step(self, state, real_images):
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            tv, ntv, optimizer_variables, metrics_variables = state
            own, d_ntv, g_ntv = _own_and_parts(self, ntv, self.discriminator, self.generator)
            n_d = len(self.discriminator.trainable_variables)
            d_tv, g_tv = tv[:n_d], tv[n_d:]
            batch_size = ops.shape(real_images)[0]
            with _seed_scope(keras, self, own) as scope:
                draws = [
                    (
                        keras.random.normal((batch_size, self.latent_dim),
                                            seed=self.seed_generator),
                        keras.random.normal((batch_size, 1, 1, 1), 0.0, 1.0,
                                            seed=self.seed_generator),
                    )
                    for _ in range(self.d_steps)
                ]  # fmt: skip
                latent = keras.random.normal(
                    (batch_size, self.latent_dim), seed=self.seed_generator
                )
            own = [scope.get_current_value(v) for v in self.non_trainable_variables[: len(own)]]
            # Train the discriminator d_steps times for each generator step.
            for random_latent_vectors, alpha in draws:
                (d_loss, (d_ntv, g_ntv)), d_gradient = jax.value_and_grad(
                    self.critic_loss, has_aux=True
                )(d_tv, d_ntv, g_tv, g_ntv, real_images, random_latent_vectors, alpha)
                d_tv, _ = self.d_optimizer.stateless_apply(
                    self.d_optimizer.variables, d_gradient, d_tv
                )
            # Train the generator.
            (g_loss, (d_ntv, g_ntv)), gen_gradient = jax.value_and_grad(
                self.generator_loss, has_aux=True
            )(g_tv, g_ntv, d_tv, d_ntv, latent)
            g_tv, _ = self.g_optimizer.stateless_apply(
                self.g_optimizer.variables, gen_gradient, g_tv
            )
            new_ntv = own + list(d_ntv) + list(g_ntv)
            state = (list(d_tv) + list(g_tv), new_ntv, optimizer_variables, metrics_variables)
            return {"d_loss": d_loss, "g_loss": g_loss}, state

    def discriminator_loss(real_img, fake_img):
        real_loss = ops.mean(real_img)
        fake_loss = ops.mean(fake_img)
        return fake_loss - real_loss

    def generator_loss(fake_img):
        return -ops.mean(fake_img)

    wgan = WGAN(discriminator=get_discriminator_model(), generator=get_generator_model(),
                latent_dim=noise_dim, discriminator_extra_steps=3)  # fmt: skip
    wgan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9),
        g_loss_fn=generator_loss,
        d_loss_fn=discriminator_loss,
    )
    return wgan


@pytest.mark.slow
def test_wgan_gp_step_matches_keras(keras):
    train_images = (RNG.random((8, 6, 6, 1)) * 2 - 1).astype("float32")
    with keras_ref():
        random.seed(3)  # the Dropout layers' seeds are drawn from Python's random, as Keras's
        ref = _wgan(keras)
        weights = _gan_weights(ref)
        seeds = [np.asarray(v.value).tolist() for v in ref.discriminator.non_trainable_variables]
        expected = ref.fit(train_images, batch_size=8, epochs=1, shuffle=False, verbose=0)
        expected_weights = _gan_weights(ref)
    random.seed(3)
    wgan = _wgan(lamina)
    assert [v.numpy().tolist() for v in wgan.discriminator.non_trainable_variables] == seeds
    n_d = len(wgan.discriminator.get_weights())
    wgan.discriminator.set_weights(weights[:n_d])
    wgan.generator.set_weights(weights[n_d:])
    history = wgan.fit(train_images, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # Some discriminator gradients are ~0 up to rounding (a bias before ZeroPadding-fed
    # convolutions), and Adam turns their sign into a full step of the learning rate: the
    # weights agree to a few steps (2e-4 each), the losses to rounding of those.
    for name in ("d_loss", "g_loss"):
        np.testing.assert_allclose(
            history.history[name], expected.history[name], rtol=5e-3, atol=1e-3
        )
    _close(_gan_weights(wgan), expected_weights, atol=1e-3)  # BN moving statistics included
    assert np.asarray(wgan.seed_generator.state).tolist() == [1337, 7]


# ------------------------------------------------------------------------------ Antirectifier
def _antirectifier(keras):
    layers, ops = keras.layers, keras.ops

    class Antirectifier(layers.Layer):
        def __init__(self, initializer="he_normal", **kwargs):
            super().__init__(**kwargs)
            self.initializer = keras.initializers.get(initializer)

        def build(self, input_shape):
            output_dim = input_shape[-1]
            self.kernel = self.add_weight(
                shape=(output_dim * 2, output_dim),
                initializer=self.initializer,
                name="kernel",
                trainable=True,
            )

        def call(self, inputs):
            inputs -= ops.mean(inputs, axis=-1, keepdims=True)
            pos = ops.relu(inputs)
            neg = ops.relu(-inputs)
            concatenated = ops.concatenate([pos, neg], axis=-1)
            mixed = ops.matmul(concatenated, self.kernel)
            return mixed

        def get_config(self):
            # Implement get_config to enable serialization. This is optional.
            base_config = super().get_config()
            config = {"initializer": keras.initializers.serialize(self.initializer)}
            return dict(list(base_config.items()) + list(config.items()))

    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            layers.Dense(8),
            Antirectifier(),
            layers.Dense(8),
            Antirectifier(),
            layers.Dropout(0.5),
            layers.Dense(3),
        ]
    )
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model, Antirectifier


@pytest.mark.slow
def test_antirectifier_matches_keras_and_round_trips(keras, tmp_path):
    x = RNG.random((40, 12)).astype("float32")
    y = RNG.integers(0, 3, 40)
    with keras_ref():
        ref, _ = _antirectifier(keras)
        weights = ref.get_weights()
        expected = np.asarray(ref.predict(x, verbose=0))
        expected_initializer = ref.layers[1].get_config()["initializer"]
    model, Antirectifier = _antirectifier(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert model.layers[1].get_config()["initializer"] == expected_initializer
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.15, verbose=0)
    assert sorted(history.history) == [
        "loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy",
    ]  # fmt: skip
    model.save(tmp_path / "antirectifier.keras")
    loaded = lamina.models.load_model(
        tmp_path / "antirectifier.keras", custom_objects={"Antirectifier": Antirectifier}
    )
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------------------ Conditional GAN
@pytest.mark.slow
def test_conditional_gan_trains_on_image_label_pairs():
    keras, ops = lamina, lamina.ops
    image_size, num_classes, latent_dim = 4, 3, 5
    generator_in_channels = latent_dim + num_classes
    discriminator_in_channels = 1 + num_classes
    discriminator = keras.Sequential(
        [
            keras.layers.InputLayer((image_size, image_size, discriminator_in_channels)),
            keras.layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(1),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.layers.InputLayer((generator_in_channels,)),
            keras.layers.Dense(2 * 2 * generator_in_channels),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Reshape((2, 2, generator_in_channels)),
            keras.layers.Conv2DTranspose(4, (4, 4), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Conv2D(1, (2, 2), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )

    class ConditionalGAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
            self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
            self.built = True

        @property
        def metrics(self):
            return [self.gen_loss_tracker, self.disc_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def d_loss(self, d_tv, images, labels):
            predictions, _ = self.discriminator.stateless_call(d_tv, [], images)
            return self.loss_fn(labels, predictions)

        def g_loss(self, g_tv, d_tv, random_vector_labels, image_one_hot_labels):
            fake_images, _ = self.generator.stateless_call(g_tv, [], random_vector_labels)
            fake_image_and_labels = ops.concatenate([fake_images, image_one_hot_labels], -1)
            predictions, _ = self.discriminator.stateless_call(d_tv, [], fake_image_and_labels)
            misleading_labels = ops.zeros((ops.shape(fake_images)[0], 1))
            return self.loss_fn(misleading_labels, predictions)

        def train_step(self, state, data):
            tv, ntv, optimizer_variables, metrics_variables = state
            # Unpack the data.
            real_images, one_hot_labels = data
            # Add dummy dimensions to the labels so that they can be concatenated with
            # the images. This is for the discriminator.
            image_one_hot_labels = one_hot_labels[:, :, None, None]
            image_one_hot_labels = ops.repeat(image_one_hot_labels, repeats=image_size * image_size)
            image_one_hot_labels = ops.reshape(
                image_one_hot_labels, (-1, image_size, image_size, num_classes)
            )
            n_d = len(self.discriminator.trainable_variables)
            d_tv, g_tv = tv[:n_d], tv[n_d:]
            # Sample random points in the latent space and concatenate the labels.
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
            generated_images, _ = self.generator.stateless_call(g_tv, [], random_vector_labels)
            fake_image_and_labels = ops.concatenate([generated_images, image_one_hot_labels], -1)
            real_image_and_labels = ops.concatenate([real_images, image_one_hot_labels], -1)
            combined_images = ops.concatenate(
                [fake_image_and_labels, real_image_and_labels], axis=0
            )
            labels = ops.concatenate(
                [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
            )
            d_loss, grads = jax.value_and_grad(self.d_loss)(d_tv, combined_images, labels)
            d_tv, _ = self.d_optimizer.stateless_apply(self.d_optimizer.variables, grads, d_tv)
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
            g_loss, grads = jax.value_and_grad(self.g_loss)(
                g_tv, d_tv, random_vector_labels, image_one_hot_labels
            )
            g_tv, _ = self.g_optimizer.stateless_apply(self.g_optimizer.variables, grads, g_tv)
            # Monitor loss.
            self.gen_loss_tracker.update_state(g_loss)
            self.disc_loss_tracker.update_state(d_loss)
            logs = {
                "g_loss": self.gen_loss_tracker.result(),
                "d_loss": self.disc_loss_tracker.result(),
            }
            new_mv = [v for m in self.metrics for v in m.variables]
            return logs, (list(d_tv) + list(g_tv), ntv, optimizer_variables, new_mv)

    all_digits = RNG.random((32, image_size, image_size, 1)).astype("float32")
    all_labels = keras.utils.to_categorical(RNG.integers(0, num_classes, 32), num_classes)
    cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator,
                              latent_dim=latent_dim)  # fmt: skip
    cond_gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    history = cond_gan.fit(all_digits, all_labels, batch_size=8, epochs=2, verbose=0)
    assert sorted(history.history) == ["d_loss", "g_loss"]
    assert int(cond_gan.d_optimizer.iterations) == int(cond_gan.g_optimizer.iterations) == 8
    assert len(cond_gan.trainable_variables) == 10

    # Interpolating between classes with the trained generator.
    trained_gen = cond_gan.generator
    num_interpolation = 4
    interpolation_noise = keras.random.normal(shape=(1, latent_dim))
    interpolation_noise = ops.repeat(interpolation_noise, repeats=num_interpolation)
    interpolation_noise = ops.reshape(interpolation_noise, (num_interpolation, latent_dim))
    first_label = keras.utils.to_categorical([1], num_classes)
    second_label = keras.utils.to_categorical([2], num_classes)
    first_label = ops.cast(first_label, "float32")
    second_label = ops.cast(second_label, "float32")
    percent_second_label = ops.linspace(0, 1, num_interpolation)[:, None]
    percent_second_label = ops.cast(percent_second_label, "float32")
    interpolation_labels = (
        first_label * (1 - percent_second_label) + second_label * percent_second_label
    )
    noise_and_labels = ops.concatenate([interpolation_noise, interpolation_labels], 1)
    fake = trained_gen.predict(noise_and_labels, verbose=0)
    assert fake.shape == (num_interpolation, image_size, image_size, 1)
