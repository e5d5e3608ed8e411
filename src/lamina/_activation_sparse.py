"""Sparse activations: exactly zero (or a constant) over a whole range of inputs.

Shrinkage (:func:`soft_shrink`, :func:`hard_shrink`), :func:`threshold`, the sparse smooth
functions (:func:`sparse_plus`, :func:`sparse_sigmoid`) and :func:`sparsemax`, with Keras 3
names, signatures, defaults and formulas.  Use them through :mod:`lamina.activations`, which
makes each one record a graph node when called on a symbolic tensor.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def soft_shrink(x, threshold=0.5):
    """Soft shrinkage: moves values toward 0 by ``threshold``, zeroing ``|x| <= threshold``.

    >>> soft_shrink(jnp.array([-1.0, 0.2, 1.0])).tolist()
    [-0.5, 0.0, 0.5]
    """
    x = jnp.asarray(x)
    return jnp.where(x > threshold, x - threshold, jnp.where(x < -threshold, x + threshold, 0.0))


def hard_shrink(x, threshold=0.5):
    """Hard shrinkage: ``x`` where ``|x| > threshold``, else 0.

    >>> hard_shrink(jnp.array([-1.0, 0.2])).tolist()
    [-1.0, 0.0]
    """
    x = jnp.asarray(x)
    return jnp.where(jnp.abs(x) > threshold, x, 0.0)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``.

    >>> threshold(jnp.array([-1.0, 2.0]), 0.0, 5.0).tolist()
    [5.0, 2.0]
    """
    x = jnp.asarray(x)
    return jnp.where(x > threshold, x, default_value)


def sparse_plus(x):
    """SparsePlus: 0 for ``x <= -1``, ``(x + 1)**2 / 4`` for ``|x| < 1``, ``x`` for ``x >= 1``.

    >>> sparse_plus(jnp.array([-2.0, 0.0, 2.0])).tolist()
    [0.0, 0.25, 2.0]
    """
    return jax.nn.sparse_plus(jnp.asarray(x))


def sparse_sigmoid(x):
    """Sparse sigmoid: ``clip((x + 1) / 2, 0, 1)``.

    >>> sparse_sigmoid(jnp.array([-2.0, 0.0, 2.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return jax.nn.sparse_sigmoid(jnp.asarray(x))


def sparsemax(x, axis=-1):
    """Sparsemax: Euclidean projection of ``x`` onto the probability simplex along ``axis``.

    >>> sparsemax(jnp.array([2.0, 0.0])).tolist()
    [1.0, 0.0]
    """
    logits = jnp.asarray(x)
    logits_sorted = -1.0 * jnp.sort(logits * -1.0, axis=axis)
    logits_cumsum = jnp.cumsum(logits_sorted, axis=axis)
    r_shape = [1] * logits.ndim
    r_shape[axis] = -1
    r = jnp.arange(1, logits.shape[axis] + 1).reshape(r_shape)
    support = logits_sorted - (logits_cumsum - 1) / r > 0
    k = jnp.sum(support, axis=axis, keepdims=True)
    logits_cumsum_safe = jnp.where(support, logits_cumsum, 0.0)
    tau = (jnp.sum(logits_cumsum_safe, axis=axis, keepdims=True) - 1) / k
    return jnp.maximum(logits - tau, 0.0)
