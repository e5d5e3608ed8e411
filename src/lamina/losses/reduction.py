"""Keras 3's reduction of weighted per-sample losses."""

from __future__ import annotations

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


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction
