"""Keras-3-compatible losses in pure ``jax.numpy``.

Every loss function returns per-sample values exactly as Keras 3 does (same formulas, the same
``1e-7`` clipping ops so gradients match, the same squeeze/expand of ``y_true``/``y_pred``).
``Loss`` objects reduce like Keras's ``reduce_weighted_values`` and also expose
``per_sample(y_true, y_pred)`` for the compiled training loop, which does its own weighting.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lamina._naming import unknown_name_error

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# --------------------------------------------------------------------------- shape helpers
def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: squeeze/expand the last dim of one input when ranks differ by exactly 1."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def _same_rank_shapes(s1, s2, expand_rank_1=True):
    """The shapes ``squeeze_or_expand_to_same_rank`` would produce (host-side, no arrays)."""
    s1, s2 = tuple(s1), tuple(s2)
    r1, r2 = len(s1), len(s2)
    if r1 == r2 + 1 and s1[-1] == 1:
        if r2 == 1 and expand_rank_1:
            s2 = s2 + (1,)
        else:
            s1 = s1[:-1]
    if r2 == r1 + 1 and s2[-1] == 1:
        if r1 == 1 and expand_rank_1:
            s1 = s1 + (1,)
        else:
            s2 = s2[:-1]
    return s1, s2


def _float(x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def _pair(y_true, y_pred, squeeze=True):
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if squeeze:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


# --------------------------------------------------------------------------- functions
def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = jnp.asarray(EPSILON, y_pred.dtype)
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), eps))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = jnp.asarray(EPSILON, y_pred.dtype)
    first_log = jnp.log(jnp.maximum(y_pred, eps) + 1.0)
    second_log = jnp.log(jnp.maximum(y_true, eps) + 1.0)
    return jnp.mean(jnp.square(first_log - second_log), axis=-1)


def _l2_normalize(x, axis=-1):
    square_sum = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    inv_norm = jnp.minimum(jax.lax.rsqrt(square_sum), 1.0 / EPSILON)
    return x * inv_norm


def cosine_similarity(y_true, y_pred, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    return -jnp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def huber(y_true, y_pred, delta=1.0):
    y_true, y_pred = _pair(y_true, y_pred)
    delta = jnp.asarray(delta, y_pred.dtype)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    half = jnp.asarray(0.5, y_pred.dtype)
    return jnp.mean(
        jnp.where(
            abs_error <= delta,
            half * jnp.square(error),
            delta * abs_error - half * jnp.square(delta),
        ),
        axis=-1,
    )


def log_cosh(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    log2 = jnp.asarray(np.log(2.0), y_pred.dtype)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(x * -2.0) - log2, axis=-1)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    y_true = jnp.clip(y_true, EPSILON, 1)
    y_pred = jnp.clip(y_pred, EPSILON, 1)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    eps = jnp.asarray(EPSILON, y_pred.dtype)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + eps), axis=-1)


def _hinge_labels(y_true):
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    y_true = _hinge_labels(y_true)
    return jnp.mean(jnp.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    y_true = _hinge_labels(y_true)
    return jnp.mean(jnp.square(jnp.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, jnp.asarray(0.0, y_pred.dtype))


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis!r}")


def _log_prob(y_pred, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    out = y_pred / jnp.sum(y_pred, axis, keepdims=True)
    return jnp.log(jnp.clip(out, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _check_axis(axis)
    y_true, y_pred = _pair(y_true, y_pred, squeeze=False)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "categorical_crossentropy: y_true and y_pred must have the same shape (one-hot "
            f"labels). Received y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}. "
            "For integer labels use sparse_categorical_crossentropy."
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return -jnp.sum(y_true * _log_prob(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = jnp.squeeze(y_true, axis=axis)
    if ignore_class is not None:
        valid = y_true != jnp.asarray(ignore_class).astype(y_true.dtype)
        y_true = jnp.where(valid, y_true, 0)
        y_pred = jnp.where(jnp.expand_dims(valid, axis), y_pred, 0)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: y_true must have the shape of y_pred without its "
            f"last (class) axis. Received y_true.shape={y_true.shape}, "
            f"y_pred.shape={y_pred.shape}. For one-hot labels use categorical_crossentropy."
        )
    log_prob = _log_prob(y_pred, from_logits, axis)
    target = jax.nn.one_hot(y_true.astype(jnp.int32), y_pred.shape[axis], axis=axis)
    res = -jnp.sum(target.astype(log_prob.dtype) * log_prob, axis=axis)
    if ignore_class is not None:
        res = jnp.where(valid, res, 0.0)
    return res


def _bce_elementwise(y_true, y_pred, from_logits):
    if from_logits:
        return -1.0 * y_true * jax.nn.log_sigmoid(y_pred) - (1.0 - y_true) * jax.nn.log_sigmoid(
            -y_pred
        )
    out = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = y_true * jnp.log(out)
    bce += (1.0 - y_true) * jnp.log(1.0 - out)
    return -bce


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return jnp.mean(_bce_elementwise(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    bce = _bce_elementwise(y_true, y_pred, False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal_bce = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal_bce
    return jnp.mean(focal_bce, axis=axis)


# Aliases, as Keras (and its legacy namespace) spells them.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
bce = BCE = binary_crossentropy


# --------------------------------------------------------------------------- reduction
def _divide_no_nan(a, b):
    safe = jnp.where(b == 0, 1, b)
    return jnp.where(b == 0, 0, a / safe)


def _align_weight(values, weight):
    """Keras's squeeze/expand of the weight, then explicit trailing-axis broadcasting.

    Returns ``(values, weight_broadcast, weight)``; the last is what Keras sums as a divisor.
    """
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    w = weight
    if w.ndim < values.ndim:
        w = jnp.reshape(w, w.shape + (1,) * (values.ndim - w.ndim))
    elif values.ndim < w.ndim:
        values = jnp.reshape(values, values.shape + (1,) * (w.ndim - values.ndim))
    shape = jnp.broadcast_shapes(values.shape, w.shape)
    return jnp.broadcast_to(values, shape), jnp.broadcast_to(w, shape), weight


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras 3's ``reduce_weighted_values`` (``sum_over_batch_size`` divides by the element count)."""
    reduction = standardize_reduction(reduction)
    values = _float(values)
    if mask is not None:
        mask = jnp.asarray(mask)
        if reduction in ("mean", "sum_over_batch_size"):
            fmask = mask.astype(values.dtype)
            w = _divide_no_nan(jnp.asarray(mask.size, values.dtype), jnp.sum(fmask))
            fmask = jnp.where(mask.astype(bool), w, 0.0).astype(values.dtype)
        else:
            fmask = mask.astype(values.dtype)
        if sample_weight is not None:
            fmask, sw, _ = _align_weight(fmask, jnp.asarray(sample_weight, values.dtype))
            sample_weight = sw * fmask
        else:
            sample_weight = fmask
    if sample_weight is not None:
        values, sw, sample_weight = _align_weight(values, jnp.asarray(sample_weight, values.dtype))
        values = values * sw
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = jnp.sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = jnp.sum(sample_weight).astype(loss.dtype)
        else:
            divisor = jnp.asarray(values.size, loss.dtype)
        loss = _divide_no_nan(loss, divisor)
    return loss


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction


