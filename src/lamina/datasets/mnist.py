"""MNIST handwritten digits (``keras.datasets.mnist``).

Reads ``mnist.npz`` from Keras's cache (``$KERAS_HOME/datasets``, ``~/.keras/datasets`` by
default); without it, returns learnable stand-in digits of the same shapes and dtypes, with a
one-time ``UserWarning`` saying where to place the real file (Lamina never downloads).

>>> import warnings
>>> from lamina.datasets import mnist
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = mnist.load_data()
>>> x_train.shape, x_train.dtype, y_train.shape, x_test.shape
((60000, 28, 28), dtype('uint8'), (60000,), (10000, 28, 28))
"""

from __future__ import annotations

import numpy as np

from lamina.datasets import _files, _standin

__all__ = ["load_data"]


def load_data(path="mnist.npz"):
    """Loads MNIST: 60,000 training and 10,000 test 28x28 grayscale digit images.

    Args:
        path: the file name inside Keras's cache folder (``~/.keras/datasets``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``uint8`` images ``(n, 28, 28)`` with
        values 0-255 and ``uint8`` labels ``(n,)`` in 0-9.
    """
    found = _files.find(path)
    if found is not None:
        with np.load(found, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    _files.warn_standin("mnist", _files.expected_path(path), f"{_files.ORIGIN}mnist.npz")
    train, test = _standin.images(1998, [60000, 10000], (28, 28), 10)
    return train, test
