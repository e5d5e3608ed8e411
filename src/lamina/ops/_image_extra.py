"""Image padding/cropping and HSV conversions of ``keras.ops.image``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.ops._nn_conv import _fmt
from lamina.ops._tensor import tensor


def _images(images):
    x = jnp.asarray(tensor(images))
    if x.ndim not in (3, 4):
        raise ValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
            f"Received: images.shape={x.shape}."
        )
    return x


def _resolve(first, last, target, size, names, crop=False):
    given = [v is not None for v in (first, last, target)]
    if sum(given) != 2:
        raise ValueError(
            f"Give exactly two of {names[0]}, {names[1]} and {names[2]}. Received: "
            f"{names[0]}={first}, {names[1]}={last}, {names[2]}={target}."
        )
    # Padding: first + size + last == target; cropping: first + target + last == size.
    total = (
        (size - target) if crop and target is not None else (target if target is not None else 0)
    )
    if first is None:
        first = total - last - (0 if crop else size)
    if last is None:
        last = total - first - (0 if crop else size)
    return int(first), int(last)


def _hw(x, fmt):
    return (x.shape[-3], x.shape[-2]) if fmt == "channels_last" else (x.shape[-2], x.shape[-1])


def pad_images(
    images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
    target_height=None, target_width=None, data_format=None,
):  # fmt: skip
    """Zero-pads images; give two of top/bottom/target height and two of left/right/target
    width (``keras.ops.image.pad_images``).

    Raises:
        ValueError: for a bad rank, an over- or under-determined padding, or a negative one.

    >>> from lamina import ops
    >>> ops.image.pad_images(ops.ones((4, 4, 1)), 1, 1, target_height=8, target_width=8).shape
    (8, 8, 1)
    """
    fmt = _fmt(data_format)
    x = _images(images)
    h, w = _hw(x, fmt)
    top, bottom = _resolve(
        top_padding,
        bottom_padding,
        target_height,
        h,
        ("top_padding", "bottom_padding", "target_height"),
    )
    left, right = _resolve(
        left_padding,
        right_padding,
        target_width,
        w,
        ("left_padding", "right_padding", "target_width"),
    )
    for name, v in (
        ("top_padding", top),
        ("bottom_padding", bottom),
        ("left_padding", left),
        ("right_padding", right),
    ):
        if v < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={v}.")
    pads = [(top, bottom), (left, right)]
    pads = pads + [(0, 0)] if fmt == "channels_last" else [(0, 0)] + pads
    if x.ndim == 4:
        pads = [(0, 0)] + pads
    return jnp.pad(x, pads)


def crop_images(
    images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
    target_height=None, target_width=None, data_format=None,
):  # fmt: skip
    """Crops images; give two of top/bottom/target height and two of left/right/target width
    (``keras.ops.image.crop_images``).

    >>> from lamina import ops
    >>> ops.image.crop_images(ops.ones((8, 8, 1)), 1, 1, target_height=4, target_width=4).shape
    (4, 4, 1)
    """
    fmt = _fmt(data_format)
    x = _images(images)
    h, w = _hw(x, fmt)
    names_h = ("top_cropping", "bottom_cropping", "target_height")
    names_w = ("left_cropping", "right_cropping", "target_width")
    top, bottom = _resolve(top_cropping, bottom_cropping, target_height, h, names_h, crop=True)
    left, right = _resolve(left_cropping, right_cropping, target_width, w, names_w, crop=True)
    if min(top, bottom, left, right) < 0 or top + bottom >= h or left + right >= w:
        raise ValueError(
            f"Invalid cropping of a {h}x{w} image: top={top}, bottom={bottom}, left={left}, "
            f"right={right}."
        )
    if fmt == "channels_last":
        return x[..., top : h - bottom, left : w - right, :]
    return x[..., top : h - bottom, left : w - right]


def _float_images(images, fmt):
    x = _images(images)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"Invalid images dtype: expected float dtype. Received: images.dtype={x.dtype}."
        )
    axis = -1 if fmt == "channels_last" else -3
    return x, axis


def rgb_to_hsv(images, data_format=None):
    """RGB in [0, 1] to HSV in [0, 1] (``keras.ops.image.rgb_to_hsv``).

    >>> from lamina import ops
    >>> ops.image.rgb_to_hsv(ops.convert_to_tensor([[[1.0, 0.0, 0.0]]])).tolist()
    [[[0.0, 1.0, 1.0]]]
    """
    x, axis = _float_images(images, _fmt(data_format))
    x = jnp.where(jnp.abs(x) < jnp.finfo(x.dtype).eps, 0.0, x)
    r, g, b = (jnp.take(x, i, axis=axis) for i in range(3))
    value = jnp.maximum(jnp.maximum(r, g), b)
    span = value - jnp.minimum(jnp.minimum(r, g), b)
    sat = jnp.where(value > 0, span / jnp.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * jnp.where(span > 0, span, 1.0))
    hue = jnp.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = jnp.where(value == r, norm * (g - b), hue)
    hue = jnp.where(span > 0, hue, 0.0) + (hue < 0.0).astype(hue.dtype)
    return jnp.stack([hue, sat, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    """HSV in [0, 1] to RGB (``keras.ops.image.hsv_to_rgb``).

    >>> from lamina import ops
    >>> ops.image.hsv_to_rgb(ops.convert_to_tensor([[[0.0, 1.0, 1.0]]])).tolist()
    [[[1.0, 0.0, 0.0]]]
    """
    x, axis = _float_images(images, _fmt(data_format))
    h, s, v = (jnp.take(x, i, axis=axis) for i in range(3))
    dh = jnp.mod(h, 1.0) * 6.0
    dr = jnp.clip(jnp.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = jnp.clip(2.0 - jnp.abs(dh - 2.0), 0.0, 1.0)
    db = jnp.clip(2.0 - jnp.abs(dh - 4.0), 0.0, 1.0)
    return jnp.stack([v * (1.0 - s + s * d) for d in (dr, dg, db)], axis=axis)
