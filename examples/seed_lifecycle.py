"""Every code line of the seed text, in order, on the Pima Indians diabetes data.

The seed is the classic "Life Cycle for Neural Network Models in Keras"; here its imports point
at lamina and nothing else changes (legacy spellings included: ``input_dim=``, ``nb_epoch=``,
``Activation('relu')`` layers, ``metrics=['accuracy']``).

Run:  python examples/seed_lifecycle.py
"""

import numpy as np

from lamina.datasets import load_pima
from lamina.layers import Activation, Dense
from lamina.models import Sequential
from lamina.utils import set_random_seed

set_random_seed(7)
X_all, y_all = load_pima()
# Standardize the inputs (the seed leaves preprocessing to the reader).
X_all = (X_all - X_all.mean(0)) / X_all.std(0)
# Hold out the last 168 rows so Step 4 evaluates on data unseen during training.
X, y = X_all[:600], y_all[:600]
X_test, y_test = X_all[600:], y_all[600:]

# Step 1: Define Network -- the seed's three models.
model = Sequential()
model.add(Dense(2))
model.build((None, 8))
print("model 1: Dense(2), built for 8 inputs:", model.output_shape)

model = Sequential()
model.add(Dense(5, input_dim=2))
model.add(Dense(1))
print("model 2: 2 inputs, 5 hidden, 1 output:", model.count_params(), "parameters")

model = Sequential()
model.add(Dense(5, input_dim=2))
model.add(Activation("relu"))
model.add(Dense(1))
model.add(Activation("sigmoid"))
print("model 3: with Activation layers:", [type(layer).__name__ for layer in model.layers])

# The same structure sized for Pima's 8 inputs.
model = Sequential()
model.add(Dense(12, input_dim=8))
model.add(Activation("relu"))
model.add(Dense(8))
model.add(Activation("relu"))
model.add(Dense(1))
model.add(Activation("sigmoid"))
model.summary()

# Step 2: Compile Network -- both of the seed's compile calls.
model.compile(optimizer="sgd", loss="mse")
model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])

# Step 3: Fit Network -- with the seed's Keras 1 spelling nb_epoch=.
history = model.fit(X, y, batch_size=10, nb_epoch=100, verbose=0)
final_loss, final_acc = history.history["loss"][-1], history.history["accuracy"][-1]
print(
    "Step 3 fit: history keys",
    sorted(history.history),
    f"final loss {final_loss:.4f} accuracy {final_acc:.4f}",
)

# Step 4: Evaluate Network -- on rows unseen during training.
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print(f"Step 4 evaluate on {len(X_test)} held-out rows: loss {loss:.4f} accuracy {accuracy:.4f}")

# Step 5: Make Predictions.
x = X_test
predictions = model.predict(x, verbose=0)
print("Step 5 predict: shape", predictions.shape, "first", [f"{p:.3f}" for p in predictions[:3, 0]])
# Binary classification: round probabilities to 0 or 1.
rounded = np.round(predictions)
print("rounded classes:", rounded[:10, 0].astype(int).tolist())
# Multiclass: argmax over softmax outputs (shown on a 2-unit softmax model).
softmax_model = Sequential(
    [Dense(12, input_dim=8, activation="relu"), Dense(2, activation="softmax")]
)
softmax_model.compile(
    optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
softmax_model.fit(X, y, batch_size=10, epochs=20, verbose=0)
classes = np.argmax(softmax_model.predict(x, verbose=0), axis=-1)
print(
    "argmax classes:",
    classes[:10].tolist(),
    f"held-out accuracy {float((classes == y_test).mean()):.3f}",
)
