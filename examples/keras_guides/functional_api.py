"""The Keras guide "The Functional API", retold with Lamina and generated data.

Runs with ``import lamina as keras`` only: Inputs and layer calls, a model with several inputs
and outputs (a toy support-ticket router), shared layers, a small residual network, feature
extraction from intermediate layers, models used as layers, and saving.

Run:  python examples/keras_guides/functional_api.py
"""

import os
import tempfile

import numpy as np

import lamina as keras
from lamina import layers

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)

# ----------------------------------------------------------------- 1. a first graph
# A model is a graph of layers: start from an Input, call layers on tensors, end at outputs.
inputs = keras.Input(shape=(16,), name="pixels")
x = layers.Dense(32, activation="relu")(inputs)
x = layers.Dense(32, activation="relu")(x)
outputs = layers.Dense(4, activation="softmax")(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="first_graph")
model.summary()

# Four classes of noisy "images": each class lights up a different quarter of 16 pixels.
labels = rng.integers(0, 4, 600)
images = rng.normal(0.0, 0.6, size=(600, 16)).astype("float32")
for k in range(4):
    images[labels == k, 4 * k : 4 * k + 4] += 1.5
model.compile(
    optimizer=keras.optimizers.Adam(0.01),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=["accuracy"],
)
history = model.fit(images[:500], labels[:500], batch_size=32, epochs=5, verbose=0)
loss, accuracy = model.evaluate(images[500:], labels[500:], verbose=0)
print(f"first graph: held-out accuracy {accuracy:.3f}")

# ----------------------------------------------------------- 2. several inputs and outputs
# A ticket has a title (word ids), a body (word ids) and tags; we predict its priority (one
# number) and its department (one of 3).
vocab, n_tags, n_departments = 200, 6, 3
title_in = keras.Input(shape=(8,), dtype="int32", name="title")
body_in = keras.Input(shape=(20,), dtype="int32", name="body")
tags_in = keras.Input(shape=(n_tags,), name="tags")
title = layers.GlobalAveragePooling1D()(layers.Embedding(vocab, 16)(title_in))
body = layers.GlobalAveragePooling1D()(layers.Embedding(vocab, 16)(body_in))
merged = layers.Concatenate()([title, body, tags_in])
priority = layers.Dense(1, name="priority")(merged)
department = layers.Dense(n_departments, activation="softmax", name="department")(merged)
router = keras.Model([title_in, body_in, tags_in], [priority, department], name="router")

n = 400
titles = rng.integers(0, vocab, size=(n, 8)).astype("int32")
bodies = rng.integers(0, vocab, size=(n, 20)).astype("int32")
tags = rng.integers(0, 2, size=(n, n_tags)).astype("float32")
priority_y = tags[:, :2].sum(1, keepdims=True) + (titles < 20).mean(1, keepdims=True)
department_y = tags[:, 2:5].argmax(1)
router.compile(
    optimizer=keras.optimizers.Adam(0.01),
    loss=["mse", "sparse_categorical_crossentropy"],
    loss_weights=[1.0, 0.5],  # the department loss counts half
    metrics=[[], ["accuracy"]],
)
logs = router.fit(
    [titles, bodies, tags], [priority_y, department_y], batch_size=32, epochs=8, verbose=0
).history
print(f"router: department accuracy {logs['department_accuracy'][-1]:.3f}")
predicted_priority, predicted_department = router.predict([titles[:3], bodies[:3], tags[:3]])
print("router: priorities", np.round(predicted_priority.ravel(), 2))

# ------------------------------------------------------------------ 3. shared layers
# One layer called on two inputs: both branches use the same weights.
shared_embedding = layers.Embedding(vocab, 8)
query, answer = keras.Input((6,), dtype="int32"), keras.Input((6,), dtype="int32")
q = layers.Flatten()(shared_embedding(query))
a = layers.Flatten()(shared_embedding(answer))
similarity = layers.Dot(axes=1, normalize=True)([q, a])
matcher = keras.Model([query, answer], similarity)
print("matcher: one embedding table for both inputs:", len(matcher.weights) == 1)

# ---------------------------------------------------------------- 4. a toy residual network
block_in = keras.Input(shape=(16,))
h = layers.Dense(16, activation="relu")(block_in)
h = layers.Add()([block_in, layers.Dense(16)(h)])  # the skip connection
h = layers.Dense(16, activation="relu")(h)
h = layers.Add()([h, layers.Dense(16)(layers.Dense(16, activation="relu")(h))])
resnet = keras.Model(block_in, layers.Dense(4, activation="softmax")(h), name="toy_resnet")
resnet.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
resnet.fit(images[:500], labels[:500], batch_size=32, epochs=5, verbose=0)
print(
    f"toy resnet: held-out accuracy {resnet.evaluate(images[500:], labels[500:], verbose=0)[1]:.3f}"
)

# ------------------------------------------------- 5. features from intermediate layers
extractor = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers[1:]])
features = extractor.predict(images[:2], verbose=0)
print("feature shapes:", [f.shape for f in features])

# ------------------------------------------------------------ 6. models used as layers
encoder_in = keras.Input(shape=(16,))
encoder = keras.Model(encoder_in, layers.Dense(4, activation="tanh")(encoder_in), name="encoder")
decoder_in = keras.Input(shape=(4,))
decoder = keras.Model(decoder_in, layers.Dense(16)(decoder_in), name="decoder")
autoencoder_in = keras.Input(shape=(16,))
autoencoder = keras.Model(autoencoder_in, decoder(encoder(autoencoder_in)), name="autoencoder")
autoencoder.compile(optimizer="adam", loss="mse")
autoencoder.fit(images[:500], images[:500], batch_size=64, epochs=5, verbose=0)
print(
    f"autoencoder: reconstruction mse {autoencoder.evaluate(images[500:], images[500:], verbose=0):.3f}"
)
# The encoder's layers now hold the trained weights, shared with the autoencoder.
codes = keras.Model(autoencoder_in, autoencoder.get_layer("encoder")(autoencoder_in))
print("codes:", codes.predict(images[:1], verbose=0).shape)

# ------------------------------------------------------------------------ 7. saving
path = os.path.join(tempfile.mkdtemp(), "router.keras")
router.save(path)
restored = keras.models.load_model(path)
same = np.allclose(
    restored.predict([titles[:5], bodies[:5], tags[:5]], verbose=0)[1],
    router.predict([titles[:5], bodies[:5], tags[:5]], verbose=0)[1],
    atol=1e-6,
)
print("router saved and restored:", same)
