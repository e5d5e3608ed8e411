"""Keras 2's ``keras.engine.training``: ``Model``, and Keras 1's ``slice_X`` (the Keras 1
``addition_rnn.py`` example splits its data with it)."""

from lamina.models import Model

__all__ = ["Model", "slice_X"]


def slice_X(X, start=None, stop=None):  # noqa: N802, N803 - Keras 1's names
    """Rows ``start:stop`` of an array, or of each array of a list (Keras 1's ``slice_X``);
    ``start`` may instead be a list or array of row indices (``stop`` then unused).

    >>> import numpy as np
    >>> x = np.arange(10).reshape(5, 2)
    >>> slice_X(x, 3).tolist(), [a.shape for a in slice_X([x, x], 0, 2)]
    ([[6, 7], [8, 9]], [(2, 2), (2, 2)])
    >>> slice_X(x, [4, 0]).tolist()
    [[8, 9], [0, 1]]
    """
    if hasattr(start, "__len__"):  # row indices
        rows = start.tolist() if hasattr(start, "tolist") else list(start)
        return [a[rows] for a in X] if isinstance(X, list) else X[rows]
    return [a[start:stop] for a in X] if isinstance(X, list) else X[start:stop]
