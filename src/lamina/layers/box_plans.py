"""How each geometric image layer moves bounding boxes with its images (Keras 3's
``transform_bounding_boxes`` of Resizing, CenterCrop, RandomFlip, RandomCrop,
RandomTranslation, RandomZoom and RandomRotation), for ``lamina.layers.box_data``. The other
augmentation layers' plans are in ``box_plans_aug`` and ``box_plans_policy``.

A *plan* draws a layer's transformation once and returns the transformed image batch with two
functions that apply the same transformation to a batch of boxes (a dict with ``"boxes"``
``(batch, N, 4)`` in the layer's ``bounding_box_format`` and ``"labels"``) and to a batch of
segmentation masks. The box maths follow Keras's formulas, with two deliberate differences:
RandomCrop moves boxes by the crop window (Keras 3.15 subtracts the vertical offset from x and
does not clip), and RandomRotation reads boxes in the layer's format (Keras's assumes
``xyxy``).

>>> import numpy as np, lamina
>>> flip = lamina.layers.RandomFlip("horizontal", bounding_box_format="xyxy")
>>> out = flip({"images": np.zeros((1, 4, 10, 1), "float32"),
...             "bounding_boxes": {"boxes": np.array([[[0.0, 0, 2, 4]]]), "labels": [[0]]}},
...            training=False)
>>> out["bounding_boxes"]["boxes"].tolist()
[[[0.0, 0.0, 2.0, 4.0]]]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lamina.utils.bounding_boxes.formats import convert_format, join, split4
from lamina.utils.bounding_boxes.transforms import affine_transform, clip_to_image_size


class Plan(NamedTuple):
    images: Any
    boxes: Any  # bounding-box dict -> bounding-box dict
    masks: Any  # masks batch -> masks batch
    labels: Any = None  # class labels -> class labels (None: passed through, as geometry does)


def _same(value):
    return value


def _hw(layer, batch):
    ha, wa = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    return batch.shape[ha], batch.shape[wa]


def _convert(bbs, source, target, height, width):
    return convert_format(dict(bbs), source, target, height=height, width=width)


# ------------------------------------------------------------------------- Resizing
def resize_boxes(layer, bbs, in_h, in_w):
    """Keras's ``Resizing.transform_bounding_boxes`` (stretch, crop or pad to aspect ratio)."""
    fmt = layer.bounding_box_format
    with jax.numpy_rank_promotion("allow"):
        raw = bbs["boxes"]
        padding = jnp.all(raw == -1, axis=-1) | jnp.all(raw == 0, axis=-1)
        bbs = _convert(bbs, fmt, "xyxy", in_h, in_w)
        b = bbs["boxes"]
        ih, iw = jnp.asarray(in_h, b.dtype), jnp.asarray(in_w, b.dtype)
        x1, y1, x2, y2 = (b[..., i] for i in range(4))
        if layer.pad_to_aspect_ratio:
            r = jnp.minimum(jnp.asarray(layer.height / ih, b.dtype),
                            jnp.asarray(layer.width / iw, b.dtype))  # fmt: skip
            dy, dx = (layer.height - ih * r) // 2, (layer.width - iw * r) // 2
            b = jnp.stack([x1 * r + dx, y1 * r + dy, x2 * r + dx, y2 * r + dy], axis=-1)
        elif layer.crop_to_aspect_ratio:
            source, target = iw / ih, layer.width / layer.height
            new_w = jnp.where(source > target, layer.height * source, layer.width)
            new_h = jnp.where(source > target, layer.height, layer.width / source)
            sx, sy = new_w / iw, new_h / ih
            left, top = (new_w - layer.width) // 2, (new_h - layer.height) // 2
            b = jnp.stack([x1 * sx - left, y1 * sy - top, x2 * sx - left, y2 * sy - top], -1)
        else:
            ry = jnp.asarray(layer.height / ih, b.dtype)
            rx = jnp.asarray(layer.width / iw, b.dtype)
            b = jnp.stack([x1 * rx, y1 * ry, x2 * rx, y2 * ry], axis=-1)
        bbs["boxes"] = b
        bbs = clip_to_image_size(bbs, layer.height, layer.width)
        bbs["boxes"] = jnp.where(padding[..., None], jnp.zeros(4, b.dtype), bbs["boxes"])
    return _convert(bbs, "xyxy", fmt, layer.height, layer.width)


def _resizing(layer, image_apply, params, state, batch, training, key):
    from lamina.layers.augmentation import resize_images

    images, _ = image_apply(params, state, batch, training=training, key=key)
    in_h, in_w = _hw(layer, batch)

    def masks(m):
        return resize_images(m, layer.height, layer.width, "nearest", layer.data_format,
                             layer.crop_to_aspect_ratio, pad_to_aspect_ratio=layer.pad_to_aspect_ratio,
                             fill_value=layer.fill_value)  # fmt: skip

    return Plan(images, lambda bbs: resize_boxes(layer, bbs, in_h, in_w), masks)


