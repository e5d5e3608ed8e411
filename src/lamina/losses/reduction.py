"""Keras 3's reduction of weighted per-sample losses."""

from __future__ import annotations

import math

import jax.numpy as jnp

from lamina.losses.functions import REDUCTIONS, _float, squeeze_or_expand_to_same_rank


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


def batch_loss(
    loss, y_true, y_pred, sample_weight, batch_mask, output_mask=None, *, training=True
):
    """One compiled loss term on a (possibly padded) batch, reduced as Keras 3 reduces it on the
    batch's real rows only (``Loss.__call__`` inside ``CompileLoss``).

    The batch may end in padding rows (a last partial batch is padded to the batch size):
    ``batch_mask`` (batch,) is 1 for real rows, 0 for padding, and ``sample_weight`` is already
    0 on padding.  Every divisor Keras takes from the batch's shape (``sum_over_batch_size``,
    ``mean``, the mask's total) counts the real rows only, so a padded batch gives the loss of
    the short batch Keras would run.  Masks (``ignore_class``, ``y_pred``'s Keras mask given as
    ``output_mask``) merge into the weights as Keras's ``apply_mask`` merges them.  A weight
    of all ones stands for "no sample weight" (Keras's ``sample_weight=None``).

    A loss with ``reduction=None``/``"none"`` cannot train (its value is not a scalar), but it
    evaluates: Keras 3's loss tracker (a ``Mean`` updated with the batch size as weight)
    averages the weighted, masked values over every element of the batch, which is the
    ``sum_over_batch_size`` reduction without its mask rescaling.

    Args:
        loss: a :class:`~lamina.losses.Loss` (its ``call``, ``_mask`` and ``reduction``).
        y_true: the batch's targets.
        y_pred: the batch's predictions (float32).
        sample_weight: (batch,) or (batch, ...) weights, 0 on padding rows.
        batch_mask: (batch,) float, 1 for real rows.
        output_mask: optional Keras mask carried by ``y_pred`` (e.g. ``mask_zero``).
        training: whether the loss is differentiated (``fit``) rather than only logged.

    Returns:
        A scalar: the reduced loss.

    Raises:
        TypeError: ``reduction=None``/``"none"`` in training (the loss is not a scalar, so it
            has no gradient; Keras's JAX trainer fails the same way).

    >>> import jax.numpy as jnp
    >>> from lamina.losses import MeanSquaredError
    >>> y, p = jnp.zeros((3, 1)), jnp.array([[1.0], [2.0], [9.0]])
    >>> float(batch_loss(MeanSquaredError(reduction="sum"), y, p, jnp.array([1.0, 1, 0]),
    ...                  jnp.array([1.0, 1, 0])))  # the third row is padding
    5.0
    >>> float(batch_loss(MeanSquaredError(reduction=None), y, p, jnp.array([1.0, 1, 0]),
    ...                  jnp.array([1.0, 1, 0]), training=False))  # evaluate: the mean
    2.5
    """
    reduction = loss.reduction
    if reduction in (None, "none") and training:
        raise TypeError(
            f"The loss {loss.name!r} has reduction={reduction!r}, so it returns one value per "
            "sample, but training needs a scalar loss (gradients are only defined for "
            "scalar-output functions). Expected reduction='sum_over_batch_size' (the default), "
            "'sum', 'mean' or 'mean_with_sample_weight'."
        )
    if overrides_call(loss):
        return _own_call_loss(loss, y_true, y_pred, sample_weight, batch_mask)
    if getattr(loss, "_zero_padding_rows", False):
        # A loss summing over the whole batch (Dice/Tversky, axis=None) sees padding rows
        # as zeros, which add nothing to its sums: the short batch's value exactly.
        rows = jnp.asarray(batch_mask) > 0
        y_true = jnp.where(_expand_to(rows, jnp.ndim(y_true)), y_true, 0)
        y_pred = jnp.where(_expand_to(rows, jnp.ndim(y_pred)), y_pred, 0)
    values = _float(loss.call(y_true, y_pred))
    mask = loss._mask(y_true, y_pred)
    if output_mask is not None:
        output_mask = jnp.asarray(output_mask).astype(bool)
        mask = output_mask if mask is None else jnp.asarray(mask).astype(bool) & output_mask
    bm = jnp.asarray(batch_mask, values.dtype)
    sw = jnp.asarray(sample_weight, values.dtype)
    # Keras's ``sample_weight=None``: the engine's weights are ones on the real rows.
    no_weight = jnp.all(jnp.where(_expand_to(bm, sw.ndim) > 0, sw == 1, True))
    n_real = jnp.sum(bm)
    if mask is not None:
        fmask = jnp.asarray(mask).astype(values.dtype) * _expand_to(bm, jnp.ndim(mask))
        if reduction in ("mean", "sum_over_batch_size"):  # not "none": Keras's apply_mask
            total = n_real * math.prod(fmask.shape[1:])
            fmask = fmask * _divide_no_nan(total, jnp.sum(fmask))
        fmask, swb, _ = _align_weight(fmask, sw)
        sw = fmask * swb
    scalar = values.ndim == 0
    values, wb, w = _align_weight(values, sw)
    weighted = jnp.sum(values * wb)
    if reduction == "sum":
        loss_value = weighted
    else:
        divisor = n_real * math.prod(values.shape[1:])
        if reduction == "mean_with_sample_weight":
            divisor = jnp.where(no_weight & (mask is None), divisor, jnp.sum(w))
        loss_value = _divide_no_nan(weighted, divisor)
    if scalar and mask is None:  # Keras returns a scalar loss as is when nothing weighs it
        loss_value = jnp.where(no_weight, values.reshape(-1)[0], loss_value)
    return loss_value


