"""``lamina.visualization`` stands for ``keras.visualization`` (bounding box, segmentation
mask and image gallery plots), which Lamina does not support: each of its Keras names
raises ``UnsupportedKerasAPIError`` here.

>>> import lamina
>>> try:
...     lamina.visualization.plot_image_gallery
... except NotImplementedError as e:
...     print(str(e).split(":")[0])
keras.visualization.plot_image_gallery is not supported by Lamina
"""

from lamina._unsupported import namespace_getattr

#: Keras 3's public names in keras.visualization.
_KERAS_NAMES = """draw_bounding_boxes draw_segmentation_masks plot_bounding_box_gallery
    plot_image_gallery plot_segmentation_mask_gallery"""

__getattr__ = namespace_getattr(
    "visualization",
    _KERAS_NAMES,
    "plot images with matplotlib directly (the arrays are NumPy-compatible)",
)
