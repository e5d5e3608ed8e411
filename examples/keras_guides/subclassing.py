"""The Keras guide "Making new layers and models via subclassing", retold with Lamina.

Runs with ``import lamina as keras`` only: a layer with weights (``add_weight`` in
``__init__`` and in ``build``), non-trainable weights updated in ``call``, layers made of
layers, ``add_loss``, ``training``-dependent behaviour, ``get_config`` for saving, and a
subclassed ``Model`` (a small variational autoencoder, without the custom train step) trained
with ``fit``.

Run:  python examples/keras_guides/subclassing.py
"""

import os
import tempfile

import numpy as np

import lamina as keras
from lamina import layers, ops

keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)


# ----------------------------------------------------- 1. a layer with weights
class Affine(keras.layers.Layer):
    """y = x @ w + b, with its weights created in __init__ (the input size is known)."""

    def __init__(self, units=8, input_dim=4):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(units,), initializer="zeros", name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


x = np.ones((2, 4), "float32")
affine = Affine(8, 4)
print("affine:", affine(x).shape, [w.name for w in affine.weights])


# ------------------------------------------ 2. non-trainable weights: a running sum
class RunningSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(shape=(input_dim,), initializer="zeros", trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


summer = RunningSum(4)
summer(x)
summer(x)
print("running sum:", summer.total.numpy(), "trainable weights:", len(summer.trainable_weights))


# ------------------------------------ 3. deferred weights: build() sees the input shape
class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="w"
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):  # what saving needs to rebuild the layer
        return {**super().get_config(), "units": self.units}


# ------------------------------------------------- 4. layers made of layers
class MLPBlock(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Linear(16)
        self.out = Linear(1)

    def call(self, inputs):
        return self.out(ops.relu(self.hidden(inputs)))


block = MLPBlock()
print("mlp block:", block(np.ones((3, 10), "float32")).shape, "weights:", len(block.weights))


# --------------------------------------------- 5. add_loss and training-dependent calls
class SparsityPenalty(keras.layers.Layer):
    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(ops.abs(inputs)))
        return inputs


class NoisyIdentity(keras.layers.Layer):
    """Adds noise while training only (a layer using `training`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dropout = layers.Dropout(0.5)

    def call(self, inputs, training=None):
        return self.dropout(inputs, training=training)


penalty = SparsityPenalty(0.1)
penalty(np.full((2, 3), 2.0, "float32"))
print("add_loss:", [float(v) for v in penalty.losses])
print("training differs:", bool(np.any(NoisyIdentity()(x, training=True) != x)))

inputs = keras.Input((10,))
h = SparsityPenalty()(layers.Dense(16, activation="relu")(inputs))
regression = keras.Model(inputs, MLPBlock()(NoisyIdentity()(h)))
features = rng.normal(size=(512, 10)).astype("float32")
target = features[:, :3].sum(1, keepdims=True)
regression.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
regression.fit(features[:400], target[:400], batch_size=32, epochs=10, verbose=0)
print(
    f"custom-layer model: held-out mse {regression.evaluate(features[400:], target[400:], verbose=0):.3f}"
)

path = os.path.join(tempfile.mkdtemp(), "regression.keras")
regression.save(path)
restored = keras.models.load_model(
    path,
    custom_objects={
        "Linear": Linear, "MLPBlock": MLPBlock, "SparsityPenalty": SparsityPenalty,
        "NoisyIdentity": NoisyIdentity,
    },
)  # fmt: skip
print("restored:", np.allclose(restored.predict(features[:4], verbose=0),
                               regression.predict(features[:4], verbose=0), atol=1e-6))  # fmt: skip


# ------------------------------------------- 6. a subclassed Model: a small VAE
class Sampling(keras.layers.Layer):
    """z = mean + exp(log_var / 2) * eps, eps drawn from the layer's seed generator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.noise = layers.GaussianNoise(1.0)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        eps = self.noise(ops.zeros_like(mean), training=training)
        return mean + ops.exp(0.5 * log_var) * eps


class VAE(keras.Model):
    def __init__(self, dim=12, latent=2, **kwargs):
        super().__init__(**kwargs)
        self.encode = layers.Dense(16, activation="relu")
        self.to_mean = layers.Dense(latent)
        self.to_log_var = layers.Dense(latent)
        self.sample = Sampling()
        self.decode = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(dim)])

    def call(self, inputs, training=None):
        h = self.encode(inputs)
        mean, log_var = self.to_mean(h), self.to_log_var(h)
        kl = -0.5 * ops.mean(1 + log_var - ops.square(mean) - ops.exp(log_var))
        self.add_loss(0.1 * kl)
        return self.decode(self.sample([mean, log_var], training=training))


signals = np.sin(np.linspace(0, 3, 12)[None, :] * rng.uniform(1, 3, (600, 1))).astype("float32")
vae = VAE()
vae.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
history = vae.fit(signals[:500], signals[:500], batch_size=50, epochs=15, verbose=0)
print(f"vae: loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}")
print("vae layers:", [layer.name for layer in vae.layers])
