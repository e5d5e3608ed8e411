"""A Keras 1 era convolutional digit classifier, written as the Keras 1 MNIST example was.

Theano ordering (``dim_ordering='th'``: channels first), ``Convolution2D(nb_filter, nb_row,
nb_col, border_mode=...)``, ``np_utils.to_categorical``, ``fit(..., nb_epoch=...)`` and an SGD
with Keras 2's ``lr``/``decay``/``nesterov``: Lamina translates each spelling as Keras 2 did
(with a warning naming the modern spelling).  The data are scikit-learn's 8x8 digits (no
download; generated noisy glyphs when scikit-learn is missing).

Expected: test accuracy of at least 0.9 after 6 epochs (about 0.97 with this seed).

Run:  python examples/keras2/mnist_convolution2d.py
"""

import warnings

import numpy as np

from lamina.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D
from lamina.models import Sequential
from lamina.optimizers import SGD
from lamina.utils import np_utils, set_random_seed

warnings.filterwarnings("ignore", message=".*Keras 1 spelling")  # the point of the example

batch_size = 32
nb_classes = 10
nb_epoch = 6
img_rows, img_cols = 8, 8
nb_filters = 16
nb_pool = 2
nb_conv = 3


def load_data(seed=0):
    """(X_train, y_train), (X_test, y_test): 8x8 grey images (values 0..16) and labels."""
    try:
        from sklearn.datasets import load_digits

        digits = load_digits()
        X, y = digits.images.astype("float32"), digits.target
    except ImportError:  # noisy copies of ten random glyphs
        rng = np.random.default_rng(seed)
        glyphs = rng.random((10, 8, 8)) > 0.6
        y = rng.integers(0, 10, 1800)
        X = (glyphs[y] * 12 + rng.normal(0, 3, (1800, 8, 8))).clip(0, 16).astype("float32")
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], y[order]
    split = int(0.8 * len(X))
    return (X[:split], y[:split]), (X[split:], y[split:])


set_random_seed(1337)
(X_train, y_train), (X_test, y_test) = load_data()
X_train = X_train.reshape(X_train.shape[0], 1, img_rows, img_cols) / 16.0
X_test = X_test.reshape(X_test.shape[0], 1, img_rows, img_cols) / 16.0
print("X_train shape:", X_train.shape)
print(X_train.shape[0], "train samples")
print(X_test.shape[0], "test samples")

Y_train = np_utils.to_categorical(y_train, nb_classes)
Y_test = np_utils.to_categorical(y_test, nb_classes)

model = Sequential()
model.add(Convolution2D(nb_filters, nb_conv, nb_conv, border_mode="same",
                        input_shape=(1, img_rows, img_cols), dim_ordering="th"))
model.add(Activation("relu"))
model.add(Convolution2D(nb_filters, nb_conv, nb_conv, dim_ordering="th"))
model.add(Activation("relu"))
model.add(MaxPooling2D(pool_size=(nb_pool, nb_pool), dim_ordering="th"))
model.add(Dropout(p=0.25))
model.add(Flatten())
model.add(Dense(output_dim=128, init="he_normal"))
model.add(Activation("relu"))
model.add(Dropout(0.5))
model.add(Dense(nb_classes))
model.add(Activation("softmax"))

sgd = SGD(lr=0.05, decay=1e-4, momentum=0.9, nesterov=True)
model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])

model.fit(X_train, Y_train, batch_size=batch_size, nb_epoch=nb_epoch, verbose=2,
          validation_data=(X_test, Y_test))
score = model.evaluate(X_test, Y_test, verbose=0)
print("Test score:", score[0])
print("Test accuracy:", score[1])
assert score[1] >= 0.9, f"expected a test accuracy of at least 0.9, got {score[1]:.3f}"
