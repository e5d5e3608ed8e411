"""``lamina.visualization`` (as ``keras.visualization``): image, bounding-box and
segmentation-mask galleries (matplotlib, an optional extra) and the drawing functions they use
(``draw_bounding_boxes`` needs OpenCV, as in Keras).

>>> import numpy as np
>>> from lamina.visualization import draw_segmentation_masks
>>> draw_segmentation_masks(np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 1), "int32"),
...                         num_classes=1).shape
(1, 2, 2, 3)
"""

from lamina.utils.draw_boxes import draw_bounding_boxes
from lamina.utils.draw_masks import draw_segmentation_masks
from lamina.utils.galleries import (
    plot_bounding_box_gallery,
    plot_image_gallery,
    plot_segmentation_mask_gallery,
)

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]
