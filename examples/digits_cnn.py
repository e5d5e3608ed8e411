"""A small convolutional classifier on scikit-learn's 8x8 handwritten digits.

Conv2D -> MaxPooling2D -> Conv2D -> GlobalAveragePooling2D -> Dense, trained with Adam; the
pixels (0..16) are scaled inside the model by a ``Rescaling`` layer.  Without scikit-learn the
script falls back to a generated set of noisy 8x8 glyphs, so it always runs.

Run:  python examples/digits_cnn.py
"""

import numpy as np

from lamina.layers import (
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    Rescaling,
    SpatialDropout2D,
)
from lamina.models import Sequential
from lamina.utils import set_random_seed


def load_digits():
    """(x, y): images (n, 8, 8, 1) with values 0..16, labels 0..9."""
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        return generated_digits()
    data = sk_load()
    return data.images.astype("float32")[..., None], data.target.astype("int32"), "sklearn digits"


def generated_digits(n=1800, seed=0):
    """Ten random 8x8 glyphs, each sample shifted by up to one pixel and noised."""
    rng = np.random.default_rng(seed)
    glyphs = (rng.random((10, 8, 8)) > 0.6) * 16.0
    y = rng.integers(0, 10, n)
    shifts = rng.integers(-1, 2, (n, 2))
    x = np.stack([np.roll(glyphs[c], tuple(s), axis=(0, 1)) for c, s in zip(y, shifts)])
    x = np.clip(x + rng.normal(0, 3.0, x.shape), 0, 16)
    return x.astype("float32")[..., None], y.astype("int32"), "generated glyphs"


def main():
    set_random_seed(0)
    x, y, source = load_digits()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 5
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]

    model = Sequential(
        [
            Input((8, 8, 1)),
            Rescaling(1 / 16.0),
            Conv2D(16, 3, padding="same", activation="relu"),
            MaxPooling2D(),
            SpatialDropout2D(0.1),
            Conv2D(32, 3, padding="same", activation="relu"),
            MaxPooling2D(),
            Flatten(),
            Dropout(0.2),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    model.fit(x_train, y_train, epochs=30, batch_size=32, validation_split=0.1, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"{source}: {len(x_train)} training images, {len(x_test)} test images")
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