# --------------------------------------------------------------------------- classes
class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred)`` returning per-sample values."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype or "float32"

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def _mask(self, y_true, y_pred):
        return None

    def per_sample(self, y_true, y_pred):
        """Unreduced values, shape ``(batch, ...)``, after Keras's squeeze/expand rule."""
        return self.call(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = jnp.asarray(y_pred, jnp.float32)
        y_true = jnp.asarray(y_true, jnp.float32)
        values = self.call(y_true, y_pred)
        mask = self._mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _key(self):
        return (type(self), repr(sorted(self.get_config().items(), key=lambda kv: kv[0])))

    def __eq__(self, other):
        return isinstance(other, Loss) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """Wraps ``fn(y_true, y_pred, **kwargs)``; ``y_true``/``y_pred`` are squeezed/expanded first."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = _serialize_fn(self.fn)
            config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            fn = config["fn"]
            if isinstance(fn, dict):
                fn = fn.get("config")
            if isinstance(fn, str):
                fn = _FUNCTIONS.get(fn) or _unknown(fn)
            config["fn"] = fn
        return cls(**config)

    def __repr__(self):
        if type(self) is not LossFunctionWrapper:
            return super().__repr__()
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


def _serialize_fn(fn):
    return {
        "module": "builtins",
        "class_name": "function",
        "config": getattr(fn, "__name__", str(fn)),
        "registered_name": "function",
    }


def _simple(fn, default_name, doc):
    class _Simple(LossFunctionWrapper):
        def __init__(self, reduction="sum_over_batch_size", name=default_name, dtype=None):
            super().__init__(fn, reduction=reduction, name=name, dtype=dtype)

    _Simple.__doc__ = doc
    return _Simple


MeanSquaredError = _simple(mean_squared_error, "mean_squared_error", "Mean of squared errors.")
MeanAbsoluteError = _simple(mean_absolute_error, "mean_absolute_error", "Mean absolute error.")
MeanAbsolutePercentageError = _simple(
    mean_absolute_percentage_error, "mean_absolute_percentage_error", "Mean absolute % error."
)
MeanSquaredLogarithmicError = _simple(
    mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "Mean squared log error."
)
LogCosh = _simple(log_cosh, "log_cosh", "Logarithm of the hyperbolic cosine of the error.")
Hinge = _simple(hinge, "hinge", "Hinge loss.")
SquaredHinge = _simple(squared_hinge, "squared_hinge", "Squared hinge loss.")
CategoricalHinge = _simple(categorical_hinge, "categorical_hinge", "Categorical hinge loss.")
KLDivergence = _simple(kl_divergence, "kl_divergence", "Kullback-Leibler divergence.")
Poisson = _simple(poisson, "poisson", "Poisson loss.")
for _cls, _n in [
    (MeanSquaredError, "MeanSquaredError"),
    (MeanAbsoluteError, "MeanAbsoluteError"),
    (MeanAbsolutePercentageError, "MeanAbsolutePercentageError"),
    (MeanSquaredLogarithmicError, "MeanSquaredLogarithmicError"),
    (LogCosh, "LogCosh"),
    (Hinge, "Hinge"),
    (SquaredHinge, "SquaredHinge"),
    (CategoricalHinge, "CategoricalHinge"),
    (KLDivergence, "KLDivergence"),
    (Poisson, "Poisson"),
]:
    _cls.__name__ = _cls.__qualname__ = _n


class CosineSimilarity(LossFunctionWrapper):
    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _mask(self, y_true, y_pred):
        if self.ignore_class is None:
            return None
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[self.axis] == 1:
            y_true = jnp.squeeze(y_true, self.axis)
        return y_true != self.ignore_class

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
        }


# --------------------------------------------------------------------------- lookup
def _to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_CLASSES = {
    c.__name__: c
    for c in [
        Loss,
        LossFunctionWrapper,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        BinaryFocalCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        LogCosh,
        Huber,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
    ]
}
_FN_TO_CLASS = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    cosine_similarity: CosineSimilarity,
    huber: Huber,
    log_cosh: LogCosh,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
    binary_crossentropy: BinaryCrossentropy,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}
_FUNCTIONS = {fn.__name__: fn for fn in _FN_TO_CLASS}
_FUNCTIONS.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "kullback_leibler_divergence": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
        "logcosh": log_cosh,
    }
)
_ABSTRACT = {"Loss", "LossFunctionWrapper"}


def valid_names():
    return sorted(set(_FUNCTIONS) | (set(_CLASSES) - _ABSTRACT) | {"crossentropy", "ce"})


def _unknown(name):
    raise unknown_name_error("loss", name, valid_names())


def _is_binary_or_sparse(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    return is_binary, is_sparse


def get(identifier, *, y_true_shape=None, y_pred_shape=None) -> Loss:
    """Resolves a loss identifier to a ``Loss`` instance.

    Strings: every Keras 3 function name and alias (``'mse'``, ``'bce'``, ``'kld'``...), legacy
    aliases (``'logcosh'``, ``'kullback_leibler_divergence'``) and class names; function-name
    strings give the class instance named by the string, as Keras's ``compile`` names it.
    ``'crossentropy'``/``'ce'`` pick binary/sparse/categorical from the shapes (with batch dim).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError(
                    f"Loss {identifier!r} picks binary/sparse/categorical crossentropy from the "
                    "label and output shapes: pass y_true_shape and y_pred_shape."
                )
            is_binary, is_sparse = _is_binary_or_sparse(y_true_shape, y_pred_shape)
            fn = (
                binary_crossentropy
                if is_binary
                else sparse_categorical_crossentropy
                if is_sparse
                else categorical_crossentropy
            )
            return _FN_TO_CLASS[fn](name=identifier)
        if identifier in _CLASSES and identifier not in _ABSTRACT:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _FN_TO_CLASS[_FUNCTIONS[identifier]](name=identifier)
        _unknown(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        if identifier in _FN_TO_CLASS:
            return _FN_TO_CLASS[identifier]()
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss) -> Any:
    """Keras 3 serialized form (``keras.losses.serialize``)."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Loss):
        if type(loss) is LossFunctionWrapper:
            return {
                "module": "keras.src.losses.losses",
                "class_name": "LossFunctionWrapper",
                "config": loss.get_config(),
                "registered_name": "LossFunctionWrapper",
            }
        return {
            "module": "keras.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    if callable(loss):
        return _serialize_fn(loss)
    raise ValueError(f"Cannot serialize loss {loss!r}")


def deserialize(config, custom_objects=None) -> Loss:
    """Inverse of ``serialize``; also accepts plain names."""
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        if config in custom_objects:
            return get(custom_objects[config])
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized loss: {config!r}")
    class_name = config["class_name"]
    inner = config.get("config", {})
    if class_name == "function":
        return get(custom_objects.get(inner) or inner)
    cls = custom_objects.get(class_name) or _CLASSES.get(class_name)
    if cls is None:
        _unknown(class_name)
    return cls.from_config(dict(inner))


# --------------------------------------------------------------------------- fit-time checks
_ELEMENTWISE = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    LogCosh,
    Huber,
    Hinge,
    SquaredHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CosineSimilarity,
    CategoricalHinge,
)


def check_targets(loss, y_shape, y_dtype_kind, output_shape, y_sample=None) -> None:
    """Validates targets against the loss and the model output before tracing.

    ``y_shape``/``output_shape`` include the batch dimension; ``y_dtype_kind`` is a NumPy dtype
    kind (``'i'``, ``'u'``, ``'f'``, ``'b'``); ``y_sample`` (optional, host array) enables the
    range check of sparse labels. Raises ``ValueError`` saying what was expected, what was
    received and how to fix it.
    """
    loss = get(loss)
    y_shape, out_shape = tuple(y_shape), tuple(output_shape)
    units = out_shape[-1] if len(out_shape) > 1 else 1
    name = loss.name
    if isinstance(loss, CategoricalCrossentropy):
        if units > 1 and (len(y_shape) < len(out_shape) or y_shape[-1] == 1):
            raise ValueError(
                f"Loss {name!r}: integer labels with categorical_crossentropy: use "
                "sparse_categorical_crossentropy or lamina.utils.to_categorical. Expected one-hot "
                f"targets of shape (batch, {units}); received y with shape {y_shape} "
                f"(dtype kind {y_dtype_kind!r}) for a model output of shape {out_shape}."
            )
        if len(y_shape) != len(out_shape) or y_shape[-1] != units:
            raise ValueError(
                f"Loss {name!r}: y has {y_shape[-1]} columns but the model outputs {units}. "
                f"Expected one-hot targets of shape (batch, {units}); received y with shape "
                f"{y_shape}. Fix the number of classes in the last layer or in the labels."
            )
        return
    if isinstance(loss, SparseCategoricalCrossentropy):
        ok = len(y_shape) == len(out_shape) - 1 or (
            len(y_shape) == len(out_shape) and y_shape[-1] == 1
        )
        if not ok:
            raise ValueError(
                f"Loss {name!r}: expected integer class labels of shape (batch,) or (batch, 1); "
                f"received y with shape {y_shape} for a model output of shape {out_shape}. For "
                "one-hot labels use categorical_crossentropy (or argmax the labels)."
            )
        if y_sample is not None:
            ys = np.asarray(y_sample)
            if ys.size:
                valid = ys if loss.ignore_class is None else ys[ys != loss.ignore_class]
                if valid.size:
                    lo, hi = valid.min(), valid.max()
                    if lo < 0 or hi >= units:
                        raise ValueError(
                            f"Loss {name!r}: sparse labels out of range: expected integers in "
                            f"[0, {units}) for a model with {units} output units; received "
                            f"labels from {lo} to {hi}. Make the last layer output "
                            f"{int(hi) + 1} units or re-encode the labels to 0..{units - 1}."
                        )
        return
    if isinstance(loss, _ELEMENTWISE):
        s_true, s_pred = _same_rank_shapes(y_shape, out_shape)
        if s_true[1:] != s_pred[1:]:
            cols_y = y_shape[-1] if len(y_shape) > 1 else 1
            raise ValueError(
                f"Loss {name!r}: y has {cols_y} columns but the model outputs {units}. Expected "
                f"targets of shape {out_shape} (or (batch,) for a 1-unit output); received y with "
                f"shape {y_shape}. Make the last layer output {cols_y} units or reshape y."
            )
