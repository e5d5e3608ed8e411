"""One rate at a constraint on another, over ``num_thresholds`` thresholds (Keras 3's
``SensitivityAtSpecificity``, ``SpecificityAtSensitivity``, ``PrecisionAtRecall``,
``RecallAtPrecision``).

>>> import numpy as np
>>> from lamina import metrics
>>> m = metrics.PrecisionAtRecall(0.5)
>>> m.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8]))
>>> float(m.result())
1.0
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.metrics.base import divide_no_nan
from lamina.metrics.confusion import FN, FP, TN, TP, _Confusion


class _AtThreshold(_Confusion):
    _conds = (TP, FP, TN, FN)
    _value_name = ""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(
                f"Argument `{self._value_name}` must be in the range [0, 1]. "
                f"Received: {self._value_name}={value}"
            )
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. Received: "
                f"num_thresholds={num_thresholds}"
            )
        super().__init__(name=name, dtype=dtype)
        setattr(self, self._value_name, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        self.top_k = None
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0, *inner, 1.0], True

    def _rates(self, s):
        return {
            "sensitivity": divide_no_nan(s[TP], s[TP] + s[FN]),
            "specificity": divide_no_nan(s[TN], s[TN] + s[FP]),
            "precision": divide_no_nan(s[TP], s[TP] + s[FP]),
        }

    _constrained = _dependent = ""

    def compute(self, state):
        rates = self._rates(state)
        feasible = rates[self._constrained] >= self.value
        return jnp.max(jnp.where(feasible, rates[self._dependent], 0.0), initial=0.0)

    def get_config(self):
        return {
            **super().get_config(),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self._value_name: self.value,
        }


class SensitivityAtSpecificity(_AtThreshold):
    """Best sensitivity (recall) with specificity >= ``specificity``.

    >>> SensitivityAtSpecificity(0.8).get_config()["specificity"]
    0.8
    """

    _value_name, _constrained, _dependent = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtThreshold):
    """Best specificity with sensitivity >= ``sensitivity``.

    >>> SpecificityAtSensitivity(0.5, num_thresholds=1).thresholds
    [0.5]
    """

    _value_name, _constrained, _dependent = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtThreshold):
    """Best precision with recall >= ``recall``.

    >>> PrecisionAtRecall(0.5).get_config()["recall"]
    0.5
    """

    _value_name, _constrained, _dependent = "recall", "sensitivity", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtThreshold):
    """Best recall with precision >= ``precision``.

    >>> RecallAtPrecision(0.9).name.startswith("recall_at_precision")
    True
    """

    _value_name, _constrained, _dependent = "precision", "precision", "sensitivity"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
