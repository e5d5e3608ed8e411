"""Keras 1/2's ``keras.utils.np_utils``: ``to_categorical`` (with ``nb_classes``/``dtype``),
``normalize``, and Keras 1's ``probas_to_classes``/``categorical_probas_to_classes``.

>>> from lamina.utils import np_utils
>>> np_utils.to_categorical([0, 2], nb_classes=3).tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.utils.numerical import normalize
from lamina.utils.numerical import to_categorical as _to_categorical

__all__ = ["categorical_probas_to_classes", "normalize", "probas_to_classes", "to_categorical"]


def to_categorical(y, num_classes=None, dtype="float32", **kwargs):
    """One-hot encodes integer labels, as Keras 2's ``np_utils.to_categorical``.

    Args:
        y: integer class labels (any shape; a trailing axis of size 1 is dropped).
        num_classes: number of classes; the largest label + 1 when omitted.
        dtype: the output's dtype (Keras 2.2's argument).
        **kwargs: ``nb_classes``, Keras 1's spelling of ``num_classes``.

    Returns:
        An array of shape ``y.shape + (num_classes,)``.

    Raises:
        TypeError: non-integer labels or an unknown keyword.
        ValueError: a label out of range.

    >>> to_categorical([[1], [0]], 2, dtype="int32").tolist()
    [[0, 1], [1, 0]]
    """
    if "nb_classes" in kwargs:
        warnings.warn(
            "to_categorical(nb_classes=...) is the Keras 1 spelling; use num_classes=...",
            UserWarning,
            stacklevel=2,
        )
        nb = kwargs.pop("nb_classes")
        num_classes = nb if num_classes is None else num_classes
    if kwargs:
        raise TypeError(f"to_categorical() got unexpected keyword(s): {sorted(kwargs)}.")
    return _to_categorical(y, num_classes).astype(dtype)


def probas_to_classes(y_pred):
    """Keras 1: argmax of multi-column probabilities, or ``> 0.5`` of a single column.

    >>> probas_to_classes(np.array([[0.2, 0.8], [0.9, 0.1]])).tolist()
    [1, 0]
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim > 1 and y_pred.shape[1] > 1:
        return categorical_probas_to_classes(y_pred)
    return np.array([1 if p > 0.5 else 0 for p in y_pred.reshape(-1)])


def categorical_probas_to_classes(p):
    """Keras 1: ``np.argmax(p, axis=1)``.

    >>> categorical_probas_to_classes(np.array([[0.1, 0.7, 0.2]])).tolist()
    [1]
    """
    return np.argmax(np.asarray(p), axis=1)
