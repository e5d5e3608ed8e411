"""``MaxNumBoundingBoxes`` (as ``keras.layers.MaxNumBoundingBoxes``): pads or truncates the
boxes of a ``{"images", "bounding_boxes"}`` batch to a fixed number, so batches of images with
different box counts stack.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lamina.layers.base import Layer
from lamina.layers.box_data import densify_bounding_boxes, is_batched


def _fixed(array, max_number, fill_value):
    # (batch, n, ...) -> (batch, max_number, ...): cut the extra boxes, pad the missing ones.
    array = array[:, :max_number]
    pad = [(0, 0), (0, max_number - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return jnp.pad(array, pad, constant_values=fill_value)


class MaxNumBoundingBoxes(Layer):
    """Ensures the maximum number of bounding boxes (as ``keras.layers.MaxNumBoundingBoxes``).

    Boxes past ``max_number`` are dropped; missing ones are added with ``fill_value`` for both
    their coordinates and their label. Images, class labels and segmentation masks pass
    through unchanged.

    Args:
        max_number: the number of boxes per image in the output.
        fill_value: the value of the added boxes' coordinates and labels (default ``-1``).
        data_format: accepted as Keras's (images pass through unchanged).
        bounding_box_format: accepted as Keras's (saved in the config when set); the layer
            does not read the coordinates, so Lamina does not require it (Keras 3.15 does,
            although its own docstring example leaves it out).

    Raises:
        ValueError: for a ``max_number`` that is not a positive integer.

    >>> import numpy as np
    >>> layer = MaxNumBoundingBoxes(max_number=4)
    >>> out = layer({"images": np.zeros((1, 8, 8, 3), "float32"),
    ...              "bounding_boxes": {"boxes": np.array([[[1.0, 2, 3, 4]]]),
    ...                                 "labels": np.array([[7]])}})
    >>> out["bounding_boxes"]["labels"].tolist()
    [[7, -1, -1, -1]]
    """

    def __init__(self, max_number, fill_value=-1, bounding_box_format=None, data_format=None,
                 **kwargs: Any):  # fmt: skip
        from lamina.layers.augmentation import _check_format

        super().__init__(**kwargs)
        self.bounding_box_format = bounding_box_format
        self.data_format = _check_format(data_format)
        if isinstance(max_number, bool) or int(max_number) < 1:
            raise ValueError(
                "MaxNumBoundingBoxes's `max_number` must be a positive integer. Received: "
                f"max_number={max_number!r}"
            )
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def apply(self, params, state, x, *, training=False, key=None):
        if not isinstance(x, dict):
            return x, state  # images alone: nothing to do, as Keras
        if "images" not in x:
            raise ValueError(
                "MaxNumBoundingBoxes takes a dict with 'images' and 'bounding_boxes'. Received "
                f"keys: {sorted(x)}."
            )
        out = dict(x)
        if "bounding_boxes" in x:
            batched = is_batched(jnp.asarray(x["images"]), "MaxNumBoundingBoxes")
            bbs = densify_bounding_boxes(x["bounding_boxes"], "MaxNumBoundingBoxes")
            boxes, labels = bbs["boxes"], bbs["labels"]
            if not batched:
                boxes, labels = boxes[None], labels[None]
            boxes = _fixed(boxes, self.max_number, self.fill_value)
            labels = _fixed(labels, self.max_number, self.fill_value)
            bbs["boxes"], bbs["labels"] = (boxes, labels) if batched else (boxes[0], labels[0])
            out["bounding_boxes"] = bbs
        return out, state

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            extra = set(input_shape["bounding_boxes"]) - {"boxes", "labels"}
            if extra:
                raise KeyError(
                    f"There are unsupported keys in `bounding_boxes`: {sorted(extra)}. Only "
                    "`boxes` and `labels` are supported."
                )
            shapes = dict(input_shape)
            bbs = {}
            for name, shape in input_shape["bounding_boxes"].items():
                shape = list(shape)
                shape[1] = self.max_number
                bbs[name] = shape
            shapes["bounding_boxes"] = bbs
            return shapes
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(max_number=self.max_number, data_format=self.data_format)
        if self.fill_value != -1:  # Keras's config drops it; Lamina keeps a non-default one
            config["fill_value"] = self.fill_value
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config
