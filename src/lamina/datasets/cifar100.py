"""CIFAR-100 small colour images (``keras.datasets.cifar100``).

Reads Keras's cached copy (``$KERAS_HOME/datasets/cifar-100-python-target`` or the archive
Keras downloaded next to it); without it, returns learnable stand-in images of the same
shapes and dtypes, with a one-time ``UserWarning`` saying where to place the real archive.

>>> import warnings
>>> from lamina.datasets import cifar100
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode="coarse")
>>> x_test.shape, y_test.shape, int(y_train.max())
((10000, 32, 32, 3), (10000, 1), 19)
"""

from __future__ import annotations

import os

from lamina.datasets import _cifar, _files, _standin

__all__ = ["load_data"]

_DIR, _INNER = "cifar-100-python-target", "cifar-100-python"
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def load_data(label_mode="fine"):
    """Loads CIFAR-100: 50,000 training and 10,000 test 32x32 colour images.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 super-classes).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``uint8`` images ``(n, 32, 32, 3)`` and
        integer labels ``(n, 1)``.

    Raises:
        ValueError: for another ``label_mode``.
    """
    if label_mode not in ["fine", "coarse"]:
        raise ValueError(
            f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.'
        )
    found = _cifar.load(_DIR, _INNER, ["train"], "test", f"{label_mode}_labels", "int64")
    if found is not None:
        return found
    place = os.path.join(_files.cache_dirs()[0], f"{_DIR}_archive")
    _files.warn_standin("cifar100", f"{place} (the .tar.gz, renamed)", _ORIGIN)
    (x_train, y_train), (x_test, y_test) = _standin.images(
        2009_100, [50000, 10000], (32, 32, 3), 100, kind="pattern"
    )
    if label_mode == "coarse":  # stand-in super-classes: five fine classes each
        y_train, y_test = y_train // 5, y_test // 5
    return _cifar.finish(x_train, y_train, x_test, y_test, "int64")
