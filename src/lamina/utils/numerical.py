"""NumPy helpers with Keras's names and behaviour."""

from __future__ import annotations

import numpy as np


def to_categorical(x, num_classes=None):
    """One-hot encodes integer class labels, as ``keras.utils.to_categorical``.

    >>> from lamina.utils import to_categorical
    >>> to_categorical([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(
            f"to_categorical expects integer class labels; received {x.dtype.name} values. Map "
            f"string labels to integers first, e.g. np.unique(labels, return_inverse=True)[1]."
        )
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
            raise ValueError("to_categorical expects whole-number class labels.")
    x = x.astype("int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = input_shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical expects labels >= 0; received {int(x.min())}.")
    if not num_classes:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {int(x.max())} is out of range for num_classes={num_classes}."
        )
    out = np.zeros((x.shape[0], num_classes))  # float64, as Keras 3 returns for NumPy labels
    out[np.arange(x.shape[0]), x] = 1.0
    return out.reshape(*input_shape, num_classes)


def normalize(x, axis=-1, order=2):
    """Scales ``x`` to unit ``order``-norm along ``axis`` (``keras.utils.normalize``).

    NumPy input gives NumPy output; a tensor (a traced one inside a loss or a layer too)
    gives a tensor, from ``ops.nn.normalize``, as Keras's.

    >>> import numpy as np
    >>> normalize(np.array([[3.0, 4.0]]), axis=1).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    if not isinstance(x, np.ndarray | list | tuple | int | float):
        from lamina import ops

        return ops.nn.normalize(x, axis=axis, order=order)
    x = np.asarray(x, dtype="float32")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
