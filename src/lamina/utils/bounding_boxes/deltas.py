"""Anchor-relative box encodings (``encode_box_to_deltas``, ``decode_deltas_to_boxes``).

As Keras's: boxes and anchors go to a centre format (``center_yxhw`` by default); a delta is
the centre offset over the anchor's size and the log of the size ratio, optionally divided by a
4-element ``variance``.

>>> import numpy as np
>>> from lamina.utils.bounding_boxes import decode_deltas_to_boxes, encode_box_to_deltas
>>> anchors = np.array([[0.0, 0, 10, 10]])
>>> d = encode_box_to_deltas(anchors, np.array([[1.0, 1, 11, 11]]), "xyxy", "xyxy")
>>> np.round(np.asarray(decode_deltas_to_boxes(anchors, d, "xyxy", "xyxy")), 4).tolist()
[[1.0, 1.0, 11.0, 11.0]]
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.backend.config import epsilon
from lamina.utils.bounding_boxes.formats import convert_format, keras_broadcasting

_CENTRE_FORMATS = ("center_xywh", "center_yxhw")


def _variance(variance):
    if variance is None:
        return None
    variance = jnp.asarray(variance, "float32")
    if variance.ndim == 0 or variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def _hw(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


@keras_broadcasting
def encode_box_to_deltas(anchors, boxes, anchor_format, box_format, encoding_format="center_yxhw",
                         variance=None, image_shape=None):  # fmt: skip
    """Encodes boxes as deltas from anchors (as ``keras.utils.bounding_boxes.encode_box_to_deltas``).

    Args:
        anchors: anchor boxes, ``(N, 4)``.
        boxes: boxes to encode, ``(N, 4)`` or ``(batch, N, 4)``.
        anchor_format: the format of ``anchors``.
        box_format: the format of ``boxes``.
        encoding_format: ``"center_yxhw"`` (default) or ``"center_xywh"``.
        variance: 4 factors the deltas are divided by, or ``None``.
        image_shape: ``(height, width, channels)``, needed for relative formats.

    Returns:
        The deltas, shaped as ``boxes``.

    Raises:
        ValueError: for a ``variance`` not of length 4 or another ``encoding_format``.

    >>> import numpy as np
    >>> encode_box_to_deltas(np.array([[0.0, 0, 10, 10]]), np.array([[0.0, 0, 10, 10]]),
    ...                      "xyxy", "xyxy").tolist()
    [[0.0, 0.0, 0.0, 0.0]]
    """
    variance = _variance(variance)
    if encoding_format not in _CENTRE_FORMATS:
        raise ValueError(
            "`encoding_format` should be one of 'center_xywh' or "
            f"'center_yxhw', got {encoding_format}"
        )
    height, width = _hw(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    anchor_size = jnp.maximum(anchors[..., 2:], epsilon())
    box_size = jnp.maximum(boxes[..., 2:], epsilon())
    deltas = jnp.concatenate(
        [(boxes[..., :2] - anchors[..., :2]) / anchor_size, jnp.log(box_size / anchor_size)],
        axis=-1,
    )
    return deltas if variance is None else deltas / variance


@keras_broadcasting
def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None,
                           image_shape=None):  # fmt: skip
    """Decodes deltas back to boxes (as ``keras.utils.bounding_boxes.decode_deltas_to_boxes``).

    Args:
        anchors: anchor boxes ``(N, 4)``, or a dict of them per feature level.
        boxes_delta: deltas ``(N, 4)`` or ``(batch, N, 4)``, or a dict keyed as ``anchors``.
        anchor_format: the format of ``anchors``.
        box_format: the format of the returned boxes.
        encoded_format: ``"center_yxhw"`` (default) or ``"center_xywh"``.
        variance: 4 factors the deltas are multiplied by first, or ``None``.
        image_shape: ``(height, width, channels)``, needed for relative formats.

    Returns:
        The boxes (a dict per level when the inputs are dicts).

    Raises:
        ValueError: for a ``variance`` not of length 4 or another ``encoded_format``.

    >>> import numpy as np
    >>> decode_deltas_to_boxes(np.array([[0.0, 0, 10, 10]]), np.zeros((1, 4)),
    ...                        "xyxy", "xywh").tolist()
    [[0.0, 0.0, 10.0, 10.0]]
    """
    variance = _variance(variance)
    if encoded_format not in _CENTRE_FORMATS:
        raise ValueError(
            "`encoded_format` should be 'center_xywh' or 'center_yxhw', "
            f"but got '{encoded_format}'."
        )
    height, width = _hw(image_shape)

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = jnp.asarray(delta)
        if variance is not None:
            delta = delta * variance
        box = jnp.concatenate(
            [delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
             jnp.exp(delta[..., 2:]) * anchor[..., 2:]],
            axis=-1,
        )  # fmt: skip
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)