# ------------------------------------------------------------------------ CenterCrop
def _clip_window(bbs, top, left, bottom, right):
    x1, y1, x2, y2 = split4(bbs["boxes"])
    bbs = dict(bbs)
    bbs["boxes"] = join([jnp.clip(x1, left, right) - left, jnp.clip(y1, top, bottom) - top,
                         jnp.clip(x2, left, right) - left, jnp.clip(y2, top, bottom) - top])
    return bbs  # fmt: skip


def center_crop_boxes(layer, bbs, in_h, in_w):
    """Keras's ``CenterCrop.transform_bounding_boxes``."""
    fmt, th, tw = layer.bounding_box_format, layer.height, layer.width
    bbs = _convert(bbs, fmt, "xyxy", in_h, in_w)
    if in_h >= th and in_w >= tw:
        top, left = int((in_h - th) / 2), int((in_w - tw) / 2)
        bbs = _clip_window(bbs, top, left, top + th, left + tw)
    else:
        ch = max(min(in_h, int(float(in_w * th) / tw)), 1)
        cw = max(min(in_w, int(float(in_h * tw) / th)), 1)
        top, left = int(float(in_h - ch) / 2), int(float(in_w - cw) / 2)
        bbs = _clip_window(bbs, top, left, top + ch, left + cw)
        bbs = _convert(_convert(bbs, "xyxy", "rel_xyxy", ch, cw), "rel_xyxy", "xyxy", th, tw)
    bbs = clip_to_image_size(bbs, th, tw, bounding_box_format="xyxy")
    return _convert(bbs, "xyxy", fmt, th, tw)


def _center_crop(layer, image_apply, params, state, batch, training, key):
    images, _ = image_apply(params, state, batch, training=training, key=key)
    in_h, in_w = _hw(layer, batch)

    def masks(m):
        return image_apply(params, state, m, training=training, key=key)[0]

    return Plan(images, lambda bbs: center_crop_boxes(layer, bbs, in_h, in_w), masks)


# ------------------------------------------------------------------------ RandomFlip
def flip_boxes(layer, bbs, flips, in_h, in_w):
    """Keras's ``RandomFlip.transform_bounding_boxes``; ``flips`` has one boolean per image."""
    fmt = layer.bounding_box_format
    flips = jnp.reshape(flips, (-1, 1, 1))
    bbs = _convert(bbs, fmt, "rel_xyxy", in_h, in_w)
    b = bbs["boxes"]
    with jax.numpy_rank_promotion("allow"):
        if layer.mode in ("horizontal", "horizontal_and_vertical"):
            x1, y1, x2, y2 = split4(b)
            b = jnp.where(flips, join([1 - x2, y1, 1 - x1, y2]), b)
        if layer.mode in ("vertical", "horizontal_and_vertical"):
            x1, y1, x2, y2 = split4(b)
            b = jnp.where(flips, join([x1, 1 - y2, x2, 1 - y1]), b)
    bbs["boxes"] = b
    # Keras clips these relative boxes as absolute ones (to the image size), so they are
    # never clipped; only emptied boxes lose their label.
    bbs = clip_to_image_size(bbs, in_h, in_w, bounding_box_format="xyxy")
    return _convert(bbs, "rel_xyxy", fmt, in_h, in_w)


def _random_flip(layer, image_apply, params, state, batch, training, key):
    if not training or key is None:
        images, _ = image_apply(params, state, batch, training=training, key=key)
        return Plan(images, _same, _same)
    flips = jax.random.uniform(key, (batch.shape[0], 1, 1, 1)) <= 0.5
    in_h, in_w = _hw(layer, batch)
    return Plan(layer.transform_images(batch, flips),
                lambda bbs: flip_boxes(layer, bbs, flips, in_h, in_w),
                lambda m: layer.transform_images(jnp.asarray(m, jnp.float32), flips))  # fmt: skip


# ------------------------------------------------------------------------ RandomCrop
def window_boxes(bbs, fmt, in_h, in_w, top, left, win_h, win_w, out_h, out_w):
    """Boxes seen through a ``(win_h, win_w)`` window at ``(top, left)``, resized to
    ``(out_h, out_w)``; a box left with no area gets label ``-1``."""
    bbs = _convert(bbs, fmt, "xyxy", in_h, in_w)
    x1, y1, x2, y2 = split4(bbs["boxes"])
    sx, sy = out_w / win_w, out_h / win_h
    left, top = jnp.asarray(left, jnp.float32), jnp.asarray(top, jnp.float32)
    bbs["boxes"] = join([(x1 - left) * sx, (y1 - top) * sy, (x2 - left) * sx, (y2 - top) * sy])
    bbs = clip_to_image_size(bbs, out_h, out_w)
    return _convert(bbs, "xyxy", fmt, out_h, out_w)


