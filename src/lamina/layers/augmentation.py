"""Image preprocessing layers: Resizing and CenterCrop (as ``keras.layers``).

The random augmentation layers live in ``random_augmentation.py`` and ``random_affine.py``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers.base import Layer

_METHODS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


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


def resize_images(x, height, width, interpolation, data_format, crop_to_aspect_ratio=False):
    """Keras's ``ops.image.resize`` on the JAX backend (no antialiasing)."""
    x = jnp.asarray(x, jnp.float32)
    ha, wa = _hw_axes(x.ndim, data_format, "Resizing")
    if crop_to_aspect_ratio:
        h, w = x.shape[ha], x.shape[wa]
        ch = max(min(h, int(float(w * height) / width)), 1)
        cw = max(min(w, int(float(h * width) / height)), 1)
        hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
        x = jax.lax.slice_in_dim(x, hs, hs + ch, axis=ha)
        x = jax.lax.slice_in_dim(x, ws, ws + cw, axis=wa)
    shape = list(x.shape)
    shape[ha], shape[wa] = height, width
    return jax.image.resize(x, tuple(shape), method=interpolation, antialias=False)


class Resizing(Layer):
    """Resizes images to ``(height, width)`` (as ``keras.layers.Resizing``).

    Args:
        height, width: the output size.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, ``"lanczos3"``
            or ``"lanczos5"``.
        crop_to_aspect_ratio: first crop the largest centred window of the target aspect ratio.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for another interpolation, or ``pad_to_aspect_ratio=True`` (not supported).

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
        if pad_to_aspect_ratio or antialias:
            raise ValueError(
                "Resizing(pad_to_aspect_ratio=True) and Resizing(antialias=True) are not "
                "supported by Lamina; leave them False."
            )
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, fill_value
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        return resize_images(
            x, self.height, self.width, self.interpolation, self.data_format,
            self.crop_to_aspect_ratio,
        ), state

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
            pad_to_aspect_ratio=False,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            antialias=False,
            data_format=self.data_format,
        )
        return config


class CenterCrop(Layer):
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
