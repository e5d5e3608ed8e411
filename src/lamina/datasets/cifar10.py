"""CIFAR-10 small colour images (``keras.datasets.cifar10``).

Reads Keras's cached copy (``$KERAS_HOME/datasets/cifar-10-batches-py-target`` or the archive
Keras downloaded next to it); without it, returns learnable stand-in images of the same
shapes and dtypes, with a one-time ``UserWarning`` saying where to place the real archive.

>>> import warnings
>>> from lamina.datasets import cifar10
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = cifar10.load_data()
>>> x_train.shape, x_train.dtype, y_train.shape, y_train.dtype
((50000, 32, 32, 3), dtype('uint8'), (50000, 1), dtype('uint8'))
"""

from __future__ import annotations

import os

from lamina.datasets import _cifar, _files, _standin

__all__ = ["load_data"]

_DIR, _INNER = "cifar-10-batches-py-target", "cifar-10-batches-py"
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def load_data():
    """Loads CIFAR-10: 50,000 training and 10,000 test 32x32 colour images, 10 classes.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``uint8`` images ``(n, 32, 32, 3)``
        (``(n, 3, 32, 32)`` with ``image_data_format() == "channels_first"``) and ``uint8``
        labels ``(n, 1)`` in 0-9.
    """
    names = [f"data_batch_{i}" for i in range(1, 6)]
    found = _cifar.load(_DIR, _INNER, names, "test_batch", "labels", "uint8")
    if found is not None:
        return found
    place = os.path.join(_files.cache_dirs()[0], f"{_DIR}_archive")
    _files.warn_standin("cifar10", f"{place} (the .tar.gz, renamed)", _ORIGIN)
    (x_train, y_train), (x_test, y_test) = _standin.images(
        2009, [50000, 10000], (32, 32, 3), 10, kind="pattern"
    )
    return _cifar.finish(x_train, y_train, x_test, y_test, "uint8")
