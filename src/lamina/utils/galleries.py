"""Image galleries with matplotlib (as ``keras.visualization``'s ``plot_image_gallery``,
``plot_bounding_box_gallery`` and ``plot_segmentation_mask_gallery``); matplotlib is an
optional extra, imported when a gallery is drawn.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from lamina.utils.draw_boxes import draw_bounding_boxes, image_axes
from lamina.utils.draw_masks import draw_segmentation_masks


def _pyplot(name):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            f"The `{name}` function requires the `matplotlib` package. Please install it with "
            "`pip install \"lamina[plot]\"` (or `pip install matplotlib`)."
        ) from None
    return plt


def _batched(images):
    shape = np.shape(images)
    if len(shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: images.shape={shape}")
    return np.asarray(images)


def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True,
                       dpi=60, legend_handles=None, data_format=None):  # fmt: skip
    """Shows (or saves) a grid of images with optional class titles, as Keras.

    Args:
        images: a batch of images, ``(batch, height, width, channels)``.
        y_true: true class ids, one per image (titles, with ``label_map``).
        y_pred: predicted class ids, one per image.
        label_map: class id to name; required with ``y_true`` or ``y_pred``.
        rows: grid rows (default: ``ceil(sqrt(batch))``).
        cols: grid columns (default: ``batch // rows``).
        value_range: the images' value range, rescaled to ``(0, 255)``.
        scale: inches per image.
        path: save the figure there instead of showing it.
        show: show the figure (default: when ``path`` is not given).
        transparent: save with a transparent background.
        dpi: the saved figure's resolution.
        legend_handles: matplotlib handles for a legend.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: the global one).

    Raises:
        ImportError: without matplotlib.
        ValueError: both ``path`` and ``show``, titles without ``label_map``, images not
            batched.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> plot_image_gallery(np.zeros((4, 8, 8, 3)), path=path)
    >>> os.path.exists(path)
    True
    """
    plt = _pyplot("plot_image_gallery")
    if path is not None and show:
        raise ValueError("plot_gallery() expects either `path` to be set, or `show` to be true.")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError(
            "If `y_true` or `y_pred` are provided, a `label_map` must also be provided."
        )
    show = show if show is not None else path is None
    shape = np.shape(images)
    batch = shape[0] if len(shape) == 4 else 1
    rows = rows or int(math.ceil(math.sqrt(batch)))
    cols = cols or int(math.ceil(batch // rows))
    if len(shape) != 4:
        raise ValueError(
            "`plot_images_gallery()` requires you to batch your `np.array` samples together."
        )
    images = np.asarray(images)[: min(rows * cols, batch)].astype("float32")
    if image_axes(data_format) == (-2, -1):
        images = images.transpose(0, 2, 3, 1)
    fig, axes = plt.subplots(nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale),
                             frameon=False, layout="tight", squeeze=True, sharex="row",
                             sharey="col")  # fmt: skip
    fig.subplots_adjust(wspace=0, hspace=0)
    if isinstance(axes, np.ndarray) and axes.ndim == 1:
        axes = np.expand_dims(axes, 0 if rows == 1 else -1)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    low, high = (float(v) for v in value_range)
    if (low, high) != (0.0, 255.0):
        images = (images - low) / (high - low) * 255.0
    y_true = None if y_true is None else np.asarray(y_true)
    y_pred = None if y_pred is None else np.asarray(y_pred)
    for row in range(rows):
        for col in range(cols):
            index = row * cols + col
            axis = axes[row, col] if isinstance(axes, np.ndarray) else axes
            axis.imshow(images[index].astype("uint8"))
            axis.margins(x=0, y=0)
            axis.axis("off")
            title = []
            if y_true is not None and index < len(y_true):
                title.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
            if y_pred is not None and index < len(y_pred):
                title.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
            if title:
                axis.set_title("  ".join(title), fontsize=8)
    if path is not None:
        plt.savefig(fname=path, pad_inches=0, bbox_inches="tight", transparent=transparent,
                    dpi=dpi)  # fmt: skip
        plt.close()
    elif show:
        plt.show()
        plt.close()


def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None, ground_truth_mapping=None,
                              prediction_mapping=None, legend=False, legend_handles=None,
                              rows=None, cols=None, data_format=None, **kwargs):  # fmt: skip
    """A gallery of images with their true and predicted boxes drawn, as Keras.

    Args:
        images: a batch of images.
        bounding_box_format: the boxes' format.
        y_true: a box dict (``"boxes"``, ``"labels"``) of true boxes, or ``None``.
        y_pred: a box dict of predicted boxes, or ``None``.
        value_range: the images' value range.
        true_color: the true boxes' RGB colour.
        pred_color: the predicted boxes' RGB colour.
        line_thickness: the boxes' line width.
        font_scale: the text size.
        text_thickness: the text's line width.
        class_mapping: class id to name for both kinds of boxes.
        ground_truth_mapping: class id to name for true boxes.
        prediction_mapping: class id to name for predicted boxes.
        legend: add a "Ground Truth" / "Prediction" legend.
        legend_handles: custom legend handles (not with ``legend``).
        rows: grid rows.
        cols: grid columns.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        **kwargs: passed on to :func:`plot_image_gallery` (``path``, ``show``, ``scale``...).

    Raises:
        ImportError: without matplotlib, or without OpenCV when boxes are given.
        ValueError: images not batched, or both ``legend`` and ``legend_handles``.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "b.png")
    >>> plot_bounding_box_gallery(np.zeros((2, 8, 8, 3)), "xyxy", path=path)
    >>> os.path.exists(path)
    True
    """
    _pyplot("plot_bounding_box_gallery")
    from matplotlib import patches

    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    images = _batched(images)
    if image_axes(data_format) == (-2, -1):
        images = images.transpose(0, 2, 3, 1)
    draw = functools.partial(draw_bounding_boxes, bounding_box_format=bounding_box_format,
                             line_thickness=line_thickness, text_thickness=text_thickness,
                             font_scale=font_scale, data_format="channels_last")  # fmt: skip
    if y_true is not None:
        images = draw(images, y_true, color=true_color, class_mapping=ground_truth_mapping)
    if y_pred is not None:
        images = draw(images, y_pred, color=pred_color, class_mapping=prediction_mapping)
    if legend:
        if legend_handles:
            raise ValueError(
                "Only pass `legend` OR `legend_handles` to "
                "`keras.visualization.plot_bounding_box_gallery()`."
            )
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    return plot_image_gallery(images, value_range=value_range, legend_handles=legend_handles,
                              rows=rows, cols=cols, data_format="channels_last", **kwargs)  # fmt: skip


def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):  # fmt: skip
    """A gallery with one row per image: the image, then its true and predicted masks painted.

    As ``keras.visualization.plot_segmentation_mask_gallery``.

    Args:
        images: a batch of images.
        num_classes: the number of mask classes.
        value_range: the images' value range.
        y_true: true integer masks ``(batch, height, width, 1)``, or ``None``.
        y_pred: predicted integer masks, or ``None``.
        color_mapping: class id to an RGB colour.
        blend: blend the paint with the images.
        alpha: the paint's weight.
        ignore_index: the mask value left unpainted.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        **kwargs: passed on to :func:`plot_image_gallery`.

    Raises:
        ImportError: without matplotlib.
        ValueError: images not batched.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s.png")
    >>> plot_segmentation_mask_gallery(np.zeros((2, 4, 4, 3)), 2,
    ...                                y_true=np.ones((2, 4, 4, 1), "int32"), path=path)
    >>> os.path.exists(path)
    True
    """
    _pyplot("plot_segmentation_mask_gallery")
    images = _batched(images)
    channels_first = image_axes(data_format) == (-2, -1)
    if channels_first:
        images = images.transpose(0, 2, 3, 1)
    draw = functools.partial(draw_segmentation_masks, num_classes=num_classes,
                             color_mapping=color_mapping, alpha=alpha, ignore_index=ignore_index,
                             blend=blend, data_format="channels_last")  # fmt: skip
    columns = [images]
    for masks in (y_true, y_pred):
        if masks is not None:
            masks = np.asarray(masks)
            if channels_first:
                masks = masks.transpose(0, 2, 3, 1)
            columns.append(draw(images, masks.astype("int32")))
    gallery = np.stack([column[i] for i in range(images.shape[0]) for column in columns], 0)
    return plot_image_gallery(gallery, value_range=value_range, rows=images.shape[0],
                              cols=len(columns), data_format="channels_last", **kwargs)  # fmt: skip
