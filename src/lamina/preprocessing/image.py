"""Keras 2's ``keras.preprocessing.image``: ``ImageDataGenerator``, its iterators, image I/O
and the single-image random transforms.

The single-image functions take Keras 2's arguments (``row_axis=1, col_axis=2,
channel_axis=0`` by default: channels first) and run on the same vectorised code as the
generator.  ``scipy`` is not needed; Pillow is needed only to read and write files.

>>> import numpy as np
>>> from lamina.preprocessing.image import apply_affine_transform
>>> x = np.arange(9, dtype="float32").reshape(1, 3, 3)
>>> apply_affine_transform(x, tx=1, fill_mode="constant")[0]
array([[1., 2., 0.],
       [4., 5., 0.],
       [7., 8., 0.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from lamina.preprocessing import image_transforms
from lamina.preprocessing.image_dataframe import DataFrameIterator
from lamina.preprocessing.image_directory import DirectoryIterator
from lamina.preprocessing.image_generator import ImageDataGenerator
from lamina.preprocessing.image_io import array_to_img, img_to_array, load_img, save_img
from lamina.preprocessing.image_iterators import Iterator, NumpyArrayIterator

__all__ = [
    "DataFrameIterator",
    "DirectoryIterator",
    "ImageDataGenerator",
    "Iterator",
    "NumpyArrayIterator",
    "apply_affine_transform",
    "apply_brightness_shift",
    "apply_channel_shift",
    "array_to_img",
    "flip_axis",
    "img_to_array",
    "load_img",
    "random_brightness",
    "random_channel_shift",
    "random_rotation",
    "random_shear",
    "random_shift",
    "random_zoom",
    "save_img",
    "smart_resize",
]


def _check_axes(x, row_axis, col_axis, channel_axis):
    if x.ndim != 3:
        raise ValueError(f"Expected one image of rank 3. Received an array of shape {x.shape}.")
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2]:
        raise ValueError(
            f"row_axis, col_axis and channel_axis must be 0, 1 and 2 in some order. Received: "
            f"{row_axis}, {col_axis}, {channel_axis}."
        )
    if channel_axis not in (0, 2):
        raise ValueError(f"channel_axis must be 0 or 2. Received: {channel_axis}.")


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2,
                           channel_axis=0, fill_mode="nearest", cval=0.0, order=1):
    """Applies an affine transform (Keras 2's parameterization) to one image.

    Args:
        x: one image (rank 3).
        theta: rotation in degrees.
        tx, ty: shifts in pixels.  As in tf-keras (Keras 2's last version), ``tx`` moves the
            columns and ``ty`` the rows when the column axis follows the row axis.
        shear: shear angle in degrees.
        zx, zy: zoom factors.
        row_axis, col_axis, channel_axis: the image's axes (default channels first).
        fill_mode, cval: border rule (see ``ImageDataGenerator``).
        order: 1 (bilinear) or 0 (nearest).

    Returns:
        The transformed image (unchanged if every parameter is neutral).
    """
    x = np.asarray(x)
    _check_axes(x, row_axis, col_axis, channel_axis)
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x
    spatial = sorted((row_axis, col_axis))
    # Keras 2 resamples each channel as a 2-D image whose axes keep their order in x.
    img = np.transpose(x, spatial + [channel_axis])
    A, off = image_transforms.affine_matrices(
        np.array([theta]), np.array([tx]), np.array([ty]), np.array([shear]), np.array([zx]),
        np.array([zy]), x.shape[row_axis], x.shape[col_axis], swap=col_axis > row_axis)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    out = image_transforms.warp_batch(img[None].astype(dtype), A, off, fill_mode=fill_mode,
                                      cval=cval, order=order)[0]
    return np.transpose(out, np.argsort(spatial + [channel_axis]))


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                    cval=0.0, interpolation_order=1):
    """Rotates one image by a random angle in ``(-rg, rg)`` degrees (``np.random``)."""
    return apply_affine_transform(x, theta=np.random.uniform(-rg, rg), row_axis=row_axis,
                                  col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """Shifts one image by random fractions ``(-hrg, hrg)`` of its height and width."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """Shears one image by a random angle in ``(-intensity, intensity)`` degrees."""
    return apply_affine_transform(x, shear=np.random.uniform(-intensity, intensity),
                                  row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                cval=0.0, interpolation_order=1):
    """Zooms one image by random factors drawn from ``zoom_range = (low, high)``.

    Raises:
        ValueError: if ``zoom_range`` is not a pair.
    """
    if len(zoom_range) != 2:
        raise ValueError(f"zoom_range must be a pair of floats. Received: {zoom_range!r}.")
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Adds ``intensity`` to every channel, clipped to the image's min and max."""
    x = np.asarray(x)
    return image_transforms.channel_shift_batch(x[None], np.array([intensity]))[0]


def random_channel_shift(x, intensity_range, channel_axis=0):
    """``apply_channel_shift`` with an intensity drawn from ``(-range, range)``."""
    intensity = np.random.uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis=channel_axis)


def apply_brightness_shift(x, brightness, scale=True):
    """Keras 2's brightness shift of one channels-last image (through 8 bits, as PIL).

    Args:
        x: one image (rank 3, channels last, 1/3/4 channels).
        brightness: the factor (0: black, 1: unchanged).
        scale: return values in 0..255 instead of the image's own range.

    Returns:
        A float32 image.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"Expected one image of rank 3. Received an array of shape {x.shape}.")
    return image_transforms.brightness_batch(x[None], np.array([brightness]), scale=scale)[0]


def random_brightness(x, brightness_range, scale=True):
    """``apply_brightness_shift`` with a factor drawn from ``brightness_range``.

    Raises:
        ValueError: if ``brightness_range`` is not a pair.
    """
    if len(brightness_range) != 2:
        raise ValueError(
            f"brightness_range must be a pair of floats. Received: {brightness_range!r}."
        )
    u = np.random.uniform(brightness_range[0], brightness_range[1])
    return apply_brightness_shift(x, u, scale)


def flip_axis(x, axis):
    """Reverses ``x`` along ``axis``."""
    return np.flip(np.asarray(x), axis=axis)


_RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last"):
    """Resizes images to ``size`` without distorting them: the largest centred crop with the
    target aspect ratio, then a resize (half-pixel centres, no antialiasing, as TF/Keras).

    Args:
        x: an image ``(height, width, channels)`` or a batch of them (channels first with
            ``data_format='channels_first'``).
        size: ``(height, width)``.
        interpolation: ``'bilinear'``, ``'nearest'``, ``'bicubic'``, ``'lanczos3'`` or
            ``'lanczos5'``.
        data_format: ``'channels_last'`` or ``'channels_first'``.

    Returns:
        A NumPy array of the resized image(s).

    Raises:
        ValueError: for a ``size`` that is not a pair, an input that is not rank 3 or 4, or an
            unknown interpolation.

    >>> smart_resize(np.zeros((340, 500, 3)), (200, 200)).shape
    (200, 200, 3)
    """
    import jax

    if len(size) != 2:
        raise ValueError(f"size must be (height, width). Received: {size!r}.")
    if interpolation not in _RESIZE_METHODS:
        raise ValueError(
            f"interpolation must be one of {_RESIZE_METHODS}. Received: {interpolation!r}."
        )
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"Expected an image (height, width, channels) or a batch of them. Received shape "
            f"{x.shape}."
        )
    first = data_format == "channels_first"
    h_axis = x.ndim - (2 if first else 3)
    height, width = x.shape[h_axis], x.shape[h_axis + 1]
    th, tw = (int(v) for v in size)
    crop_h = max(min(height, int(float(width * th) / tw)), 1)
    crop_w = max(min(width, int(float(height * tw) / th)), 1)
    top, left = int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)
    index = [slice(None)] * x.ndim
    index[h_axis], index[h_axis + 1] = slice(top, top + crop_h), slice(left, left + crop_w)
    img = x[tuple(index)]
    shape = list(img.shape)
    shape[h_axis], shape[h_axis + 1] = th, tw
    dtype = img.dtype if np.issubdtype(img.dtype, np.floating) else np.float32
    out = jax.image.resize(img.astype(dtype), tuple(shape), method=interpolation,
                           antialias=False)
    return np.asarray(out)