def _random_crop(layer, image_apply, params, state, batch, training, key):
    h, w = _hw(layer, batch)
    th, tw, fmt = layer.height, layer.width, layer.bounding_box_format
    if training and key is not None and h > th and w > tw:
        kh, kw = jax.random.split(key)
        top = jax.random.randint(kh, (), 0, h - th + 1)
        left = jax.random.randint(kw, (), 0, w - tw + 1)
        window = (top, left, th, tw)
        images = layer.transform_images(batch, top, left)
        masks = lambda m: layer.transform_images(jnp.asarray(m, jnp.float32), top, left)  # noqa: E731
    else:
        images, _ = image_apply(params, state, batch, training=training, key=key)
        masks = lambda m: image_apply(params, state, m, training=training, key=key)[0]  # noqa: E731
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
        if training and key is not None:  # Keras 3's fallback: a target-sized slice
            window = (top, left, min(h, top + th) - top, min(w, left + tw) - left)
        else:  # the centred aspect-ratio window, resized (as Resizing(crop_to_aspect_ratio))
            window = (top, left, ch, cw)
    return Plan(images, lambda bbs: window_boxes(bbs, fmt, h, w, *window, th, tw), masks)


# --------------------------------------------------------- RandomTranslation / Zoom / Rotation
def _affine(boxes_fn):
    def plan(layer, image_apply, params, state, batch, training, key):
        from lamina.layers.random_affine import affine_transform as warp

        if not training or key is None:
            images, _ = image_apply(params, state, batch, training=training, key=key)
            return Plan(images, _same, _same)
        h, w = _hw(layer, batch)
        matrix = layer.transformation(key, batch.shape[0], h, w)

        def masks(m):
            return warp(jnp.asarray(m, jnp.float32), matrix, "nearest", layer.fill_mode,
                        layer.fill_value, layer.data_format)  # fmt: skip

        return Plan(layer.transform_images(batch, matrix),
                    lambda bbs: boxes_fn(layer, bbs, matrix, h, w), masks)  # fmt: skip

    return plan


def translate_boxes(layer, bbs, matrix, h, w):
    """Keras's ``RandomTranslation.transform_bounding_boxes`` for ``(batch, 8)`` matrices."""
    fmt = layer.bounding_box_format
    bbs = _convert(bbs, fmt, "xyxy", h, w)
    dx, dy = matrix[:, 2, None, None], matrix[:, 5, None, None]
    x1, y1, x2, y2 = split4(bbs["boxes"])
    with jax.numpy_rank_promotion("allow"):
        bbs["boxes"] = join([x1 - dx, y1 - dy, x2 - dx, y2 - dy])
    bbs = clip_to_image_size(bbs, h, w, bounding_box_format="xyxy")
    return _convert(bbs, "xyxy", fmt, h, w)


def zoom_boxes(layer, bbs, matrix, h, w):
    """Keras's ``RandomZoom.transform_bounding_boxes`` for ``(batch, 8)`` matrices."""
    fmt = layer.bounding_box_format
    bbs = _convert(bbs, fmt, "xyxy", h, w)
    w_start, h_start = matrix[:, 2, None, None], matrix[:, 5, None, None]
    w_end = matrix[:, 0, None, None] * w + w_start
    h_end = matrix[:, 4, None, None] * h + h_start
    with jax.numpy_rank_promotion("allow"):
        bbs = _clip_window(bbs, h_start, w_start, h_end, w_end)
        bbs = _convert(bbs, "xyxy", "rel_xyxy", h_end - h_start, w_end - w_start)
    bbs = clip_to_image_size(bbs, bounding_box_format="rel_xyxy")
    return _convert(bbs, "rel_xyxy", fmt, h, w)


def rotate_boxes(layer, bbs, matrix, h, w):
    """Keras's ``RandomRotation.transform_bounding_boxes`` (boxes read in the layer's format)."""
    fmt = layer.bounding_box_format
    bbs = _convert(bbs, fmt, "xyxy", h, w)
    angle = jnp.arctan2(matrix[:, 3], matrix[:, 0]) * (180.0 / math.pi)
    zeros, ones = jnp.zeros_like(angle), jnp.ones_like(angle)
    bbs["boxes"] = affine_transform(bbs["boxes"], angle, zeros, zeros, ones, zeros, zeros, h, w)
    bbs = clip_to_image_size(bbs, h, w, bounding_box_format="xyxy")
    return _convert(bbs, "xyxy", fmt, h, w)


def plan_for(layer):
    """The plan of ``layer``'s class (or its nearest built-in base class)."""
    from lamina.layers import augmentation, box_plans_aug, random_affine, random_augmentation

    plans = {
        augmentation.Resizing: _resizing,
        augmentation.CenterCrop: _center_crop,
        random_augmentation.RandomFlip: _random_flip,
        random_augmentation.RandomCrop: _random_crop,
        random_affine.RandomTranslation: _affine(translate_boxes),
        random_affine.RandomZoom: _affine(zoom_boxes),
        random_affine.RandomRotation: _affine(rotate_boxes),
        **box_plans_aug.augmentation_plans(),
    }
    for cls in type(layer).__mro__:
        if cls in plans:
            return plans[cls]
    raise ValueError(
        f"{type(layer).__name__} does not take Keras's data dict (images with bounding boxes "
        "or segmentation masks). Call it on the images alone."
    )
