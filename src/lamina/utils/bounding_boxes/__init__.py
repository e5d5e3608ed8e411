"""Bounding-box utilities (``lamina.utils.bounding_boxes``, as ``keras.utils.bounding_boxes``).

Format conversion, clipping, cropping, padding, affine maps, anchor deltas and IoU, computed
as Keras 3 computes them.

>>> import numpy as np
>>> from lamina.utils import bounding_boxes
>>> bounding_boxes.convert_format(np.array([[0.0, 0, 4, 2]]), "xyxy", "center_yxhw").tolist()
[[1.0, 2.0, 2.0, 4.0]]
"""

from lamina.utils.bounding_boxes.deltas import decode_deltas_to_boxes, encode_box_to_deltas
from lamina.utils.bounding_boxes.formats import convert_format
from lamina.utils.bounding_boxes.iou import compute_ciou, compute_iou
from lamina.utils.bounding_boxes.transforms import (
    affine_transform,
    clip_to_image_size,
    crop,
    pad,
)

__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]
