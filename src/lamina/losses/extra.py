"""Keras 3's newer loss functions: focal and generalized categorical crossentropy, Dice,
Tversky, Circle and CTC (per-sample values, Keras's formulas); their ``Loss`` classes are in
:mod:`lamina.losses.extra_classes`.

>>> import numpy as np
>>> from lamina import losses
>>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
>>> y_pred = np.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
>>> losses.categorical_focal_crossentropy(y_true, y_pred).shape
(2,)
>>> round(float(losses.Dice()(y_true, y_pred)), 4)
0.525
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.losses.functions import EPSILON, _float


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Alpha-balanced focal crossentropy over one-hot labels, per sample (Keras 3's formula).

    Args:
        y_true: one-hot targets, shape ``(batch, classes)``.
        y_pred: probabilities (or logits with ``from_logits=True``), same shape.
        alpha: class weight, a float or one float per class.
        gamma: focusing parameter; 0 gives plain categorical crossentropy times ``alpha``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: float in [0, 1].
        axis: the class axis.

    Returns:
        The loss per sample, shape ``(batch,)``.

    >>> import numpy as np
    >>> v = categorical_focal_crossentropy(np.eye(2), np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> [round(float(x), 5) for x in v]
    [0.00026, 0.00223]
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis!r}")
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if label_smoothing:
        num_classes = jnp.asarray(y_true.shape[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        y_pred = jax.nn.softmax(y_pred, axis=axis)
    output = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    output = jnp.clip(output, EPSILON, 1.0 - EPSILON)
    cce = -y_true * jnp.log(output)
    modulating = jnp.power(1.0 - output, gamma)
    weighting = modulating * jnp.asarray(alpha, y_pred.dtype)
    return jnp.sum(weighting * cce, axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized cross entropy ``(1 - p**q) / q`` of the true class's probability ``p``.

    Args:
        y_true: integer class indices, shape ``(batch,)`` (or ``(batch, 1)``, as Keras takes it).
        y_pred: class probabilities, shape ``(batch, classes)``.
        q: float in (0, 1): near 0 like crossentropy, near 1 like mean absolute error.

    Returns:
        The loss per sample.

    >>> import numpy as np
    >>> v = categorical_generalized_cross_entropy(np.array([0, 1]), np.array([[0.7, 0.3], [0.2, 0.8]]), 0.5)
    >>> [round(float(x), 4) for x in v]
    [0.3267, 0.2111]
    """
    y_pred = _float(y_pred)
    one_hot = jax.nn.one_hot(jnp.asarray(y_true).astype(jnp.int32), y_pred.shape[-1])
    p = jnp.sum(y_pred * one_hot.astype(y_pred.dtype), axis=-1)
    return (1 - jnp.power(p, q)) / q


