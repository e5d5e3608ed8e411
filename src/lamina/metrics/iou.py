"""Intersection-over-union metrics (``IoU``, ``MeanIoU``, ``BinaryIoU``, ``OneHotIoU``,
``OneHotMeanIoU``) over a ``(num_classes, num_classes)`` confusion matrix, as Keras 3.

>>> import numpy as np
>>> from lamina import metrics
>>> m = metrics.MeanIoU(num_classes=2)
>>> m.update_state(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
>>> round(float(m.result()), 4)
0.3333
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.losses import EPSILON
from lamina.metrics.base import Metric


def confusion_matrix(labels, predictions, num_classes, weights=None, dtype=jnp.int32):
    """Rows are the true labels, columns the predictions (``metrics_utils.confusion_matrix``).

    >>> confusion_matrix(jnp.array([1, 0]), jnp.array([1, 1]), 2).tolist()
    [[0, 1], [0, 1]]
    """
    labels = jnp.asarray(labels).astype(jnp.int32)
    predictions = jnp.asarray(predictions).astype(jnp.int32)
    w = jnp.ones(labels.shape, dtype) if weights is None else jnp.asarray(weights).astype(dtype)
    flat = labels * num_classes + predictions
    cm = jax.ops.segment_sum(w, flat, num_segments=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes)


def _int_dtype(dtype):
    return jnp.dtype("int32" if dtype in (None, "int") else dtype)


class _IoUBase(Metric):
    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis

    def init(self):
        n = self.num_classes
        return {"total_confusion_matrix": jnp.zeros((n, n), _int_dtype(self.dtype))}

    def _prepare(self, y_true, y_pred):
        return y_true, y_pred

    def update(self, state, y_true, y_pred, sample_weight=None):
        dt = _int_dtype(self.dtype)
        y_true, y_pred = self._prepare(jnp.asarray(y_true), jnp.asarray(y_pred))
        if not self.sparse_y_true:
            y_true = jnp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(y_pred, axis=self.axis)
        y_true = jnp.reshape(y_true.astype(dt), (-1,))
        y_pred = jnp.reshape(y_pred.astype(dt), (-1,))
        if sample_weight is None:
            sw = jnp.ones_like(y_true)
        else:
            sw = jnp.reshape(jnp.asarray(sample_weight).astype(dt), (-1,))
            sw = jnp.broadcast_to(sw, y_true.shape)
        n = self.num_classes
        ok = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            ok = ok & (y_true != self.ignore_class)
        y_true = jnp.where(ok, y_true, 0)
        y_pred = jnp.where(ok, y_pred, 0)
        sw = jnp.where(ok, sw, 0)
        cm = confusion_matrix(y_true, y_pred, n, sw, dt)
        key = "total_confusion_matrix"
        return {key: state[key] + cm}


class IoU(_IoUBase):
    """Mean IoU over ``target_class_ids`` (``keras.metrics.IoU``).

    Args:
        num_classes: the number of classes (the confusion matrix is ``n x n``).
        target_class_ids: the classes averaged.
        name: the metric's name.
        dtype: the confusion matrix's dtype (``'int32'`` by default, as Keras's ``'int'``).
        ignore_class: a label left out of the counts.
        sparse_y_true: whether labels are class ids (else one-hot, argmaxed on ``axis``).
        sparse_y_pred: whether predictions are class ids (else scores, argmaxed).
        axis: the class axis of one-hot inputs.

    Raises:
        ValueError: a target class id outside ``[0, num_classes)``.

    >>> IoU(3, [0, 2]).get_config()["target_class_ids"]
    [0, 2]
    """

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(
            num_classes=num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"Target class id {max(target_class_ids)} is out of range, which is "
                f"[0, {num_classes})."
            )
        self.target_class_ids = list(target_class_ids)

    def compute(self, state):
        cm = state["total_confusion_matrix"].astype(jnp.float32)
        tp_all = jnp.diagonal(cm)
        denominator = jnp.sum(cm, axis=0) + jnp.sum(cm, axis=1) - tp_all
        ids = jnp.asarray(self.target_class_ids, jnp.int32)
        tp, denominator = tp_all[ids], denominator[ids]
        valid = denominator > 1e-9
        iou = jnp.where(valid, tp / (denominator + EPSILON), 0.0)
        return jnp.sum(iou, axis=self.axis) / (jnp.sum(valid.astype(jnp.float32)) + EPSILON)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class BinaryIoU(IoU):
    """IoU of thresholded binary predictions (``keras.metrics.BinaryIoU``).

    >>> BinaryIoU(threshold=0.3).get_config()["threshold"]
    0.3
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def _prepare(self, y_true, y_pred):
        return y_true, (y_pred.astype(jnp.float32) >= self.threshold).astype(jnp.int32)

    def get_config(self):
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


class MeanIoU(IoU):
    """IoU averaged over all classes (``keras.metrics.MeanIoU``).

    >>> MeanIoU(num_classes=3).target_class_ids
    [0, 1, 2]
    """

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(
            num_classes=num_classes,
            target_class_ids=list(range(num_classes)),
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class OneHotIoU(IoU):
    """IoU over one-hot labels and class scores (``keras.metrics.OneHotIoU``).

    >>> OneHotIoU(3, [1]).sparse_y_true
    False
    """

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_pred=False,
        axis=-1,
    ):
        super().__init__(
            num_classes=num_classes,
            target_class_ids=target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class OneHotMeanIoU(MeanIoU):
    """Mean IoU over one-hot labels and class scores (``keras.metrics.OneHotMeanIoU``).

    >>> OneHotMeanIoU(2).num_classes
    2
    """

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(
            num_classes=num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }
