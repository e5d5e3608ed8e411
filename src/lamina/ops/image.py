"""``lamina.ops.image``: Keras's image ops (``keras.ops.image``): ``resize``,
``affine_transform``, ``extract_patches``, ``map_coordinates``, colour conversions, padding
and cropping; filters (``gaussian_blur``, ``sobel_edges``, ``ssim``, ``extract_patches_3d``:
:mod:`lamina.ops.image_filters`) and warps (``perspective_transform``, ``elastic_transform``,
``scale_and_translate``: :mod:`lamina.ops.image_warps`). Images are
``(batch, height, width, channels)`` or a single ``(height, width, channels)`` image (channels
first with ``data_format='channels_first'``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.ops import image_resample
from lamina.ops._nn_conv import _fmt, conv
from lamina.ops._tensor import float_tensor, tensor

__all__ = [
    "affine_transform", "crop_images", "elastic_transform", "extract_patches",
    "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates", "pad_images",
    "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv", "scale_and_translate",
    "sobel_edges", "ssim",
]  # fmt: skip

# Keras 3's methods, then tf.keras 2's (TensorFlow's) others.
_RESIZE = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", *image_resample.METHODS)
_FILL = ("constant", "nearest", "wrap", "mirror", "reflect")


def _images(images):
    x = jnp.asarray(tensor(images))
    if x.ndim not in (3, 4):
        raise ValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
            f"Received input with shape: images.shape={x.shape}."
        )
    return x


def _hw_axes(x, fmt):
    return (x.ndim - 3, x.ndim - 2) if fmt == "channels_last" else (x.ndim - 2, x.ndim - 1)


def resize(
    images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None,
):  # fmt: skip
    """Resizes images to ``size = (height, width)`` (``keras.ops.image.resize``).

    Args:
        images: 3-D or 4-D images.
        size: ``(height, width)``.
        interpolation: 'bilinear', 'nearest', 'bicubic', 'lanczos3' or 'lanczos5' (Keras 3's),
            or tf.keras 2's 'area', 'gaussian' or 'mitchellcubic' (TensorFlow's formulas).
        antialias: filter when downsampling.
        crop_to_aspect_ratio: center-crop to the target aspect ratio first.
        pad_to_aspect_ratio: pad with ``fill_value`` to the target aspect ratio first.
        fill_mode: only 'constant'.
        fill_value: the padding value.
        data_format: 'channels_last' or 'channels_first'.

    Raises:
        ValueError: for bad ranks, sizes, interpolations, or both aspect-ratio options.

    >>> from lamina import ops
    >>> ops.image.resize(ops.ones((2, 4, 4, 3)), (8, 6)).shape
    (2, 8, 6, 3)
    """
    fmt = _fmt(data_format)
    if interpolation not in _RESIZE:
        raise ValueError(
            f"Invalid value for argument `interpolation`. Expected one of {_RESIZE}. "
            f"Received: interpolation={interpolation!r}."
        )
    if fill_mode != "constant":
        raise ValueError(
            f"Only fill_mode='constant' is supported. Received: fill_mode={fill_mode!r}."
        )
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`."
        )
    if len(size) != 2:
        raise ValueError(
            f"Argument `size` must be a tuple of two elements (height, width). Received: size={size}."
        )
    x = _images(images)
    th, tw = int(size[0]), int(size[1])
    ha, wa = _hw_axes(x, fmt)
    h, w = x.shape[ha], x.shape[wa]
    if crop_to_aspect_ratio:
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        x = jax.lax.slice_in_dim(x, (h - ch) // 2, (h - ch) // 2 + ch, axis=ha)
        x = jax.lax.slice_in_dim(x, (w - cw) // 2, (w - cw) // 2 + cw, axis=wa)
    elif pad_to_aspect_ratio:
        ph = max(h, int(float(w * th) / tw))
        pw = max(w, int(float(h * tw) / th))
        pads = [(0, 0)] * x.ndim
        hs, ws = int(float(ph - h) / 2), int(float(pw - w) / 2)
        if hs > 0:
            pads[ha] = (hs, hs)
        elif ws > 0:
            pads[wa] = (ws, ws)
        x = jnp.pad(x, pads, constant_values=fill_value)
    if interpolation in image_resample.METHODS:  # tf.image.resize's methods JAX lacks
        return image_resample.resize(x, (ha, wa), (th, tw), interpolation, antialias)
    out_shape = list(x.shape)
    out_shape[ha], out_shape[wa] = th, tw
    return jax.image.resize(x, tuple(out_shape), method=interpolation, antialias=antialias)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0.0):
    """Samples ``inputs`` at ``coordinates`` (one row per input axis) by spline interpolation
    of ``order`` 0 or 1 (``keras.ops.image.map_coordinates``).

    >>> from lamina import ops
    >>> ops.image.map_coordinates(ops.arange(4.0), [[0.5, 2.0]], 1).tolist()
    [0.5, 2.0]
    """
    x = jnp.asarray(tensor(inputs))
    coords = jnp.asarray(tensor(coordinates))
    if coords.ndim < 2 or coords.shape[0] != x.ndim:
        raise ValueError(
            "First dim of `coordinates` must be the same as the rank of `inputs`, and "
            f"`coordinates` must be at least rank 2. Received inputs.shape={x.shape}, "
            f"coordinates.shape={coords.shape}."
        )
    if fill_mode not in _FILL:
        raise ValueError(
            f"Invalid `fill_mode`. Expected one of {_FILL}. Received: fill_mode={fill_mode!r}."
        )
    if order not in (0, 1):
        raise ValueError(
            f"Invalid value for argument `order`. Expected 0 or 1. Received: order={order!r}."
        )
    return jax.scipy.ndimage.map_coordinates(x, list(coords), order, fill_mode, fill_value)


def affine_transform(
    images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
    data_format=None,
):  # fmt: skip
    """Applies affine transforms ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (Keras's and TF's
    convention): output pixel ``(x, y)`` samples the input at ``(a0 x + a1 y + a2,
    b0 x + b1 y + b2)`` (``keras.ops.image.affine_transform``).

    Args:
        images: 3-D or 4-D images.
        transform: ``(8,)`` or ``(batch, 8)``.
        interpolation: 'nearest' or 'bilinear'.
        fill_mode: 'constant', 'nearest', 'wrap', 'mirror' or 'reflect'.
        fill_value: the value outside the image with 'constant'.
        data_format: 'channels_last' or 'channels_first'.

    >>> from lamina import ops
    >>> identity = [1.0, 0, 0, 0, 1.0, 0, 0, 0]
    >>> ops.image.affine_transform(ops.ones((4, 4, 1)), identity).shape
    (4, 4, 1)
    """
    fmt = _fmt(data_format)
    orders = {"nearest": 0, "bilinear": 1}
    if interpolation not in orders:
        raise ValueError(
            f"Invalid value for argument `interpolation`. Expected one of {set(orders)}. "
            f"Received: interpolation={interpolation!r}."
        )
    if fill_mode not in _FILL:
        raise ValueError(
            f"Invalid `fill_mode`. Expected one of {_FILL}. Received: fill_mode={fill_mode!r}."
        )
    x = _images(images)
    t = float_tensor(transform)
    if t.ndim not in (1, 2):
        raise ValueError(
            "Invalid transform rank: expected rank 1 (single transform) or rank 2 (batch of "
            f"transforms). Received input with shape: transform.shape={t.shape}."
        )
    single = x.ndim == 3
    if single:
        x = x[None]
    if t.ndim == 1:
        t = t[None]
    if fmt == "channels_first":
        x = jnp.transpose(x, (0, 2, 3, 1))
    t = jnp.broadcast_to(t, (x.shape[0], t.shape[-1]))
    _, h, w, c = x.shape
    yy, xx, cc = jnp.meshgrid(jnp.arange(h), jnp.arange(w), jnp.arange(c), indexing="ij")
    yy, xx, cc = (v.astype(t.dtype) for v in (yy, xx, cc))

    def one(img, tr):
        src_x = tr[0] * xx + tr[1] * yy + tr[2]
        src_y = tr[3] * xx + tr[4] * yy + tr[5]
        return jax.scipy.ndimage.map_coordinates(
            img, [src_y, src_x, cc], orders[interpolation], mode=fill_mode, cval=fill_value
        )

    out = jax.vmap(one)(x, t)
    if fmt == "channels_first":
        out = jnp.transpose(out, (0, 3, 1, 2))
    return out[0] if single else out


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Patches of ``size`` as channels, ordered (row, column, channel)
    (``keras.ops.image.extract_patches``); ``strides`` defaults to ``size``.

    >>> from lamina import ops
    >>> ops.image.extract_patches(ops.ones((1, 4, 4, 3)), 2).shape
    (1, 2, 2, 12)
    """
    if isinstance(size, int):
        ph = pw = size
    elif len(size) == 2:
        ph, pw = int(size[0]), int(size[1])
    elif len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    else:
        raise TypeError(
            f"Invalid `size` argument. Expected an int or a tuple of length 2. Received: size={size}."
        )
    fmt = _fmt(data_format)
    x = _images(images)
    channels = x.shape[-1] if fmt == "channels_last" else x.shape[-3]
    out_dim = ph * pw * channels
    kernel = jnp.reshape(jnp.eye(out_dim, dtype=x.dtype), (ph, pw, channels, out_dim))
    single = x.ndim == 3
    out = conv(x[None] if single else x, kernel, strides or size, padding, fmt, dilation_rate)
    return out[0] if single else out


