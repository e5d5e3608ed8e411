"""Resampling ops of ``keras.ops.image``: ``perspective_transform``, ``elastic_transform`` and
``scale_and_translate``, computed as Keras's JAX backend computes them (an int ``seed`` gives
Keras's numbers)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.backend import config as _config
from lamina.ops._nn_conv import _fmt
from lamina.ops._tensor import tensor
from lamina.ops.image_filters import _images, gaussian_blur

__all__ = ["elastic_transform", "perspective_transform", "scale_and_translate"]

_ORDERS = {"nearest": 0, "bilinear": 1}
_FILL_MODES = {"constant", "nearest", "wrap", "mirror", "reflect"}
_SCALE_METHODS = {
    "linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic", "lanczos3", "lanczos5",
}  # fmt: skip


def _check_interpolation(interpolation):
    if interpolation not in _ORDERS:
        raise ValueError(
            "Invalid value for argument `interpolation`. Expected of one "
            f"{set(_ORDERS)}. Received: interpolation={interpolation}"
        )


def _points(points, name):
    p = jnp.asarray(tensor(points))
    if p.shape[-2:] != (4, 2) or p.ndim not in (2, 3):
        raise ValueError(
            f"Invalid {name} shape: expected (4,2) for a single image or (N,4,2) for a batch. "
            f"Received shape: {p.shape}"
        )
    return p


def _homography(start, end):
    """The 8 coefficients mapping each output (end) point to its input (start) point."""
    sx, sy = start[..., 0], start[..., 1]
    ex, ey = end[..., 0], end[..., 1]
    zeros, ones = jnp.zeros_like(ex), jnp.ones_like(ex)
    x_rows = jnp.stack([ex, ey, ones, zeros, zeros, zeros, -sx * ex, -sx * ey], axis=-1)
    y_rows = jnp.stack([zeros, zeros, zeros, ex, ey, ones, -sy * ex, -sy * ey], axis=-1)
    matrix = jnp.concatenate([x_rows, y_rows], axis=1)
    target = jnp.concatenate([sx, sy], axis=-1)[..., None]
    return jnp.linalg.solve(matrix, target)[..., 0]


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):  # fmt: skip
    """Warps images so that the four ``start_points`` land on the ``end_points``
    (``keras.ops.image.perspective_transform``); points are ``(x, y)`` pixel positions, and
    output pixels that come from outside the input get ``fill_value``.

    Args:
        images: 3-D (single) or 4-D (batch) images.
        start_points: ``(4, 2)`` (for every image) or ``(batch, 4, 2)`` points in the input.
        end_points: the same shape: where those points go in the output.
        interpolation: 'nearest' or 'bilinear'.
        fill_value: the value outside the input.
        data_format: 'channels_last' or 'channels_first'; ``image_data_format()`` if None.

    Returns:
        The warped images, of the input's shape.

    Raises:
        ValueError: for an unknown interpolation, images of another rank, or points that
            are not ``(4, 2)`` / ``(batch, 4, 2)`` of one shape.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.arange(16, dtype="float32").reshape(4, 4, 1)
    >>> corners = np.array([[0, 0], [3, 0], [0, 3], [3, 3]], "float32")
    >>> y = ops.image.perspective_transform(x, corners, corners + [1, 0])
    >>> y[0, :, 0].tolist()
    [0.0, 0.0, 1.0, 2.0]
    """
    fmt = _fmt(data_format)
    _check_interpolation(interpolation)
    x = _images(images)
    start, end = _points(start_points, "start_points"), _points(end_points, "end_points")
    if start.shape != end.shape:
        raise ValueError(
            "start_points and end_points must have the same shape. Received "
            f"start_points.shape={start.shape}, end_points.shape={end.shape}"
        )
    single = x.ndim == 3
    x = x[None] if single else x
    if start.ndim == 2:
        start, end = start[None], end[None]
    if fmt == "channels_first":
        x = jnp.transpose(x, (0, 2, 3, 1))
    _, height, width, _ = x.shape
    transforms = _homography(start.astype(jnp.float32), end.astype(jnp.float32))
    if transforms.shape[0] == 1:  # one set of points for the whole batch
        transforms = jnp.broadcast_to(transforms, (x.shape[0], 8))
    gx, gy = jnp.meshgrid(jnp.arange(width), jnp.arange(height), indexing="xy")
    gx, gy = gx.ravel(), gy.ravel()

    def coords(t):
        denom = t[6] * gx + t[7] * gy + 1.0
        return jnp.stack(
            [(t[3] * gx + t[4] * gy + t[5]) / denom, (t[0] * gx + t[1] * gy + t[2]) / denom]
        )

    def warp(image, c):
        def channel(img):
            out = jax.scipy.ndimage.map_coordinates(
                img, c, order=_ORDERS[interpolation], mode="constant", cval=fill_value
            )
            return out.reshape(height, width)

        return jax.vmap(channel)(jnp.moveaxis(image, -1, 0))

    out = jnp.moveaxis(jax.vmap(warp)(x, jax.vmap(coords)(transforms)), 1, -1)
    if fmt == "channels_first":
        out = jnp.transpose(out, (0, 3, 1, 2))
    return out[0] if single else out


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):  # fmt: skip
    """Elastic deformation: each image is resampled along a random displacement field,
    Gaussian-smoothed with ``sigma`` and scaled by ``alpha``
    (``keras.ops.image.elastic_transform``).

    As Keras's JAX backend, both displacement components come from the same key (so the
    field points along the diagonal), and an int ``seed`` gives Keras's numbers.

    Args:
        images: 3-D (single) or 4-D (batch) images.
        alpha: the strength of the displacement, in pixels per unit of smoothed noise.
        sigma: the smoothing's standard deviation (a ``int(6 sigma) | 1`` kernel).
        interpolation: 'nearest' or 'bilinear'.
        fill_mode: 'constant', 'nearest', 'wrap', 'mirror' or 'reflect'.
        fill_value: the value outside the image with 'constant'.
        seed: an int, a ``lamina.random.SeedGenerator`` or None (the global generator).
        data_format: 'channels_last' or 'channels_first'; ``image_data_format()`` if None.

    Returns:
        The deformed images, of the input's shape and dtype.

    Raises:
        ValueError: for an unknown interpolation or fill mode, or images of another rank.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    >>> y = ops.image.elastic_transform(x, alpha=2.0, sigma=1.0, seed=1)
    >>> y.shape, bool(np.allclose(ops.image.elastic_transform(x, alpha=0.0, seed=1), x))
    ((2, 8, 8, 3), True)
    """
    from lamina.random import draw_seed  # lamina.random imports lamina.ops

    fmt = _fmt(data_format)
    _check_interpolation(interpolation)
    if fill_mode not in _FILL_MODES:
        raise ValueError(
            "Invalid value for argument `fill_mode`. Expected of one "
            f"{_FILL_MODES}. Received: fill_mode={fill_mode}"
        )
    x = _images(images)
    # The kernel's size is static: from the given value (in float32, as Keras), before it
    # becomes an array (traced inside jit).
    size = int(np.float32(6) * np.asarray(sigma, np.float32)) | 1
    floatx = jnp.dtype(_config.floatx())
    alpha = jnp.asarray(tensor(alpha), floatx)
    sigma = jnp.asarray(tensor(sigma), floatx)
    dtype = x.dtype
    noise_dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else floatx
    single = x.ndim == 3
    x = x[None] if single else x
    if fmt == "channels_last":
        batch, height, width, _ = x.shape
        channel_axis = -1
    else:
        batch, _, height, width = x.shape
        channel_axis = 1
    key = draw_seed(seed)
    # Keras draws both components from one key: the same field twice.
    noise = jax.random.normal(key, (batch, height, width), noise_dtype) * sigma
    field = gaussian_blur(jnp.expand_dims(noise, channel_axis), (size, size), (sigma, sigma), fmt)
    field = jnp.squeeze(field, channel_axis)
    gx, gy = jnp.meshgrid(jnp.arange(width), jnp.arange(height))
    src_x = gx[None] + alpha * field
    src_y = gy[None] + alpha * field
    order = _ORDERS[interpolation]

    def one(img, cy, cx):  # one (height, width) channel
        return jax.scipy.ndimage.map_coordinates(
            img, [cy, cx], order=order, mode=fill_mode, cval=fill_value
        )

    per_channel = jax.vmap(one, in_axes=(0, None, None))
    chan_axis = 3 if fmt == "channels_last" else 1
    planes = jnp.moveaxis(x, chan_axis, 1)  # (batch, channels, height, width)
    out = jax.vmap(per_channel)(planes, src_y, src_x)
    out = jnp.moveaxis(out, 1, chan_axis).astype(dtype)
    return out[0] if single else out


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):  # fmt: skip
    """Resamples ``images`` to ``output_shape``: an input position ``p`` along spatial axis
    ``spatial_dims[i]`` lands at ``p * scale[i] + translation[i]`` in the output, with
    half-pixel centres (``keras.ops.image.scale_and_translate``, JAX's
    ``jax.image.scale_and_translate``); outside the input is zero.

    Args:
        images: an array of any rank.
        output_shape: the output's full shape (one size per axis of ``images``).
        scale: one scale per spatial axis.
        translation: one translation per spatial axis.
        spatial_dims: the axes ``scale`` and ``translation`` apply to.
        method: 'linear', 'bilinear', 'trilinear', 'cubic', 'bicubic', 'tricubic',
            'lanczos3' or 'lanczos5'.
        antialias: filter when downsampling.

    Returns:
        The resampled array, of ``output_shape``.

    Raises:
        ValueError: for an unknown method.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.arange(9, dtype="float32").reshape(3, 3)
    >>> scale = np.array([2.0, 2.0], "float32")
    >>> y = ops.image.scale_and_translate(x, (5, 5), scale, -(scale / 2 - 0.5), (0, 1), "linear")
    >>> y[0].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    if method not in _SCALE_METHODS:
        raise ValueError(
            "Invalid value for argument `method`. Expected of one "
            f"{_SCALE_METHODS}. Received: method={method}"
        )
    x = jnp.asarray(tensor(images))
    return jax.image.scale_and_translate(
        x, tuple(int(s) for s in output_shape), tuple(spatial_dims),
        jnp.asarray(tensor(scale)), jnp.asarray(tensor(translation)), method, antialias,
    )  # fmt: skip