def dice(y_true, y_pred, axis=None):
    """Dice loss ``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))``.

    Args:
        y_true: targets.
        y_pred: predictions, same shape.
        axis: the axes summed over; ``None`` sums everything (one value for the batch).

    Returns:
        The loss, reduced over ``axis``.

    >>> import numpy as np
    >>> round(float(dice(np.array([1.0, 0.0]), np.array([1.0, 1.0]))), 4)
    0.3333
    """
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    axis = _axis(axis)
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    total = jnp.sum(y_true, axis=axis) + jnp.sum(y_pred, axis=axis) + EPSILON
    return 1 - (2.0 * intersection) / total


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss: Dice with false positives weighted by ``alpha``, false negatives by ``beta``.

    Args:
        y_true: targets.
        y_pred: predictions, same shape.
        alpha: weight of false positives.
        beta: weight of false negatives.
        axis: the axes summed over; ``None`` sums everything.

    Returns:
        The loss, reduced over ``axis``.

    >>> import numpy as np
    >>> round(float(tversky(np.array([1.0, 0.0]), np.array([1.0, 1.0]))), 4)
    0.3333
    """
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    axis = _axis(axis)
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    fp = jnp.sum((1 - y_pred) * y_true, axis=axis)
    fn = jnp.sum(y_pred * (1 - y_true), axis=axis)
    return 1 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


def _pos_neg_masks(labels, ref_labels, remove_diagonal):
    same = jnp.expand_dims(labels, 1) == jnp.expand_dims(ref_labels, 0)
    negative = ~same
    if remove_diagonal:
        same = same & ~jnp.eye(same.shape[0], same.shape[1], dtype=bool)
    return same, negative


def circle(
    y_true,
    y_pred,
    ref_labels=None,
    ref_embeddings=None,
    remove_diagonal=True,
    gamma=80,
    margin=0.4,
):
    """Circle loss between integer labels and L2-normalized embeddings, per sample.

    Args:
        y_true: integer labels, shape ``(batch,)``.
        y_pred: L2-normalized embeddings, shape ``(batch, dim)``.
        ref_labels: labels of the reference embeddings (default ``y_true``).
        ref_embeddings: reference embeddings (default ``y_pred``).
        remove_diagonal: drop self-similarities from the positive pairs.
        gamma: scale of the similarity scores.
        margin: relaxation margin.

    Returns:
        The loss per sample, shape ``(batch,)``.

    >>> import numpy as np
    >>> e = np.eye(4, dtype="float32")[:, :3]
    >>> circle(np.array([0, 0, 1, 1]), e).shape
    (4,)
    """
    y_pred = _float(y_pred)
    y_true = jnp.asarray(y_true).astype(jnp.int32)
    if y_true.ndim == 2 and y_true.shape[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    ref_embeddings = y_pred if ref_embeddings is None else _float(ref_embeddings)
    ref_labels = y_true if ref_labels is None else jnp.asarray(ref_labels).astype(jnp.int32)
    optim_pos, optim_neg = margin, 1 + margin
    delta_pos, delta_neg = margin, 1 - margin
    distances = jnp.maximum(1 - y_pred @ ref_embeddings.T, 0.0)
    pos_mask, neg_mask = _pos_neg_masks(y_true, ref_labels, remove_diagonal)
    pos_f, neg_f = pos_mask.astype(distances.dtype), neg_mask.astype(distances.dtype)
    pos_weights = jnp.maximum((optim_pos + distances) * pos_f, 0.0)
    neg_weights = jnp.maximum((optim_neg - distances) * neg_f, 0.0)
    pos_wdists = -1 * gamma * pos_weights * (delta_pos - distances)
    neg_wdists = gamma * neg_weights * (delta_neg - distances)
    p_loss = jax.nn.logsumexp(jnp.where(pos_mask, pos_wdists, -jnp.inf), axis=1)
    n_loss = jax.nn.logsumexp(jnp.where(neg_mask, neg_wdists, -jnp.inf), axis=1)
    return jax.nn.softplus(p_loss + n_loss)


def ctc(y_true, y_pred):
    """Connectionist temporal classification loss per sequence (label 0 is the blank).

    Args:
        y_true: integer labels, shape ``(batch, max_label_length)``, padded with 0.
        y_pred: logits (not softmaxed), shape ``(batch, time, classes)``.

    Returns:
        The loss per sequence, shape ``(batch,)``.

    Raises:
        ValueError: if ``y_true`` is not 2D or ``y_pred`` not 3D.

    >>> import numpy as np
    >>> ctc(np.array([[1, 2]]), np.zeros((1, 5, 4), "float32")).shape
    (1,)
    """
    from lamina.ops._nn_extra import ctc_loss

    y_true = jnp.asarray(y_true)
    y_pred = _float(y_pred)
    if y_true.ndim != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` "
            f"in integer format. Received: y_true.shape={y_true.shape}"
        )
    if y_pred.ndim != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            f"`(batch_size, max_length, num_classes)`. Received: y_pred.shape={y_pred.shape}"
        )
    batch, time = y_pred.shape[0], y_pred.shape[1]
    input_length = jnp.full((batch,), time, jnp.int32)
    label_length = jnp.sum(y_true != 0, axis=-1).astype(jnp.int32)
    return ctc_loss(y_true.astype(jnp.int32), y_pred, label_length, input_length, mask_index=0)
