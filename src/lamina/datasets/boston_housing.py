"""Boston housing prices (``keras.datasets.boston_housing``).

Reads ``boston_housing.npz`` from Keras's cache (``$KERAS_HOME/datasets``); without it,
returns stand-in rows of the same shapes, dtypes and feature ranges (prices a fixed rule of
the features plus noise) with a one-time ``UserWarning`` saying where to place the real file.

>>> import warnings
>>> from lamina.datasets import boston_housing
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
>>> x_train.shape, y_train.shape, x_test.shape, x_train.dtype
((404, 13), (404,), (102, 13), dtype('float64'))
"""

from __future__ import annotations

from lamina.datasets import _files, _housing, _standin

__all__ = ["load_data"]

# Feature ranges of the real table (CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX,
# PTRATIO, B, LSTAT) and the signs of their usual effect on the price.
_LOW = [0.006, 0, 0.46, 0, 0.385, 3.56, 2.9, 1.13, 1, 187, 12.6, 0.32, 1.73]
_HIGH = [89.0, 100, 27.7, 1, 0.871, 8.78, 100, 12.1, 24, 711, 22, 396.9, 38.0]
_WEIGHTS = [-1.0, 0.3, -0.3, 0.2, -1.0, 3.0, -0.2, -1.0, 0.5, -0.8, -1.5, 0.5, -3.0]


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Loads the Boston housing data set: 506 rows of 13 features, prices in k$.

    Args:
        path: the file name inside Keras's cache folder.
        test_split: the fraction kept for the test set.
        seed: seed of the shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``float64`` arrays ``(n, 13)`` and
        ``(n,)``.
    """
    _housing.check_split(test_split)
    data = _housing.read(path)
    if data is None:
        _files.warn_standin(
            "boston_housing", _files.expected_path(path), f"{_files.ORIGIN}boston_housing.npz"
        )
        data = _standin.housing(1978, 506, _LOW, _HIGH, _WEIGHTS, (5.0, 50.0), "float64")
    return _housing.shuffle_split(*data, test_split, seed)
