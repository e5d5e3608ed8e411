"""Confusion-matrix metrics: TP/FP/TN/FN counts, Precision, Recall, AUC (Keras 3 semantics)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.losses import EPSILON, squeeze_or_expand_to_same_rank
from lamina.metrics.base import Metric, divide_no_nan

NEG_INF = -1e10
TP, FP, TN, FN = "true_positives", "false_positives", "true_negatives", "false_negatives"


def _to_list(x):
    return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        bad = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _broadcast_like(w, shape):
    if w.ndim < len(shape):
        w = jnp.reshape(w, w.shape + (1,) * (len(shape) - w.ndim))
    return jnp.broadcast_to(w, shape)


def _filter_top_k(x, k):
    _, idx = jax.lax.top_k(x, k)
    mask = jnp.sum(jax.nn.one_hot(idx, x.shape[-1], dtype=x.dtype), axis=-2)
    return x * mask + NEG_INF * (1 - mask)


def confusion_increments(
    conds,
    y_true,
    y_pred,
    thresholds,
    thresholds_distributed_evenly=False,
    sample_weight=None,
    top_k=None,
    class_id=None,
):
    """Keras's ``update_confusion_matrix_variables`` as a pure function: returns increments."""
    y_true = jnp.asarray(y_true).astype(jnp.float32)
    y_pred = jnp.asarray(y_pred).astype(jnp.float32)
    thresholds_np = np.asarray(thresholds, dtype=np.float64)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = jnp.expand_dims(jnp.asarray(sample_weight, jnp.float32), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}"
            )
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    n_t = len(thresholds_np)
    if sample_weight is None:
        weights = jnp.ones(y_pred.size, jnp.float32)
    else:
        weights = jnp.reshape(_broadcast_like(sample_weight, y_pred.shape), (-1,))
    labels = jnp.reshape(y_true, (-1,))
    preds = jnp.reshape(y_pred, (-1,))
    out = {}
    if thresholds_distributed_evenly:
        with_eps = thresholds_np[0] < 0.0 or thresholds_np[-1] > 1.0
        preds = jnp.clip(preds, 0.0, 1.0)
        labels = labels.astype(bool).astype(jnp.float32)
        true_labels = labels * weights
        false_labels = (1.0 - labels) * weights
        buckets = jnp.ceil(preds * (jnp.float32(n_t) - 1)) - 1
        if with_eps:
            buckets = jax.nn.relu(buckets)
        buckets = buckets.astype(jnp.int32)
        tp_b = jax.ops.segment_sum(true_labels, buckets, num_segments=n_t)
        fp_b = jax.ops.segment_sum(false_labels, buckets, num_segments=n_t)
        tp = jnp.flip(jnp.cumsum(jnp.flip(tp_b)))
        fp = jnp.flip(jnp.cumsum(jnp.flip(fp_b)))
        totals = {TP: tp, FP: fp, TN: jnp.sum(false_labels) - fp, FN: jnp.sum(true_labels) - tp}
        return {c: totals[c] for c in conds}
    thr = jnp.asarray(thresholds_np, jnp.float32)[:, None]
    pred_pos = preds[None, :] > thr
    label_pos = jnp.broadcast_to(labels.astype(bool)[None, :], pred_pos.shape)
    pairs = {
        TP: (label_pos, pred_pos),
        FP: (~label_pos, pred_pos),
        TN: (~label_pos, ~pred_pos),
        FN: (label_pos, ~pred_pos),
    }
    for c in conds:
        a, b = pairs[c]
        out[c] = jnp.sum(jnp.where(a & b, weights[None, :], 0.0), axis=1)
    return out


