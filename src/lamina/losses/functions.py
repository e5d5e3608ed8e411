"""Loss functions returning per-sample values exactly as Keras 3 does, and the shape helpers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


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


def cosine_proximity(y_true, y_pred, axis=-1):
    """Keras 1/2's legacy ``cosine_proximity`` loss (also its metric; ``'cosine'`` names it).

    ``-mean(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: Keras 1 and Keras 2 up to
    2.2 averaged the product where :func:`cosine_similarity` (Keras 3) sums it, so the value is
    the negative cosine similarity divided by the size of ``axis``.  Kept with that formula so
    Keras 2-era losses, logged metric values and ``ModelCheckpoint`` thresholds carry over; use
    ``cosine_similarity`` for the Keras 3 quantity.

    Args:
        y_true: targets.
        y_pred: predictions, the same shape as ``y_true``.
        axis: the axis the vectors lie along.

    Returns:
        Per-sample values, ``y_pred``'s shape without ``axis``.

    >>> float(cosine_proximity([[1.0, 0.0]], [[2.0, 0.0]])[0])
    -0.5
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return -jnp.mean(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


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


# On KerasTensors (``keras.losses.binary_crossentropy(inputs, outputs)`` while defining a
# functional model, as Keras 2's VAE example does) each loss records a graph node, as ops do.
def _symbolic_losses():
    from lamina.ops._symbolic import symbolic_aware

    for name in (
        "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error", "cosine_similarity", "cosine_proximity", "huber",
        "log_cosh",
        "kl_divergence", "poisson", "hinge", "squared_hinge", "categorical_hinge",
        "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
        "binary_focal_crossentropy",
    ):  # fmt: skip
        globals()[name] = symbolic_aware(globals()[name], name)


_symbolic_losses()

# Aliases, as Keras (and its legacy namespace) spells them.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
cosine = cosine_proximity  # Keras 2's alias of its legacy cosine loss
bce = BCE = binary_crossentropy