def rgb_to_grayscale(images, data_format=None):
    """Luma ``0.2989 R + 0.5870 G + 0.1140 B``, keeping a 1-channel axis
    (``keras.ops.image.rgb_to_grayscale``).

    Raises:
        ValueError: for ranks other than 3/4 or channels other than 1/3.

    >>> from lamina import ops
    >>> ops.image.rgb_to_grayscale(ops.ones((2, 4, 4, 3))).shape
    (2, 4, 4, 1)
    """
    fmt = _fmt(data_format)
    x = _images(images)
    axis = -1 if fmt == "channels_last" else -3
    if x.shape[axis] not in (1, 3):
        raise ValueError(
            "Invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received input with "
            f"shape: images.shape={x.shape}."
        )
    if x.shape[axis] == 1:
        return x
    dtype = x.dtype
    xf = float_tensor(x)
    weights = jnp.asarray([0.2989, 0.5870, 0.1140], xf.dtype)
    gray = jnp.tensordot(xf, weights, axes=(axis % x.ndim, 0))
    return jnp.expand_dims(gray, axis).astype(dtype)


from lamina.ops._image_extra import (  # noqa: E402 - uses _images/_fmt above
    crop_images,
    hsv_to_rgb,
    pad_images,
    rgb_to_hsv,
)
from lamina.ops.image_filters import (  # noqa: E402
    extract_patches_3d,
    gaussian_blur,
    sobel_edges,
    ssim,
)
from lamina.ops.image_warps import (  # noqa: E402
    elastic_transform,
    perspective_transform,
    scale_and_translate,
)
