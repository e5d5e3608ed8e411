"""Gradient clipping exactly as Keras's base optimizer does it.

``clipnorm`` clips each gradient to an L2 norm and ``global_clipnorm`` all of them together;
both follow ``keras/src/optimizers/base_optimizer.py`` op for op, so clipped gradients agree
with Keras's to float32 rounding (``clipvalue`` is a plain ``jnp.clip``, applied inline).
"""

from __future__ import annotations

import jax.numpy as jnp


def _clip_by_norm(values, clipnorm):
    l2sum = jnp.sum(jnp.square(values), axis=None, keepdims=True)
    pred = l2sum > 0
    l2sum_safe = jnp.where(pred, l2sum, jnp.ones_like(l2sum))
    l2norm = jnp.where(pred, jnp.sqrt(l2sum_safe), l2sum)
    intermediate = values * clipnorm
    return intermediate / jnp.maximum(l2norm, clipnorm)


def _clip_by_global_norm(values, clip_norm):
    squared = [jnp.sum(jnp.square(v)) for v in values]
    use_norm = jnp.sqrt(jnp.sum(jnp.stack(squared)))
    scale_for_finite = clip_norm * jnp.minimum(1.0 / use_norm, 1.0 / clip_norm)
    scale = scale_for_finite + (use_norm - use_norm)
    return [v * scale for v in values]
