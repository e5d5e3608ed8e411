"""Keras 3's bounding-box formats and the conversions between them (``convert_format``).

Every conversion goes through ``xyxy`` (absolute ``[left, top, right, bottom]`` pixels), as
Keras's ``BoundingBox.convert_format`` does, so the numbers match Keras's to the last bit on the
same inputs.

>>> import numpy as np
>>> from lamina.utils.bounding_boxes import convert_format
>>> convert_format(np.array([[10, 20, 30, 40]]), "xyxy", "xywh").tolist()
[[10.0, 20.0, 20.0, 20.0]]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

#: Keras 3's box formats (``keras.src...bounding_boxes.bounding_box.SUPPORTED_FORMATS``).
SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def keras_broadcasting(fn):
    """Runs ``fn`` with NumPy's rank promotion, which Keras's box maths relies on (unbatched
    anchors against batched boxes, ``(N, 1)`` against ``(batch, 1, M)``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.numpy_rank_promotion("allow"):
            return fn(*args, **kwargs)

    return wrapper


def split4(boxes):
    """The four coordinates of ``boxes`` (``(..., 4)``), each kept as ``(..., 1)``."""
    return [boxes[..., i : i + 1] for i in range(4)]


def join(parts):
    return jnp.concatenate(parts, axis=-1)


def _to_xyxy(fmt, boxes, height, width):
    a, b, c, d = split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return join([b, a, d, c])
    if fmt == "xywh":
        return join([a, b, a + c, b + d])
    if fmt == "center_xywh":
        return join([a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0])
    if fmt == "center_yxhw":
        return join([b - d / 2.0, a - c / 2.0, b + d / 2.0, a + c / 2.0])
    if fmt == "rel_xyxy":
        return join([a * width, b * height, c * width, d * height])
    if fmt == "rel_yxyx":
        return join([b * width, a * height, d * width, c * height])
    if fmt == "rel_xywh":
        return join([a * width, b * height, (a + c) * width, (b + d) * height])
    # rel_center_xywh
    return join([(a - c / 2.0) * width, (b - d / 2.0) * height,
                 (a + c / 2.0) * width, (b + d / 2.0) * height])  # fmt: skip


def _from_xyxy(fmt, boxes, height, width):
    x1, y1, x2, y2 = split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return join([y1, x1, y2, x2])
    if fmt == "xywh":
        return join([x1, y1, x2 - x1, y2 - y1])
    cx, cy = x1 + (x2 - x1) / 2.0, y1 + (y2 - y1) / 2.0
    if fmt == "center_xywh":
        return join([cx, cy, x2 - x1, y2 - y1])
    if fmt == "center_yxhw":
        return join([cy, cx, y2 - y1, x2 - x1])
    if fmt == "rel_xyxy":
        return join([x1 / width, y1 / height, x2 / width, y2 / height])
    if fmt == "rel_yxyx":
        return join([y1 / height, x1 / width, y2 / height, x2 / width])
    if fmt == "rel_xywh":
        return join([x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height])
    # rel_center_xywh
    return join([cx / width, cy / height, (x2 - x1) / width, (y2 - y1) / height])


@keras_broadcasting
def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts bounding boxes between formats (as ``keras.utils.bounding_boxes.convert_format``).

    Formats (case-insensitive): ``"xyxy"`` ``[left, top, right, bottom]``, ``"yxyx"``,
    ``"xywh"`` ``[left, top, width, height]``, ``"center_xywh"``, ``"center_yxhw"``, and the
    relative ``"rel_xyxy"``, ``"rel_yxyx"``, ``"rel_xywh"``, ``"rel_center_xywh"`` (coordinates
    divided by the image's ``width`` and ``height``).

    Args:
        boxes: an array of shape ``(..., 4)``, or a dict with ``"boxes"`` (and ``"labels"``),
            whose ``"boxes"`` entry is converted in place and the dict returned, as in Keras.
        source: the format of ``boxes``.
        target: the format to return.
        height: the image height (required when either format is relative).
        width: the image width (required when either format is relative).
        dtype: the dtype of the result.

    Returns:
        The converted boxes (or the dict holding them).

    Raises:
        ValueError: for a last dimension other than 4, an unknown format, or a relative
            format without ``height`` and ``width``.

    >>> import numpy as np
    >>> convert_format(np.array([[0.1, 0.2, 0.5, 0.6]]), "rel_xyxy", "center_xywh",
    ...                height=10, width=100).tolist()
    [[30.0, 4.0, 40.0, 4.0]]
    """
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return boxes
    shape = jnp.shape(boxes)
    if not shape or shape[-1] != 4:
        raise ValueError(
            "`boxes` must be a tensor with the last dimension of 4. "
            f"Received: boxes.shape={shape}"
        )
    if not isinstance(source, str) or not isinstance(target, str):
        raise ValueError(
            f"`source` and `target` must be format strings, one of {SUPPORTED_FORMATS}. "
            f"Received: source={source!r}, target={target!r}"
        )
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(
            f"Invalid source or target format. Supported formats: {SUPPORTED_FORMATS}. "
            f"Received: source={source!r}, target={target!r}"
        )
    if (source.startswith("rel_") or target.startswith("rel_")) and (
        width is None or height is None
    ):
        raise ValueError(
            "convert_format() must receive `height` and `width` when converting between "
            f"relative and absolute formats. Received: source={source!r}, target={target!r}, "
            f"height={height}, width={width}. Pass the image's height and width."
        )
    boxes = jnp.asarray(boxes).astype(dtype)
    if source == target:
        return boxes
    width = None if width is None else jnp.asarray(width).astype(dtype)
    height = None if height is None else jnp.asarray(height).astype(dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        # Keras converts between two relative formats without leaving the unit square.
        source, target = source[4:], target[4:]
    return _from_xyxy(target, _to_xyxy(source, boxes, height, width), height, width)
