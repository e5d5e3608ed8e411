"""A GAN trained with ``fit``: the Keras pattern of a ``train_step`` override, in JAX style.

Runs with ``import lamina as keras`` only (and ``jax`` for ``value_and_grad``), on stand-in
data (points on a ring).  The ``GAN`` model holds a generator and a discriminator, overrides
``compile(d_optimizer, g_optimizer, loss_fn)`` (calling ``super().compile()``), and its
``train_step(self, state, data)`` draws latent vectors with
``keras.random.normal(..., seed=self.seed_generator)`` and updates each network with its own
optimizer through ``optimizer.stateless_apply(optimizer.variables, grads, variables)``.
Lamina carries both optimizers' state and the seed generator's from step to step inside the
compiled epoch, so every step draws fresh noise.

Run:  python examples/keras_guides/gan.py
"""

import jax
import numpy as np

import lamina as keras
from lamina import layers, ops

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
latent_dim = 4

# Real samples: points on the unit circle, with a little noise.
angles = rng.uniform(0, 2 * np.pi, 1024)
real_points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
real_points = (real_points + rng.normal(0, 0.05, real_points.shape)).astype("float32")

discriminator = keras.Sequential(
    [keras.Input((2,)), layers.Dense(32, activation="relu"), layers.Dense(1)],
    name="discriminator",
)
generator = keras.Sequential(
    [keras.Input((latent_dim,)), layers.Dense(32, activation="relu"), layers.Dense(2)],
    name="generator",
)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def d_loss(self, d_variables, images, labels):
        predictions, _ = self.discriminator.stateless_call(d_variables, [], images)
        return self.loss_fn(labels, predictions)

    def g_loss(self, g_variables, d_variables, latent):
        fakes, _ = self.generator.stateless_call(g_variables, [], latent)
        predictions, _ = self.discriminator.stateless_call(d_variables, [], fakes)
        return self.loss_fn(ops.zeros((ops.shape(latent)[0], 1)), predictions)  # "real"

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = (
            state
        )
        real = data
        batch = ops.shape(real)[0]
        n_d = len(self.discriminator.trainable_variables)
        d_vars, g_vars = trainable_variables[:n_d], trainable_variables[n_d:]

        # The discriminator: generated points labelled 1, real ones 0.
        latent = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fakes, _ = self.generator.stateless_call(g_vars, [], latent)
        images = ops.concatenate([fakes, real], axis=0)
        labels = ops.concatenate([ops.ones((batch, 1)), ops.zeros((batch, 1))], axis=0)
        d_loss, grads = jax.value_and_grad(self.d_loss)(d_vars, images, labels)
        d_vars, _ = self.d_optimizer.stateless_apply(self.d_optimizer.variables, grads, d_vars)

        # The generator, through the updated discriminator, on fresh noise.
        latent = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        g_loss, grads = jax.value_and_grad(self.g_loss)(g_vars, d_vars, latent)
        g_vars, _ = self.g_optimizer.stateless_apply(self.g_optimizer.variables, grads, g_vars)

        n = len(self.d_loss_tracker.variables)
        d_metric = self.d_loss_tracker.stateless_update_state(metrics_variables[:n], d_loss)
        g_metric = self.g_loss_tracker.stateless_update_state(metrics_variables[n:], g_loss)
        logs = {
            "d_loss": self.d_loss_tracker.stateless_result(d_metric),
            "g_loss": self.g_loss_tracker.stateless_result(g_metric),
        }
        state = (list(d_vars) + list(g_vars), non_trainable_variables, optimizer_variables,
                 d_metric + g_metric)  # fmt: skip
        return logs, state


gan = GAN(discriminator, generator, latent_dim)
gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.003),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.003),
    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
)
history = gan.fit(real_points, batch_size=64, epochs=20, verbose=0)
print(f"gan: d_loss {history.history['d_loss'][0]:.3f} -> {history.history['d_loss'][-1]:.3f}, "
      f"g_loss {history.history['g_loss'][0]:.3f} -> {history.history['g_loss'][-1]:.3f}")  # fmt: skip

steps = 20 * (1024 // 64)
print("noise draws:", int(np.asarray(gan.seed_generator.state)[1]), "for", steps, "steps;",
      "optimizer steps:", int(gan.d_optimizer.variables[0]),
      int(gan.g_optimizer.variables[0]))  # fmt: skip

samples = generator.predict(np.random.default_rng(0).normal(size=(512, latent_dim)), verbose=0)
radius = np.linalg.norm(samples, axis=1)
print(f"generated points: mean radius {radius.mean():.2f} (real: 1.00), "
      f"spread {radius.std():.2f}")  # fmt: skip
