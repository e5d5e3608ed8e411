"""TensorFlow's resize methods that JAX lacks: ``"area"``, ``"gaussian"`` and ``"mitchellcubic"``.

tf.keras 2 code asks for them (``tf.image.resize``'s methods, taken by tf.keras's
``Resizing`` layer and ``K.resize_images``).  Each is separable: one ``(output, input)``
weight matrix per spatial axis, computed on the host from the static sizes, so a resize is
two small matrix products.

* ``"gaussian"`` and ``"mitchellcubic"`` follow TensorFlow's ``ScaleAndTranslate`` kernels
  (``tf.image.resize`` with these methods): output pixel ``x`` samples the input at
  ``(x + 0.5) / scale``; each input pixel within the kernel's radius weighs
  ``kernel(distance / kernel_scale)``, the weights of a row normalized to sum 1 (so edges
  renormalize rather than repeat pixels); ``antialias=True`` widens the kernel by the
  downsampling factor.  Gaussian: radius 1.5, sigma 0.5; Mitchell-Netravali: B = C = 1/3,
  radius 2.
* ``"area"`` follows ``tf.image.resize_area``: output pixel ``x`` averages the input over
  ``[x, x + 1) * in / out``, fractional pixels weighted by their overlap.

>>> import numpy as np
>>> from lamina.ops import image_resample
>>> image_resample.axis_weights(4, 2, "area").tolist()
[[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

#: The methods this module adds to JAX's ``jax.image.resize``.
METHODS = ("area", "gaussian", "mitchellcubic")


def _gaussian(d):
    return np.where(d < 1.5, np.exp(-(d * d) / (2.0 * 0.5 * 0.5)), 0.0)


def _mitchellcubic(d):
    near = ((7.0 / 6.0) * d - 2.0) * d * d + 8.0 / 9.0
    far = (((-7.0 / 18.0) * d + 2.0) * d - 10.0 / 3.0) * d + 16.0 / 9.0
    return np.where(d < 1.0, near, np.where(d < 2.0, far, 0.0))


_KERNELS = {"gaussian": (_gaussian, 1.5), "mitchellcubic": (_mitchellcubic, 2.0)}


def _area_weights(size_in, size_out):
    scale = size_in / size_out
    w = np.zeros((size_out, size_in))
    for x in range(size_out):
        lo, hi = x * scale, (x + 1) * scale
        for i in range(math.floor(lo), math.ceil(hi)):
            overlap = min(i + 1.0, hi) - max(float(i), lo)
            w[x, min(max(i, 0), size_in - 1)] += overlap / scale
    return w


def axis_weights(size_in, size_out, method, antialias=False):
    """The ``(size_out, size_in)`` float32 matrix that resizes one axis with ``method``.

    Args:
        size_in: the axis's input length.
        size_out: its output length.
        method: one of :data:`METHODS`.
        antialias: widen the kernel when downsampling (``"gaussian"``/``"mitchellcubic"``;
            ``"area"`` averages by construction).

    Returns:
        A NumPy float32 array whose rows sum to 1.

    Raises:
        ValueError: another ``method``, or a size below 1.

    >>> axis_weights(2, 4, "mitchellcubic").shape
    (4, 2)
    """
    if method not in METHODS:
        raise ValueError(f"Unknown resize method {method!r}; expected one of {METHODS}.")
    if size_in < 1 or size_out < 1:
        raise ValueError(f"Resize sizes must be >= 1. Received: {size_in} -> {size_out}.")
    if method == "area":
        return _area_weights(size_in, size_out).astype(np.float32)
    return _kernel_weights(size_in, size_out, *_KERNELS[method], antialias)


def _kernel_weights(size_in, size_out, kernel, radius, antialias):
    """TensorFlow's ``ScaleAndTranslate`` weights (no translation) of ``kernel``."""
    inv_scale = size_in / size_out
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(size_out) + 0.5) * inv_scale  # in input pixel units
    dist = np.abs(np.arange(size_in)[None, :] + 0.5 - sample[:, None]) / kernel_scale
    w = np.where(dist <= radius, kernel(dist), 0.0)
    total = w.sum(axis=1, keepdims=True)
    ok = np.abs(total) >= 1000.0 * np.finfo(np.float32).tiny
    return np.where(ok, w / np.where(ok, total, 1.0), 0.0).astype(np.float32)


def resize(x, axes, sizes, method, antialias=False):
    """``x`` resized along ``axes`` to ``sizes`` with ``method`` (float32 result).

    Args:
        x: the images (any rank).
        axes: the spatial axes, e.g. ``(1, 2)`` for ``(batch, height, width, channels)``.
        sizes: their output lengths.
        method: one of :data:`METHODS`.
        antialias: see :func:`axis_weights`.

    Returns:
        The resized float32 array.

    >>> import numpy as np
    >>> resize(np.ones((1, 3, 3, 1)), (1, 2), (6, 5), "gaussian").shape
    (1, 6, 5, 1)
    """
    out = jnp.asarray(x, jnp.float32)
    for axis, size in zip(axes, sizes):
        w = jnp.asarray(axis_weights(out.shape[axis], int(size), method, antialias))
        out = jnp.moveaxis(jnp.tensordot(w, out, axes=((1,), (axis,))), 0, axis)
    return out
