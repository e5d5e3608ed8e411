"""``draw_segmentation_masks`` (as ``keras.visualization.draw_segmentation_masks``): class
masks painted onto a batch of images, in NumPy.
"""

from __future__ import annotations

import numpy as np

from lamina.utils.draw_boxes import image_axes


def color_palette(num_classes):
    """Keras's default class colours (``_generate_color_palette``)."""
    palette = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [(i * palette % 255).tolist() for i in range(num_classes)]


def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):  # fmt: skip
    """Paints each class of integer masks onto a batch of images, as Keras.

    Args:
        images: a batch of images, ``(batch, height, width, channels)``.
        segmentation_masks: integer masks, ``(batch, height, width, 1)``.
        num_classes: the number of classes (default, as Keras: the largest mask value).
        color_mapping: class id to an RGB colour (default: Keras's palette).
        alpha: the paint's weight when blending.
        blend: blend the paint with the images (uint8 result) or return the painted images
            (float32).
        ignore_index: the mask value left unpainted.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: the global one).

    Returns:
        The painted images, a NumPy array.

    Raises:
        ValueError: images not batched.
        TypeError: masks not of an integer dtype.

    >>> import numpy as np
    >>> out = draw_segmentation_masks(np.zeros((1, 2, 2, 3)), np.ones((1, 2, 2, 1), "int32"),
    ...                               num_classes=2)
    >>> out.dtype, out.shape
    (dtype('uint8'), (1, 2, 2, 3))
    """
    shape = np.shape(images)
    if len(shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: images.shape={shape}")
    images = np.asarray(images, "float32")
    masks = np.asarray(segmentation_masks)
    if image_axes(data_format) == (-2, -1):
        images, masks = images.transpose(0, 2, 3, 1), masks.transpose(0, 2, 3, 1)
    if masks.dtype.kind not in "iu":
        raise TypeError(
            "`segmentation_masks` must be in integer dtype. Received: "
            f"segmentation_masks.dtype={masks.dtype}. Cast them, e.g. masks.astype('int32')."
        )
    if num_classes is None:
        num_classes = int(masks.max())
    colors = color_palette(num_classes) if color_mapping is None else [
        color_mapping[i] for i in range(num_classes)
    ]
    valid = np.squeeze(masks != ignore_index, axis=-1)
    painted = images.copy()
    for c, color in enumerate(colors):
        painted[masks[..., 0] == c, ...] = np.array(color, "float32")[None, :]
    if not blend:
        return painted
    out = images * (1 - alpha) + painted * alpha
    out = np.where(valid[..., None], out, images)
    return out.astype("uint8")
