"""Image preprocessing layers: Resizing and CenterCrop (as ``keras.layers``).

The random augmentation layers live in ``random_augmentation.py`` and ``random_affine.py``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers.base import Layer
from lamina.layers.box_data import BoundingBoxAware

# Keras 3's methods, then tf.keras 2's (TensorFlow's) others.
_METHODS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area", "gaussian",
            "mitchellcubic")  # fmt: skip


def _check_format(data_format):
    if data_format is None:  # Keras's global default (``set_image_data_format``)
        from lamina.backend.config import image_data_format

        data_format = image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "data_format must be 'channels_last' or 'channels_first'; received "
            f"{data_format!r}."
        )
    return data_format


def _hw_axes(ndim, data_format, layer):
    if ndim not in (3, 4):
        raise ValueError(
            f"{layer} expects images of rank 3 (one image) or 4 (a batch); received rank {ndim}."
        )
    return (ndim - 3, ndim - 2) if data_format == "channels_last" else (ndim - 2, ndim - 1)


def resize_images(x, height, width, interpolation, data_format, crop_to_aspect_ratio=False,
                  **options):
    """Keras's ``ops.image.resize`` of float32 images (``options``: its other arguments)."""
    from lamina.ops import image  # lamina.ops imports the layers package

    x = jnp.asarray(x, jnp.float32)
    _hw_axes(x.ndim, data_format, "Resizing")
    return image.resize(x, (height, width), interpolation=interpolation, data_format=data_format,
                        crop_to_aspect_ratio=crop_to_aspect_ratio, **options)  # fmt: skip


class Resizing(BoundingBoxAware, Layer):
    """Resizes images to ``(height, width)`` (as ``keras.layers.Resizing``).

    Args:
        height, width: the output size.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, ``"lanczos3"``
            or ``"lanczos5"``; also tf.keras 2's ``"area"``, ``"gaussian"`` and
            ``"mitchellcubic"`` (TensorFlow's formulas).
        crop_to_aspect_ratio: first crop the largest centred window of the target aspect ratio.
        pad_to_aspect_ratio: first pad (with ``fill_value``) to the target aspect ratio.
        fill_mode: ``"constant"`` (the only mode Keras offers).
        fill_value: the padding value.
        antialias: low-pass filter when downsampling.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: another interpolation or fill mode, or both aspect-ratio options.

    >>> import numpy as np
    >>> from lamina.layers import Resizing
    >>> Resizing(4, 6)(np.ones((2, 8, 8, 3), "float32")).shape
    (2, 4, 6, 3)
    """

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if interpolation not in _METHODS:
            raise ValueError(
                f"Invalid value for argument `interpolation`. Expected one of {_METHODS}. "
                f"Received: interpolation={interpolation!r}"
            )
        if fill_mode != "constant":
            raise ValueError(
                f"Only fill_mode='constant' is supported. Received: fill_mode={fill_mode!r}."
            )
        if pad_to_aspect_ratio and crop_to_aspect_ratio:
            raise ValueError(
                "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`."
            )
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, fill_value
        self.antialias = bool(antialias)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        return resize_images(
            x, self.height, self.width, self.interpolation, self.data_format,
            self.crop_to_aspect_ratio, pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_value=self.fill_value, antialias=self.antialias,
        ), state  # fmt: skip

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        ha, wa = _hw_axes(len(shape), self.data_format, "Resizing")
        shape[ha], shape[wa] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            height=self.height,
            width=self.width,
            interpolation=self.interpolation,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            antialias=self.antialias,
            data_format=self.data_format,
        )
        return config


class CenterCrop(BoundingBoxAware, Layer):
    """Crops the central ``(height, width)`` window (as ``keras.layers.CenterCrop``).

    Images smaller than the target are cropped to its aspect ratio and resized (bilinear), as
    Keras does.

    Args:
        height, width: the output size.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import numpy as np
    >>> from lamina.layers import CenterCrop
    >>> CenterCrop(2, 2)(np.ones((1, 4, 4, 3), "float32")).shape
    (1, 2, 2, 3)
    """

    def __init__(self, height, width, data_format=None, **kwargs: Any):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        ha, wa = _hw_axes(x.ndim, self.data_format, "CenterCrop")
        h, w = x.shape[ha], x.shape[wa]
        if h >= self.height and w >= self.width:
            hs, ws = (h - self.height) // 2, (w - self.width) // 2
            x = jax.lax.slice_in_dim(x, hs, hs + self.height, axis=ha)
            return jax.lax.slice_in_dim(x, ws, ws + self.width, axis=wa), state
        return resize_images(x, self.height, self.width, "bilinear", self.data_format, True), state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        ha, wa = _hw_axes(len(shape), self.data_format, "CenterCrop")
        shape[ha], shape[wa] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, data_format=self.data_format)
        return config
