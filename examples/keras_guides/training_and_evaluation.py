"""The Keras guide "Training & evaluation with the built-in methods", retold with Lamina.

Runs with ``import lamina as keras`` only, on generated data: ``compile``/``fit``/``evaluate``/
``predict`` with validation data, custom losses (a function and a ``Loss`` subclass), a custom
``Metric`` with ``add_variable``, class and sample weights, a model with two inputs and two
outputs whose losses and metrics are given per output name, callbacks (early stopping,
checkpoints), a learning-rate schedule, and the single-batch methods.

Run:  python examples/keras_guides/training_and_evaluation.py
"""

import os
import tempfile

import numpy as np

import lamina as keras
from lamina import layers, ops

keras.utils.set_random_seed(11)
rng = np.random.default_rng(11)

# Ten classes of 20-dimensional points around ten centers.
centers = rng.normal(0, 2.0, size=(10, 20))
y_all = rng.integers(0, 10, 3000)
x_all = (centers[y_all] + rng.normal(0, 1.0, size=(3000, 20))).astype("float32")
x_train, y_train = x_all[:2000], y_all[:2000]
x_val, y_val = x_all[2000:2500], y_all[2000:2500]
x_test, y_test = x_all[2500:], y_all[2500:]


def get_model():
    inputs = keras.Input(shape=(20,), name="points")
    h = layers.Dense(32, activation="relu")(inputs)
    h = layers.Dense(32, activation="relu")(h)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(h))


# --------------------------------------------------------- 1. the end-to-end loop
model = get_model()
model.compile(
    optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(
    x_train, y_train, batch_size=64, epochs=4, validation_data=(x_val, y_val), verbose=0
)
print("history keys:", sorted(history.history))
print("test loss, test acc:", np.round(model.evaluate(x_test, y_test, verbose=0), 3))
print("predictions:", model.predict(x_test[:3], verbose=0).shape)


# ------------------------------------------------------------- 2. custom losses
def mean_squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class SmoothedMSE(keras.losses.Loss):
    """MSE plus a penalty pulling predictions toward their mean."""

    def __init__(self, weight=0.05, name="smoothed_mse"):
        super().__init__(name=name)
        self.weight = weight

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        spread = ops.mean(ops.square(y_pred - ops.mean(y_pred, axis=-1, keepdims=True)), axis=-1)
        return mse + self.weight * spread


one_hot = keras.utils.to_categorical(y_train, 10)
for loss in (mean_squared_error, SmoothedMSE()):
    model = get_model()
    model.compile(optimizer="adam", loss=loss)
    model.fit(x_train, one_hot, batch_size=64, epochs=2, verbose=0)
    print(f"custom loss {getattr(loss, '__name__', type(loss).__name__)}: trained")


# ------------------------------------------------------------- 3. a custom metric
class TruePositivesOf(keras.metrics.Metric):
    """How many samples of class ``k`` were predicted as ``k``."""

    def __init__(self, k=0, name="true_positives_of_0", **kwargs):
        super().__init__(name=name, **kwargs)
        self.k = k
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = ops.argmax(y_pred, axis=-1)
        truth = ops.reshape(ops.cast(y_true, "int32"), ops.shape(predicted))
        hit = ops.cast((predicted == self.k) & (truth == self.k), "float32")
        if sample_weight is not None:
            hit = hit * ops.reshape(sample_weight, ops.shape(hit))
        self.hits.assign_add(ops.sum(hit))

    def result(self):
        return self.hits.value

    def reset_state(self):
        self.hits.assign(0.0)


model = get_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[TruePositivesOf()])
logs = model.fit(x_train, y_train, batch_size=50, epochs=2, verbose=0).history
print("true positives of class 0 per epoch:", logs["true_positives_of_0"])

# --------------------------------------------------- 4. class and sample weights
class_weight = {k: 1.0 for k in range(10)}
class_weight[5] = 2.0  # class 5 counts twice
model = get_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=2, verbose=0)
sample_weight = np.where(y_train == 5, 2.0, 1.0)
model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0)
print("weighted fits: test accuracy", round(model.evaluate(x_test, y_test, verbose=0)[1], 3))

# ------------------------------------ 5. two inputs, two outputs, settings by output name
image_in = keras.Input(shape=(8, 8, 1), name="img_input")
series_in = keras.Input(shape=(12, 3), name="ts_input")
a = layers.GlobalMaxPooling2D()(layers.Conv2D(4, 3)(image_in))
b = layers.GlobalMaxPooling1D()(layers.Conv1D(4, 3)(series_in))
joined = layers.Concatenate()([a, b])
score = layers.Dense(1, name="score_output")(joined)
klass = layers.Dense(5, name="class_output")(joined)
two_way = keras.Model([image_in, series_in], [score, klass])
two_way.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "score_output": keras.losses.MeanSquaredError(),
        "class_output": keras.losses.CategoricalCrossentropy(from_logits=True),
    },
    loss_weights={"score_output": 2.0, "class_output": 1.0},
    metrics={"score_output": ["mae"], "class_output": ["categorical_accuracy"]},
)
images = rng.random((256, 8, 8, 1)).astype("float32")
series = rng.random((256, 12, 3)).astype("float32")
scores = images.mean((1, 2, 3))[:, None] + series.mean((1, 2))[:, None]
classes = keras.utils.to_categorical(rng.integers(0, 5, 256), 5)
logs = two_way.fit([images, series], [scores, classes], batch_size=32, epochs=2, verbose=0)
print("two-way logs:", sorted(logs.history))

# --------------------------------------------------------------- 6. callbacks
folder = tempfile.mkdtemp()
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-3, patience=2, verbose=0),
    keras.callbacks.ModelCheckpoint(
        os.path.join(folder, "best.keras"), monitor="val_loss", save_best_only=True
    ),
]
model = get_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(
    x_train, y_train, epochs=30, batch_size=64, callbacks=callbacks, validation_split=0.2,
    verbose=0,
)  # fmt: skip
best = keras.models.load_model(os.path.join(folder, "best.keras"))
print(f"early stopping after {len(history.history['loss'])} epochs; best model restored:",
      round(best.evaluate(x_test, y_test, verbose=0)[1], 3))  # fmt: skip

# ------------------------------------------------------- 7. a learning-rate schedule
schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=0.01, decay_steps=100, decay_rate=0.9, staircase=True
)
model = get_model()
model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
print("schedule fit: test accuracy", round(model.evaluate(x_test, y_test, verbose=0)[1], 3))

# ------------------------------------------------------- 8. one batch at a time
model = get_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
losses = []
for start in range(0, 640, 64):
    loss, acc = model.train_on_batch(x_train[start : start + 64], y_train[start : start + 64])
    losses.append(loss)
print(f"train_on_batch: first loss {losses[0]:.3f}, last loss {loss:.3f};",
      "test_on_batch:", np.round(model.test_on_batch(x_test[:64], y_test[:64]), 3),
      "predict_on_batch:", model.predict_on_batch(x_test[:4]).shape)  # fmt: skip
