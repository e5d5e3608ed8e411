"""Accuracy metrics (Keras 3 formulas, pure jnp)."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.metrics.base import MeanMetricWrapper


def _float(x):
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def accuracy(y_true, y_pred):
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(jnp.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = (y_pred > threshold).astype(y_true.dtype)
    return (y_true == y_pred).astype(jnp.float32)


def _argmax_matches(y_true, y_pred, squeeze_true):
    y_true_org_shape = y_true.shape
    reshape = False
    if squeeze_true:
        y_true = jnp.squeeze(y_true, -1)
        reshape = True
    y_pred = jnp.argmax(y_pred, axis=-1).astype(y_true.dtype)
    matches = (y_true == y_pred).astype(jnp.float32)
    if reshape:
        matches = jnp.reshape(matches, y_true_org_shape)
    return matches


def categorical_accuracy(y_true, y_pred):
    y_pred = _float(y_pred)
    y_true = jnp.argmax(jnp.asarray(y_true), axis=-1).astype(y_pred.dtype)
    return _argmax_matches(y_true, y_pred, y_true.ndim == y_pred.ndim)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    squeeze = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    matches = _argmax_matches(y_true, y_pred, squeeze)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = jnp.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    at_label = jnp.take_along_axis(predictions, jnp.expand_dims(targets, -1), axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(predictions > at_label, axis=-1)
    return rank <= k


def _top_k(y_true, y_pred, k):
    org_shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = jnp.reshape(y_pred, (-1, y_pred.shape[-1]))
    reshape = y_true.ndim > 1
    if reshape:
        y_true = jnp.reshape(y_true, (-1,))
    matches = _in_top_k(y_true.astype(jnp.int32), y_pred, k).astype(jnp.float32)
    return jnp.reshape(matches, org_shape) if reshape else matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = _float(y_pred)
    y_true = jnp.argmax(jnp.asarray(y_true).astype(y_pred.dtype), axis=-1)
    return _top_k(y_true, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label ``y_true`` is among the top ``k`` predictions.

    Args:
        y_true: integer labels, ``(batch,)`` (or with a trailing 1).
        y_pred: scores ``(batch, classes)``; with ``from_sorted_ids=True``, the ids of the
            top ``N`` classes, best first, ``(batch, N)`` (only the first ``k`` are read).
        k: how many top predictions count.
        from_sorted_ids: whether ``y_pred`` holds sorted class ids rather than scores.

    >>> import numpy as np
    >>> sparse_top_k_categorical_accuracy(
    ...     np.array([3, 1]), np.array([[3, 0, 2], [2, 0, 1]]), k=2, from_sorted_ids=True
    ... ).tolist()
    [1.0, 0.0]
    """
    if not from_sorted_ids:
        return _top_k(jnp.asarray(y_true).astype(jnp.int32), _float(y_pred), k)
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)  # Keras compares in y_pred's dtype
    org_shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = jnp.reshape(y_pred, (-1, y_pred.shape[-1]))
    y_true = jnp.reshape(y_true, (-1,))
    # ``any``: an id listed twice among the first k counts once, as in Keras.
    matches = jnp.any(y_true[:, None] == y_pred[:, :k], axis=1).astype(jnp.float32)
    return jnp.reshape(matches, org_shape)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often integer labels are among the top ``k`` predictions; with
    ``from_sorted_ids=True`` the predictions are the top class ids, best first (Keras 3.9+).

    >>> import numpy as np
    >>> m = SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True)
    >>> m.update_state(np.array([2, 0]), np.array([[2, 1], [1, 0]]))
    >>> float(m.result())
    0.5
    """

    def __init__(
        self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False
    ):
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:  # Keras writes it only when set
            config["from_sorted_ids"] = True
        return config
