"""Geometric operations on ``xyxy`` boxes: clipping, cropping, padding and affine maps.

These are ``keras.utils.bounding_boxes.clip_to_image_size``, ``crop``, ``pad`` and
``affine_transform``, computed as Keras's ``BoundingBox`` computes them.

>>> import numpy as np
>>> from lamina.utils.bounding_boxes import pad
>>> pad(np.array([[1.0, 2.0, 3.0, 4.0]]), top=10, left=20).tolist()
[[21.0, 12.0, 23.0, 14.0]]
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from lamina.utils.bounding_boxes.formats import join, keras_broadcasting, split4


def _xyxy_only(name, bounding_box_format):
    if bounding_box_format != "xyxy":
        # Keras raises a bare NotImplementedError here; Lamina says why.
        raise NotImplementedError(
            f"{name}() supports bounding_box_format='xyxy' only, as Keras's. Received: "
            f"bounding_box_format={bounding_box_format!r}. Convert the boxes first with "
            "convert_format(boxes, source, 'xyxy')."
        )


def _area(boxes):
    x1, y1, x2, y2 = split4(boxes)
    return (x2 - x1) * (y2 - y1)


@keras_broadcasting
def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips boxes to the image and sets the label of an emptied box to ``-1``.

    As ``keras.utils.bounding_boxes.clip_to_image_size``.

    Args:
        bounding_boxes: a dict with ``"boxes"`` (``(N, 4)`` or ``(batch, N, 4)``) and
            optionally ``"labels"`` (``(N,)`` or ``(batch, N)``).
        height: the image height (required for ``"xyxy"``).
        width: the image width (required for ``"xyxy"``).
        bounding_box_format: ``"xyxy"`` (default) or ``"rel_xyxy"`` (clipped to ``[0, 1]``).

    Returns:
        A new dict with the clipped boxes (and labels).

    Raises:
        NotImplementedError: for another format, as Keras.
        ValueError: for ``"xyxy"`` without ``height`` and ``width``.

    >>> import numpy as np
    >>> out = clip_to_image_size({"boxes": np.array([[-10.0, -20, 150, 160], [5, 5, 5, 9]]),
    ...                           "labels": np.array([0, 1])}, height=100, width=120)
    >>> out["boxes"].tolist(), out["labels"].tolist()
    ([[0.0, 0.0, 120.0, 100.0], [5.0, 5.0, 5.0, 9.0]], [0, -1])
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(
            "clip_to_image_size() supports bounding_box_format 'xyxy' or 'rel_xyxy', as "
            f"Keras's. Received: bounding_box_format={bounding_box_format!r}."
        )
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`.")
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes:
        raise ValueError(
            "clip_to_image_size() expects a dict with 'boxes' (and 'labels'). Received: "
            f"{type(bounding_boxes).__name__}. Pass {{'boxes': boxes, 'labels': labels}}."
        )
    boxes = jnp.asarray(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels")
    if bounding_box_format == "xyxy":
        hi_x, hi_y = jnp.asarray(width).astype(boxes.dtype), jnp.asarray(height).astype(boxes.dtype)
    else:
        hi_x = hi_y = 1.0
    x1, y1, x2, y2 = split4(boxes)
    boxes = join([jnp.clip(x1, 0, hi_x), jnp.clip(y1, 0, hi_y),
                  jnp.clip(x2, 0, hi_x), jnp.clip(y2, 0, hi_y)])  # fmt: skip
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        result["labels"] = jnp.where(_area(boxes)[..., 0] > 0, jnp.asarray(labels), -1)
    return result


@keras_broadcasting
def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Moves boxes into a crop window's coordinates and clips them to it.

    As ``keras.utils.bounding_boxes.crop``.

    Args:
        boxes: ``xyxy`` boxes, ``(N, 4)`` or ``(batch, N, 4)``.
        top: the window's top offset.
        left: the window's left offset.
        height: the window's height (``None``: no upper clip).
        width: the window's width (``None``: no upper clip).
        bounding_box_format: ``"xyxy"`` (the only format Keras accepts).

    Returns:
        The cropped boxes.

    >>> import numpy as np
    >>> crop(np.array([[10.0, 20, 50, 60]]), top=10, left=20, height=40, width=30).tolist()
    [[0.0, 10.0, 30.0, 40.0]]
    """
    _xyxy_only("crop", bounding_box_format)
    x1, y1, x2, y2 = split4(jnp.asarray(boxes))
    return join([jnp.clip(x1 - left, 0, width), jnp.clip(y1 - top, 0, height),
                 jnp.clip(x2 - left, 0, width), jnp.clip(y2 - top, 0, height)])  # fmt: skip


