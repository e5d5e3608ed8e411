"""A variational autoencoder trained with ``fit`` and a JAX-style ``train_step`` (the Keras
VAE example, with the step written the Keras 3 JAX way).

Runs with ``import lamina as keras`` only (and ``jax`` for ``value_and_grad``), on stand-in
data (noisy sine waves).  The encoder ends in a ``Sampling`` layer drawing
``keras.random.normal(..., seed=self.seed_generator)``; the ``VAE`` model holds the encoder
and the decoder, and its ``train_step(self, state, data)`` runs both through
``stateless_call``, adds the reconstruction and KL losses, and reports them with
``keras.metrics.Mean`` trackers, which ``fit`` resets every epoch and records in ``History``.

Run:  python examples/keras_guides/vae.py
"""

import jax
import numpy as np

import lamina as keras
from lamina import layers, ops

keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)
features, latent_dim = 16, 2

# Sine waves of random frequency and phase, with a little noise.
t = np.linspace(0, 2 * np.pi, features)[None, :]
signals = np.sin(rng.uniform(1, 2, (2048, 1)) * t + rng.uniform(0, np.pi, (2048, 1)))
signals = (signals + rng.normal(0, 0.05, signals.shape)).astype("float32")


class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * epsilon, epsilon drawn from the layer's generator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        shape = (ops.shape(z_mean)[0], ops.shape(z_mean)[1])
        epsilon = keras.random.normal(shape=shape, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


encoder_inputs = keras.Input(shape=(features,))
h = layers.Dense(32, activation="relu")(encoder_inputs)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

latent_inputs = keras.Input(shape=(latent_dim,))
h = layers.Dense(32, activation="relu")(latent_inputs)
decoder = keras.Model(latent_inputs, layers.Dense(features)(h), name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.built = True

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def losses_and_updates(self, trainable_variables, non_trainable_variables, x):
        n_t = len(self.encoder.trainable_variables)
        n_nt = len(self.encoder.non_trainable_variables)
        (z_mean, z_log_var, z), enc_nt = self.encoder.stateless_call(
            trainable_variables[:n_t], non_trainable_variables[:n_nt], x, training=True
        )
        reconstruction, dec_nt = self.decoder.stateless_call(
            trainable_variables[n_t:], non_trainable_variables[n_nt:], z, training=True
        )
        reconstruction_loss = ops.mean(ops.sum(ops.square(x - reconstruction), axis=1))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        total = reconstruction_loss + kl_loss
        return total, (reconstruction_loss, kl_loss, list(enc_nt) + list(dec_nt))

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = (
            state
        )
        grad_fn = jax.value_and_grad(self.losses_and_updates, has_aux=True)
        (total, (reconstruction_loss, kl_loss, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, data
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        new_metrics_variables, logs = [], {}
        for metric, value in zip(self.metrics, (total, reconstruction_loss, kl_loss)):
            start = len(new_metrics_variables)
            this = metrics_variables[start : start + len(metric.variables)]
            this = metric.stateless_update_state(this, value)
            logs[metric.name] = metric.stateless_result(this)
            new_metrics_variables += this
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables,
                      new_metrics_variables)  # fmt: skip


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003))
history = vae.fit(signals, epochs=15, batch_size=128, verbose=0)
for name in ("total_loss", "reconstruction_loss", "kl_loss"):
    print(f"vae {name}: {history.history[name][0]:.3f} -> {history.history[name][-1]:.3f}")

sampler = encoder.layers[-1]
print("noise draws:", int(np.asarray(sampler.seed_generator.state)[1]), "for",
      15 * (2048 // 128), "steps")  # fmt: skip

means = encoder.predict(signals[:256], verbose=0)[0]
rebuilt = decoder.predict(means, verbose=0)
print(f"reconstruction mse from the latent means: {np.mean((rebuilt - signals[:256]) ** 2):.3f}"
      f" (signal variance {signals.var():.3f})")  # fmt: skip