class _Confusion(Metric):
    """Shared state handling: one ``(num_thresholds,)`` vector per needed condition."""

    _conds: tuple = ()

    def _setup(self, thresholds, default_threshold):
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold)
        self._evenly = is_evenly_distributed_thresholds(self.thresholds)

    def init(self):
        n = len(self.thresholds)
        return {c: jnp.zeros((n,), jnp.float32) for c in self._conds}

    def update(self, state, y_true, y_pred, sample_weight=None):
        inc = confusion_increments(
            self._conds,
            y_true,
            y_pred,
            self.thresholds,
            self._evenly,
            sample_weight,
            getattr(self, "top_k", None),
            getattr(self, "class_id", None),
        )
        return {c: state[c] + inc[c] for c in self._conds}

    def _single(self, v):
        return v[0] if len(self.thresholds) == 1 else v


class _Count(_Confusion):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._setup(thresholds, 0.5)

    def compute(self, state):
        return self._single(state[self._conds[0]])

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_Count):
    _conds = (TP,)


class FalsePositives(_Count):
    _conds = (FP,)


class TrueNegatives(_Count):
    _conds = (TN,)


class FalseNegatives(_Count):
    _conds = (FN,)


class Precision(_Confusion):
    _conds = (TP, FP)

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.top_k, self.class_id = top_k, class_id
        self._setup(thresholds, 0.5 if top_k is None else NEG_INF)

    def compute(self, state):
        return self._single(divide_no_nan(state[TP], state[TP] + state[FP]))

    def get_config(self):
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Recall(Precision):
    _conds = (TP, FN)

    def compute(self, state):
        return self._single(divide_no_nan(state[TP], state[TP] + state[FN]))


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_Confusion):
    """Approximate AUC over ``num_thresholds`` buckets (ROC or PR; Keras's interpolation)."""

    _conds = (TP, FP, TN, FN)

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        if str(curve).lower() not in _CURVES:
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
            )
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                '["interpolation", "majoring", "minoring"]'
            )
        if multi_label or label_weights is not None or num_labels:
            raise ValueError(
                "AUC(multi_label=True), label_weights= and num_labels= are not supported: Lamina "
                "computes single-label AUC. Use one AUC per output column instead. Received: "
                f"multi_label={multi_label!r}, label_weights={label_weights!r}, num_labels={num_labels!r}."
            )
        super().__init__(name=name, dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._evenly = is_evenly_distributed_thresholds(np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"Argument `num_thresholds` must be an integer > 1. Received: {num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self.thresholds = list(np.array([0.0 - EPSILON] + thresholds + [1.0 + EPSILON]))
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        self.multi_label, self.num_labels, self.label_weights = False, None, None
        self._from_logits = from_logits

    def update(self, state, y_true, y_pred, sample_weight=None):
        if self._from_logits:
            y_pred = jax.nn.sigmoid(jnp.asarray(y_pred, jnp.float32))
        return super().update(state, y_true, y_pred, sample_weight)

    def _interpolate_pr_auc(self, s):
        n = self.num_thresholds
        tp, fp, fn = s[TP], s[FP], s[FN]
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        prec_slope = divide_no_nan(dtp, jnp.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = jnp.where(
            (p[: n - 1] > 0) & (p[1:] > 0),
            divide_no_nan(p[: n - 1], jnp.maximum(p[1:], 0)),
            jnp.ones_like(p[1:]),
        )
        inc = divide_no_nan(
            prec_slope * (dtp + intercept * jnp.log(safe_p_ratio)),
            jnp.maximum(tp[1:] + fn[1:], 0),
        )
        return jnp.sum(inc)

    def compute(self, s):
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(s)
        tp, fp, tn, fn = s[TP], s[FP], s[TN], s[FN]
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scale = divide_no_nan(tp + fn, tn + fp)
            rg = 1.0 - scale * divide_no_nan(fn, tp)
            pg = 1.0 - scale * divide_no_nan(fp, tp)
            x = jnp.maximum(jnp.where(tp == 0.0, 0.0, rg), 0.0)
            y = jnp.where(tp == 0.0, 1.0, pg)
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[: n - 1], y[1:])
        else:
            heights = jnp.maximum(y[: n - 1], y[1:])
        return jnp.sum((x[: n - 1] - x[1:]) * heights)

    def get_config(self):
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self.thresholds[1:-1]]
        return config