@keras_broadcasting
def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Shifts boxes by a padding's ``top`` and ``left`` (as ``keras.utils.bounding_boxes.pad``).

    Args:
        boxes: ``xyxy`` boxes, ``(N, 4)`` or ``(batch, N, 4)``.
        top: the rows added above the image.
        left: the columns added left of the image.
        height: unused, as in Keras.
        width: unused, as in Keras.
        bounding_box_format: ``"xyxy"`` (the only format Keras accepts).

    Returns:
        The shifted boxes.

    >>> import numpy as np
    >>> pad(np.array([[0.0, 0, 2, 2]]), top=1, left=3).tolist()
    [[3.0, 1.0, 5.0, 3.0]]
    """
    _xyxy_only("pad", bounding_box_format)
    x1, y1, x2, y2 = split4(jnp.asarray(boxes))
    return join([x1 + left, y1 + top, x2 + left, y2 + top])


def inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x,
                          shear_y, height, width):  # fmt: skip
    """Keras's ``_compute_inverse_affine_matrix`` (TF's ``_get_inverse_affine_matrix``):
    one ``(3, 3)`` matrix per entry of ``angle`` (shape ``(batch,)``)."""
    angle = jnp.asarray(angle)
    batch, dtype = angle.shape[0], angle.dtype
    angle, shear_x, shear_y = -angle, -jnp.asarray(shear_x), -jnp.asarray(shear_y)
    cx = jnp.multiply(center_x, width - 1)
    cy = jnp.multiply(center_y, height - 1)
    rot = jnp.multiply(angle, 1.0 / 180.0 * math.pi)
    tx = jnp.multiply(-jnp.asarray(translate_x), width - 1)
    ty = jnp.multiply(-jnp.asarray(translate_y), height - 1)
    sx = jnp.multiply(shear_x, 1.0 / 180.0 * math.pi)
    sy = jnp.multiply(shear_y, 1.0 / 180.0 * math.pi)
    cos_sy, tan_sx = jnp.cos(sy), jnp.tan(sx)
    a = jnp.cos(rot - sy) / cos_sy
    b = a * tan_sx + jnp.sin(rot)
    c = -jnp.sin(rot - sy) / cos_sy
    d = jnp.cos(rot) - c * tan_sx
    a0, a1 = jnp.multiply(d, scale), jnp.multiply(-b, scale)
    b0, b1 = jnp.multiply(-c, scale), jnp.multiply(a, scale)
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    zeros, ones = jnp.zeros([batch], dtype), jnp.ones([batch], dtype)
    matrix = jnp.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ones], axis=-1)
    return jnp.reshape(matrix, [batch, 3, 3])


@keras_broadcasting
def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):  # fmt: skip
    """Maps batched boxes through an affine transform; each result is the moved corners' hull.

    As ``keras.utils.bounding_boxes.affine_transform``: ``angle`` and the other factors hold
    one value per image (shape ``(batch,)``); translations and the centre are fractions of the
    image size.

    Args:
        boxes: ``xyxy`` boxes of shape ``(batch, N, 4)``.
        angle: rotation in degrees, ``(batch,)``.
        translate_x: horizontal translation fraction, ``(batch,)``.
        translate_y: vertical translation fraction, ``(batch,)``.
        scale: scale factor, ``(batch,)``.
        shear_x: horizontal shear in degrees, ``(batch,)``.
        shear_y: vertical shear in degrees, ``(batch,)``.
        height: the image height.
        width: the image width.
        center_x: the transform's centre as a fraction of the width (default 0.5).
        center_y: the transform's centre as a fraction of the height (default 0.5).
        bounding_box_format: ``"xyxy"`` (the only format Keras accepts).

    Returns:
        The transformed boxes, ``(batch, N, 4)``.

    >>> import numpy as np
    >>> z = np.zeros(1, "float32")
    >>> affine_transform(np.array([[[1.0, 1, 3, 3]]]), z, z, z, np.ones(1, "float32"), z, z,
    ...                  11, 11).tolist()
    [[[1.0, 1.0, 3.0, 3.0]]]
    """
    _xyxy_only("affine_transform", bounding_box_format)
    boxes = jnp.asarray(boxes)
    if boxes.ndim != 3:
        raise ValueError(
            "affine_transform() expects batched boxes of shape (batch, N, 4). Received: "
            f"boxes.shape={boxes.shape}. Add a batch axis (boxes[None])."
        )
    batch, n = boxes.shape[0], boxes.shape[1]
    matrix = inverse_affine_matrix(0.5 if center_x is None else center_x,
                                   0.5 if center_y is None else center_y, angle, translate_x,
                                   translate_y, scale, shear_x, shear_y, height, width)  # fmt: skip
    boxes = boxes.astype(matrix.dtype)
    t = jnp.transpose(matrix[:, :2, :], [0, 2, 1])
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    corners = jnp.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=-1).reshape(batch, n, 4, 2)
    corners = jnp.concatenate([corners, jnp.ones([batch, n, 4, 1], corners.dtype)], axis=-1)
    moved = jnp.einsum("bnxy,byz->bnxz", corners, t)
    return jnp.concatenate([jnp.min(moved, axis=2), jnp.max(moved, axis=2)], axis=-1)
