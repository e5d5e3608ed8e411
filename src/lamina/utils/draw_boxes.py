"""``draw_bounding_boxes`` (as ``keras.visualization.draw_bounding_boxes``): boxes and class
names drawn onto a batch of images with OpenCV, which, as in Keras, is required.
"""

from __future__ import annotations

import numpy as np

from lamina.utils.bounding_boxes.formats import convert_format


def image_axes(data_format):
    """The height and width axes of a batch of images in ``data_format`` (``None``: global)."""
    if data_format is None:
        from lamina.backend.config import image_data_format

        data_format = image_data_format()
    return (-3, -2) if data_format == "channels_last" else (-2, -1)


def _cv2():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _text_location(x, y, font_scale, thickness):
    # Keras's placement: above the box when there is room, else inside its top-left corner.
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3


def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1,
                        font_scale=1.0, data_format=None):  # fmt: skip
    """Draws bounding boxes (and class names) on a batch of images, as Keras.

    Args:
        images: a batch of images, ``(batch, height, width, channels)``.
        bounding_boxes: a dict with ``"boxes"`` ``(batch, N, 4)``, ``"labels"``
            ``(batch, N)`` (``-1``: no box) and optionally ``"confidences"``.
        bounding_box_format: the boxes' format (see ``convert_format``).
        class_mapping: class id to the name written by the box.
        color: the RGB colour of boxes and text.
        line_thickness: the boxes' line width.
        text_thickness: the text's line width.
        font_scale: the text size.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: the global one).

    Returns:
        A uint8 NumPy array of the annotated images.

    Raises:
        ImportError: when OpenCV (``cv2``) is not installed, as Keras.
        ValueError: images not batched, or a dict without ``"boxes"`` and ``"labels"``.
        TypeError: ``bounding_boxes`` not a dict.

    >>> import numpy as np
    >>> try:
    ...     out = draw_bounding_boxes(np.zeros((1, 8, 8, 3)), {"boxes": np.array([[[1, 1, 5, 5]]]),
    ...                               "labels": np.array([[0]])}, "xyxy")
    ... except ImportError:
    ...     out = np.zeros((1, 8, 8, 3), "uint8")  # OpenCV is not installed
    >>> out.shape
    (1, 8, 8, 3)
    """
    cv2 = _cv2()
    if cv2 is None:
        raise ImportError(
            "The `draw_bounding_boxes` function requires the `cv2` package (OpenCV). Please "
            'install it with `pip install "lamina[image]"` (or `pip install opencv-python`).'
        )
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    shape = np.shape(images)
    if len(shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: images.shape={shape}")
    if not isinstance(bounding_boxes, dict):
        raise TypeError(
            f"`bounding_boxes` should be a dict. Received: bounding_boxes={bounding_boxes} of "
            f"type {type(bounding_boxes)}"
        )
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError(
            "`bounding_boxes` should be a dict containing 'boxes' and 'labels' keys. "
            f"Received: bounding_boxes={bounding_boxes}"
        )
    ha, wa = image_axes(data_format)
    bbs = convert_format(dict(bounding_boxes), bounding_box_format, "xyxy", shape[ha], shape[wa])
    images = np.array(images)
    if images.dtype.kind == "f" and images.size > 0:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    images = images.astype("uint8")
    boxes, labels = np.asarray(bbs["boxes"]), np.asarray(bbs["labels"])
    confidences = bbs.get("confidences")
    confidences = None if confidences is None else np.asarray(confidences)
    result = []
    for i in range(images.shape[0]):
        image = images[i]
        for j in range(boxes[i].shape[0]):
            x1, y1, x2, y2 = (int(v) for v in boxes[i][j].astype("int32"))
            c = int(labels[i][j].astype("int32"))
            if c == -1:  # a padding box
                continue
            cv2.rectangle(image, (x1, y1), (x2, y2), color, line_thickness)
            if c in class_mapping:
                label = class_mapping[c]
                if confidences is not None:
                    label = f"{label} | {confidences[i][j]:.2f}"
                cv2.putText(img=image, text=label,
                            org=_text_location(x1, y1, font_scale, text_thickness),
                            fontFace=cv2.FONT_HERSHEY_SIMPLEX, fontScale=font_scale,
                            color=color, thickness=text_thickness)  # fmt: skip
        result.append(image)
    return np.stack(result, axis=0)
