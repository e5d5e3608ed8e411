"""Goodness-of-fit metrics: Pearson and concordance correlation (per-sample functions and
their means) and the coefficient of determination ``R2Score``, with Keras 3's formulas.

>>> import numpy as np
>>> from lamina import metrics
>>> y = np.array([[1.0, 2.0, 3.0]])
>>> round(float(metrics.pearson_correlation(y, 2 * y)[0]), 4)
1.0
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.losses import EPSILON, squeeze_or_expand_to_same_rank
from lamina.metrics.base import MeanMetricWrapper
from lamina.metrics.fscore import ShapedMetric


def _pair(y_true, y_pred):
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(jnp.float32)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson correlation of ``y_true`` and ``y_pred`` along ``axis`` (per sample).

    >>> import numpy as np
    >>> round(float(pearson_correlation(np.array([[1.0, 2.0, 3.0]]), np.array([[3.0, 2.0, 1.0]]))[0]), 4)
    -1.0
    """
    y_true, y_pred = _pair(y_true, y_pred)
    t = y_true - jnp.mean(y_true, axis=axis, keepdims=True)
    p = y_pred - jnp.mean(y_pred, axis=axis, keepdims=True)
    t = t / jnp.std(t, axis=axis, keepdims=True)
    p = p / jnp.std(p, axis=axis, keepdims=True)
    return jnp.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation of ``y_true`` and ``y_pred`` along ``axis`` (per sample),
    with Keras 3's formula.

    >>> import numpy as np
    >>> y = np.array([[1.0, 2.0, 3.0]])
    >>> round(float(concordance_correlation(y, y)[0]), 4)
    1.0
    """
    y_true, y_pred = _pair(y_true, y_pred)
    t_mean = jnp.mean(y_true, axis=axis, keepdims=True)
    p_mean = jnp.mean(y_pred, axis=axis, keepdims=True)
    t_var = jnp.var(y_true - t_mean, axis=axis, keepdims=True)
    p_var = jnp.var(y_pred - p_mean, axis=axis, keepdims=True)
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = t_var + p_var + jnp.square(t_mean - p_mean)
    return jnp.mean(2 * covar / (norm + EPSILON), axis=axis)


class _AxisWrapper(MeanMetricWrapper):
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class PearsonCorrelation(_AxisWrapper):
    """Mean Pearson correlation over samples (``keras.metrics.PearsonCorrelation``).

    >>> PearsonCorrelation().name
    'pearson_correlation'
    """

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(_AxisWrapper):
    """Mean concordance correlation over samples (``keras.metrics.ConcordanceCorrelation``).

    >>> ConcordanceCorrelation(axis=1).get_config()["axis"]
    1
    """

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class R2Score(ShapedMetric):
    """Coefficient of determination, as ``keras.metrics.R2Score``.

    Args:
        class_aggregation: ``'uniform_average'``, ``'variance_weighted_average'`` or ``None``
            (one score per output column).
        num_regressors: > 0 gives the adjusted R2 score.
        name: the metric's name.
        dtype: the metric's dtype.

    Raises:
        ValueError: an invalid ``class_aggregation`` or a negative ``num_regressors``.

    >>> import numpy as np
    >>> m = R2Score()
    >>> m.update_state(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]]))
    >>> round(float(m.result()), 4)
    0.5
    """

    def __init__(
        self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None
    ):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(
                f"Invalid value for argument `class_aggregation`. Expected one of {valid}. "
                f"Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors

    def build_for_shapes(self, y_true_shape, y_pred_shape) -> None:
        # Keras builds from the shapes after its squeeze/expand rule.
        t, p = squeeze_or_expand_to_same_rank(
            jnp.zeros(tuple(d or 1 for d in y_true_shape)),
            jnp.zeros(tuple(d or 1 for d in y_pred_shape)),
        )
        super().build_for_shapes(t.shape, p.shape)

    def init(self):
        n = self._classes()
        keys = ("squared_sum", "sum", "residual", "count")
        state = {k: jnp.zeros((n,), jnp.float32) for k in keys}
        state["num_samples"] = jnp.zeros((), jnp.float32)
        return state

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true = jnp.asarray(y_true).astype(jnp.float32)
        y_pred = jnp.asarray(y_pred).astype(jnp.float32)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if sample_weight is None:
            sw = jnp.ones_like(y_true)
            n = jnp.asarray(y_true.size, jnp.float32)
        else:
            sw = jnp.asarray(sample_weight, jnp.float32)
            if sw.ndim == 1:
                sw = jnp.expand_dims(sw, 1)
            sw = jnp.broadcast_to(sw, y_true.shape)
            n = jnp.sum(sw != 0).astype(jnp.float32)  # rows weighted 0 (padding) not counted
        weighted = y_true * sw
        return {
            "sum": state["sum"] + jnp.sum(weighted, axis=0),
            "squared_sum": state["squared_sum"] + jnp.sum(y_true * weighted, axis=0),
            "residual": state["residual"] + jnp.sum((y_true - y_pred) ** 2 * sw, axis=0),
            "count": state["count"] + jnp.sum(sw, axis=0),
            "num_samples": state["num_samples"] + n,
        }

    def compute(self, state):
        mean = state["sum"] / state["count"]
        total = state["squared_sum"] - state["sum"] * mean
        raw = 1 - state["residual"] / total
        raw = jnp.where(jnp.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = jnp.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = jnp.sum(total * raw) / jnp.sum(total)
        else:
            r2 = raw
        if self.num_regressors:
            n, p = state["num_samples"], float(self.num_regressors)
            adjusted = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p - 1.0)
            r2 = jnp.where(p < n - 1.0, adjusted, r2)  # Keras falls back to the plain score
        return r2

    def get_config(self):
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
