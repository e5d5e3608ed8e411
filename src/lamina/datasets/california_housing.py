"""California housing prices (``keras.datasets.california_housing``).

Reads ``california_housing.npz`` from Keras's cache (``$KERAS_HOME/datasets``); without it,
returns stand-in rows of the same shapes, dtypes and feature ranges with a one-time
``UserWarning`` saying where to place the real file.

>>> import warnings
>>> from lamina.datasets import california_housing
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = california_housing.load_data(version="small")
>>> x_train.shape, y_train.shape, x_test.shape
((480, 8), (480,), (120, 8))
"""

from __future__ import annotations

from lamina.datasets import _files, _housing, _standin

__all__ = ["load_data"]

# Ranges of the real features: longitude, latitude, housing median age, total rooms,
# total bedrooms, population, households, median income.
_LOW = [-124.35, 32.54, 1, 2, 1, 3, 1, 0.4999]
_HIGH = [-114.31, 41.95, 52, 39320, 6445, 35682, 6082, 15.0001]
_WEIGHTS = [-1.0, -1.0, 0.5, 0.3, 0.2, -0.3, 0.3, 4.0]


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Loads the California housing data set: 20,640 rows of 8 features and the median house
    value in dollars.

    Args:
        version: ``"large"`` (every row) or ``"small"`` (the first 600 rows).
        path: the file name inside Keras's cache folder.
        test_split: the fraction kept for the test set.
        seed: seed of the shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``(n, 8)`` features and ``(n,)`` targets.
    """
    _housing.check_split(test_split)
    data = _housing.read(path)
    if data is None:
        _files.warn_standin(
            "california_housing",
            _files.expected_path(path),
            f"{_files.ORIGIN}california_housing.npz",
        )
        data = _standin.housing(1990, 20640, _LOW, _HIGH, _WEIGHTS, (14999.0, 500001.0), "float32")
    x, y = data
    if version == "small":
        x, y = x[:600], y[:600]
    elif version != "large":
        raise ValueError(
            f"Argument `version` must be one of 'small', 'large'. Received: version={version}"
        )
    return _housing.shuffle_split(x, y, test_split, seed)
