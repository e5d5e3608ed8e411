"""Fashion-MNIST clothing images (``keras.datasets.fashion_mnist``).

Reads Keras's four cached ``.gz`` files from ``$KERAS_HOME/datasets/fashion-mnist``; without
them, returns learnable stand-in images of the same shapes and dtypes, with a one-time
``UserWarning`` saying where to place the real files.

>>> import warnings
>>> from lamina.datasets import fashion_mnist
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
>>> x_train.shape, y_test.shape, int(y_train.max())
((60000, 28, 28), (10000,), 9)
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from lamina.datasets import _files, _standin

__all__ = ["load_data"]

_FILES = [
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
]


def _read(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """Loads Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``uint8`` images ``(n, 28, 28)`` and
        ``uint8`` labels ``(n,)`` in 0-9 (T-shirt/top, Trouser, ..., Ankle boot).
    """
    subdir = os.path.join("datasets", "fashion-mnist")
    paths = [_files.find(name, subdir) for name in _FILES]
    if all(p is not None for p in paths):
        y_train = _read(paths[0], 8)
        x_train = _read(paths[1], 16).reshape(len(y_train), 28, 28)
        y_test = _read(paths[2], 8)
        x_test = _read(paths[3], 16).reshape(len(y_test), 28, 28)
        return (x_train, y_train), (x_test, y_test)
    folder = os.path.dirname(_files.expected_path(_FILES[0], subdir))
    _files.warn_standin(
        "fashion_mnist", f"{folder}{os.sep} ({', '.join(_FILES)})", f"{_files.ORIGIN}<file>"
    )
    train, test = _standin.images(2017, [60000, 10000], (28, 28), 10)
    return train, test