def overrides_call(loss) -> bool:
    """Whether ``loss`` is a ``Loss`` subclass overriding ``__call__(y_true, y_pred,
    sample_weight=None)`` itself (keras.io's ``SupervisedContrastiveLoss``): Keras's compiled
    loss calls it as is, and it reduces the whole batch (so partial batches run at their real
    size, :mod:`lamina.training.whole_batch`)."""
    from lamina.losses.classes import Loss

    return isinstance(loss, Loss) and type(loss).__call__ is not Loss.__call__


def _own_call_loss(loss, y_true, y_pred, sample_weight, batch_mask):
    """The value of a loss overriding ``__call__``: ``loss(y_true, y_pred)`` when the batch has
    no sample weight (Keras passes ``sample_weight=None`` then), else with the weights."""
    bm = jnp.asarray(batch_mask, jnp.float32)
    sw = jnp.asarray(sample_weight, jnp.float32)
    no_weight = jnp.all(jnp.where(_expand_to(bm, sw.ndim) > 0, sw == 1, True))
    plain = _float(loss(y_true, y_pred))
    if plain.ndim != 0:
        raise TypeError(
            f"The loss {loss.name!r} overrides __call__ and returned shape {plain.shape}; a "
            "compiled loss must return a scalar (reduce it over the batch, e.g. ops.mean)."
        )
    weighted = _float(loss(y_true, y_pred, sample_weight=sw))
    return jnp.where(no_weight, plain, jnp.reshape(weighted, ()))


def _expand_to(v, ndim):
    return jnp.reshape(v, v.shape + (1,) * (ndim - v.ndim))


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction


def mask_metric_weight(metric, weight, mask):
    """The weight a compiled metric updates with when ``y_pred`` carries a Keras ``mask``.

    Keras's mean metrics of ``(y_true, y_pred)`` (``MeanMetricWrapper``: accuracies, errors,
    crossentropies) multiply their sample weight by the mask (``apply_mask`` with
    ``reduction="sum"``); other metrics ignore it.  ``weight`` is (batch,) (or (batch, ...)),
    0 on padding rows.

    >>> import jax.numpy as jnp
    >>> from lamina.metrics import Accuracy
    >>> mask_metric_weight(Accuracy(), jnp.ones((2,)), jnp.array([[True, False], [True, True]]))
    Array([[1., 0.],
           [1., 1.]], dtype=float32)
    """
    from lamina.metrics.base import MeanMetricWrapper

    if not isinstance(metric, MeanMetricWrapper):
        return weight
    fmask = jnp.asarray(mask).astype(jnp.float32)
    fmask, w, _ = _align_weight(fmask, jnp.asarray(weight, jnp.float32))
    return fmask * w
