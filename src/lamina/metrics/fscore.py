"""F-scores (``FBetaScore``, ``F1Score``) and the shape-built metric base they share with
``R2Score``: their state holds one value per class, known once the data's shape is.

Inside ``compile`` the class count comes from the model's output shape; used eagerly, from the
first ``update_state`` call (as Keras builds them).

>>> import numpy as np
>>> from lamina import metrics
>>> m = metrics.F1Score(average="macro", threshold=0.5)
>>> m.update_state(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.6, 0.7]]))
>>> round(float(m.result()), 4)
0.8333
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.losses import EPSILON
from lamina.metrics.base import Metric


class ShapedMetric(Metric):
    """A metric whose state size is the last dimension of ``y_pred`` (2D inputs only)."""

    _num_classes: int | None = None

    def build_for_shapes(self, y_true_shape, y_pred_shape) -> None:
        """Sizes the state for targets/predictions of these shapes (batch dimension first)."""
        y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). "
                f"Received input shapes: y_pred.shape={y_pred_shape} and "
                f"y_true.shape={y_true_shape}."
            )
        if y_pred_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim), "
                f"with output_dim fully defined (not None). Received: y_pred.shape={y_pred_shape}."
            )
        if self._num_classes != int(y_pred_shape[-1]):
            self._num_classes = int(y_pred_shape[-1])
            self._state = None

    def _classes(self) -> int:
        if self._num_classes is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} sizes its state from the data: call "
                "update_state(y_true, y_pred) first, or use it in compile(metrics=[...])."
            )
        return self._num_classes

    def update(self, state, y_true, y_pred, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.build_for_shapes(jnp.shape(y_true), jnp.shape(y_pred))
        self._state = self.update(self._get_state(), y_true, y_pred, sample_weight)

    def reset_state(self):
        self._state = None if self._num_classes is None else self.init()


class FBetaScore(ShapedMetric):
    """F-beta score, as ``keras.metrics.FBetaScore``.

    Args:
        average: ``None`` (one score per class), ``'micro'``, ``'macro'`` or ``'weighted'``.
        beta: float > 0, the weight of recall.
        threshold: float in (0, 1]; ``None`` counts each row's maximum as the prediction.
        name: the metric's name.
        dtype: the metric's dtype.

    Raises:
        ValueError: an invalid ``average``, ``beta`` or ``threshold``.

    >>> FBetaScore(beta=2.0).get_config()["beta"]
    2.0
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: "
                f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average}"
            )
        if not isinstance(beta, float):
            raise ValueError(
                "Invalid `beta` argument value. It should be a Python float. "
                f"Received: beta={beta} of type '{type(beta)}'"
            )
        if beta <= 0.0:
            raise ValueError(
                f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}"
            )
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    "Invalid `threshold` argument value. It should be a Python float. "
                    f"Received: threshold={threshold} of type '{type(threshold)}'"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    "Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                    f"Received: threshold={threshold}"
                )
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0

    def init(self):
        shape = () if self.average == "micro" else (self._classes(),)
        keys = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")
        return {k: jnp.zeros(shape, jnp.float32) for k in keys}

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true = jnp.asarray(y_true).astype(jnp.float32)
        y_pred = jnp.asarray(y_pred).astype(jnp.float32)
        if self.threshold is None:
            top = jnp.max(y_pred, axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (jnp.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.astype(jnp.float32)
        sw = None if sample_weight is None else jnp.asarray(sample_weight, jnp.float32)

        def wsum(v):
            if sw is not None:
                v = v * jnp.expand_dims(sw, 1)
            return jnp.sum(v, axis=self.axis)

        return {
            "true_positives": state["true_positives"] + wsum(y_pred * y_true),
            "false_positives": state["false_positives"] + wsum(y_pred * (1 - y_true)),
            "false_negatives": state["false_negatives"] + wsum((1 - y_pred) * y_true),
            "intermediate_weights": state["intermediate_weights"] + wsum(y_true),
        }

    def compute(self, state):
        tp = state["true_positives"]
        precision = tp / (tp + state["false_positives"] + EPSILON)
        recall = tp / (tp + state["false_negatives"] + EPSILON)
        b2 = self.beta**2
        f = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            w = state["intermediate_weights"]
            return jnp.sum(f * w / (jnp.sum(w) + EPSILON))
        if self.average is not None:
            return jnp.mean(f)
        return f

    def get_config(self):
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """F1 score (``FBetaScore`` with ``beta=1``), as ``keras.metrics.F1Score``.

    >>> sorted(F1Score().get_config())
    ['average', 'dtype', 'name', 'threshold']
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
