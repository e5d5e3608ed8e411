"""Box overlaps: pairwise IoU (``compute_iou``) and Complete IoU (``compute_ciou``), as Keras.

>>> import numpy as np
>>> from lamina.utils.bounding_boxes import compute_iou
>>> a = np.array([[0.0, 0, 2, 2]])
>>> round(float(compute_iou(a, np.array([[1.0, 0, 3, 2]]), "xyxy")[0, 0]), 4)
0.3333
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from lamina.backend.config import epsilon
from lamina.utils.bounding_boxes.formats import convert_format, keras_broadcasting, split4


def _area(boxes):
    y1, x1, y2, x2 = split4(boxes[..., :4])
    return jnp.squeeze((y2 - y1) * (x2 - x1), axis=-1)


def _intersection(boxes1, boxes2):
    y_min1, x_min1, y_max1, x_max1 = split4(boxes1[..., :4])
    y_min2, x_min2, y_max2, x_max2 = split4(boxes2[..., :4])
    perm = [1, 0] if boxes2.ndim == 2 else [0, 2, 1]
    height = jnp.minimum(y_max1, jnp.transpose(y_max2, perm)) - jnp.maximum(
        y_min1, jnp.transpose(y_min2, perm)
    )
    width = jnp.minimum(x_max1, jnp.transpose(x_max2, perm)) - jnp.maximum(
        x_min1, jnp.transpose(x_min2, perm)
    )
    zero = jnp.zeros((), height.dtype)
    return jnp.maximum(zero, height) * jnp.maximum(zero, width)


def _rank_error(which, r1, r2):
    return ValueError(
        f"compute_iou() expects {which} to be batched, or to be unbatched. Received "
        f"len(boxes1.shape)={r1}, len(boxes2.shape)={r2}. Expected either "
        f"len({which}.shape)=2 or len({which}.shape)=3."
    )


@keras_broadcasting
def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):  # fmt: skip
    """The pairwise IoU table of two box sets (as ``keras.utils.bounding_boxes.compute_iou``).

    ``(M, 4)`` and ``(N, 4)`` give ``(M, N)``; with a batch axis on either, ``(batch, M, N)``.

    Args:
        boxes1: boxes, ``(M, 4)`` or ``(batch, M, 4)``.
        boxes2: boxes, ``(N, 4)`` or ``(batch, N, 4)``.
        bounding_box_format: the boxes' format.
        use_masking: give ``mask_val`` to pairs where either box has all coordinates below 0.
        mask_val: the value of masked pairs (default -1).
        image_shape: ``(height, width, channels)``, required for relative formats.

    Returns:
        The IoU table.

    Raises:
        ValueError: for boxes of another rank, or a relative format without ``image_shape``.

    >>> import numpy as np
    >>> compute_iou(np.array([[0.0, 0, 1, 1]]), np.array([[0.0, 0, 1, 1]]), "yxyx").shape
    (1, 1)
    """
    r1, r2 = len(jnp.shape(boxes1)), len(jnp.shape(boxes2))
    if r1 not in (2, 3):
        raise _rank_error("boxes1", r1, r2)
    if r2 not in (2, 3):
        raise _rank_error("boxes2", r1, r2)
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError(
            "When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` "
            f"argument must be provided. Received `image_shape`: {image_shape}"
        )
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    # Keras measures in yxyx; the areas and overlaps are the same in either corner order.
    boxes1 = convert_format(boxes1, bounding_box_format, "yxyx", height, width)
    boxes2 = convert_format(boxes2, bounding_box_format, "yxyx", height, width)
    inter = _intersection(boxes1, boxes2)
    area1 = jnp.expand_dims(_area(boxes1), -1)
    area2 = _area(boxes2)
    area2 = jnp.expand_dims(area2, 1 if area2.ndim == 2 else 0)
    res = jnp.divide(inter, area1 + area2 - inter + epsilon())
    if not use_masking:
        return res
    perm = [1, 0] if r1 == 2 else [0, 2, 1]
    mask1 = jnp.max(boxes1, axis=-1, keepdims=True) < 0.0
    mask2 = jnp.max(boxes2, axis=-1, keepdims=True) < 0.0
    masked = jnp.asarray(mask_val).astype(res.dtype) * jnp.ones_like(res)
    return jnp.where(jnp.logical_or(mask1, jnp.transpose(mask2, perm)), masked, res)


@keras_broadcasting
def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """The Complete IoU of matching boxes (as ``keras.utils.bounding_boxes.compute_ciou``).

    CIoU is the IoU less the squared centre distance over the enclosing box's squared
    diagonal, less an aspect-ratio term.

    Args:
        boxes1: boxes, ``(..., 4)``.
        boxes2: boxes, ``(..., 4)`` (broadcast against ``boxes1``).
        bounding_box_format: an absolute format (Keras refuses relative ones here).
        image_shape: unused for absolute formats, as in Keras.

    Returns:
        The CIoU of each pair, shape ``(...)``.

    Raises:
        ValueError: for a relative format, as Keras.

    >>> import numpy as np
    >>> round(float(compute_ciou(np.array([0.0, 0, 2, 2]), np.array([0.0, 0, 2, 2]), "xyxy")), 4)
    1.0
    """
    if "rel" in bounding_box_format:
        raise ValueError(
            "When using relative bounding box formats (e.g. `rel_yxyx`) the `image_shape` "
            f"argument must be provided. Received `image_shape`: {image_shape}. Keras's "
            "compute_ciou() takes absolute formats only: convert the boxes first."
        )
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    x_min1, y_min1, x_max1, y_max1 = split4(boxes1[..., :4])
    x_min2, y_min2, x_max2, y_max2 = split4(boxes2[..., :4])
    eps = epsilon()
    w1, h1 = x_max1 - x_min1, y_max1 - y_min1 + eps
    w2, h2 = x_max2 - x_min2, y_max2 - y_min2 + eps
    inter = jnp.maximum(jnp.minimum(x_max1, x_max2) - jnp.maximum(x_min1, x_min2), 0) * (
        jnp.maximum(jnp.minimum(y_max1, y_max2) - jnp.maximum(y_min1, y_min2), 0)
    )
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = jnp.squeeze(jnp.divide(inter, union + eps), axis=-1)
    cw = jnp.maximum(x_max1, x_max2) - jnp.minimum(x_min1, x_min2)
    ch = jnp.maximum(y_max1, y_max2) - jnp.minimum(y_min1, y_min2)
    diagonal = jnp.squeeze(cw**2 + ch**2 + eps, axis=-1)
    centres = jnp.squeeze(
        ((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
        + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2,
        axis=-1,
    )
    v = jnp.squeeze(
        (4 / math.pi**2) * jnp.power(jnp.arctan(w2 / h2) - jnp.arctan(w1 / h1), 2), axis=-1
    )
    alpha = v / (v - iou + (1 + eps))
    return iou - (centres / diagonal + v * alpha)
