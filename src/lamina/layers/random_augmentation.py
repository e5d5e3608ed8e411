"""Random image augmentation: Flip, Crop, Contrast, Brightness and Grayscale (``Random*``).

As Keras 3: active while training and when called directly without ``training=False`` (their
``call`` defaults to ``training=True``); identity in ``predict``/``evaluate`` (except RandomCrop,
which centre-crops to the target size), with the random draws taken from the key passed to ``apply``
so a fixed key gives a fixed output. Rotation, zoom and translation live in ``random_affine``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers.augmentation import _check_format, _hw_axes, resize_images
from lamina.layers.base import Layer
from lamina.layers.box_data import BoundingBoxAware
from lamina.utils.random import generator_seed

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _per_image_shape(x):
    """Shape of one random number per image, broadcastable against ``x`` at the same rank."""
    return (x.shape[0], 1, 1, 1) if x.ndim == 4 else (1, 1, 1)


def _bounded_factor(factor, bounds, layer):
    """Keras's ``_set_factor``: ``f`` becomes ``(max(-|f|, lo), |f|)``; a pair is sorted."""
    msg = (f"{layer}'s `factor` must be a number or a list of two numbers in the range "
           f"[{bounds[0]}, {bounds[1]}]. Received: factor={factor!r}")
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or not all(isinstance(v, int | float) for v in factor):
            raise ValueError(msg)
        if factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(msg)
        lower, upper = sorted(factor)
        return lower, upper
    if isinstance(factor, bool) or not isinstance(factor, int | float):
        raise ValueError(msg)
    if not bounds[0] <= factor <= bounds[1]:
        raise ValueError(msg)
    return max(-abs(factor), bounds[0]), abs(factor)


class RandomFlip(BoundingBoxAware, Layer):
    """Flips images at random while training (as ``keras.layers.RandomFlip``).

    As Keras 3, one draw per image decides the flip; with ``"horizontal_and_vertical"`` that
    image is flipped along both axes (a 180-degree turn) or not at all.

    Args:
        mode: ``"horizontal_and_vertical"`` (default), ``"horizontal"`` or ``"vertical"``.
        seed: accepted for Keras compatibility; randomness comes from the model's key.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for another mode.

    >>> import jax, numpy as np
    >>> x = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
    >>> y, _ = RandomFlip("horizontal").apply({}, {}, x, training=True, key=jax.random.PRNGKey(1))
    >>> y.shape
    (1, 1, 4, 1)
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(
                f"RandomFlip layer {kwargs.get('name')!r} received an unknown mode argument "
                f"{mode!r}. Expected one of {_FLIP_MODES}."
            )
        self.mode, self.seed = mode, seed
        self._generator_seed = generator_seed(seed)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        _hw_axes(x.ndim, self.data_format, "RandomFlip")
        if not training or key is None:
            return x, state
        return self.transform_images(x, jax.random.uniform(key, _per_image_shape(x)) <= 0.5), state

    def transform_images(self, x, flips):
        """Flips the images where ``flips`` (one boolean per image, rank of ``x``) is true."""
        ha, wa = _hw_axes(x.ndim, self.data_format, "RandomFlip")
        out = x
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            out = jnp.where(flips, jnp.flip(out, axis=wa), out)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            out = jnp.where(flips, jnp.flip(out, axis=ha), out)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, seed=self.seed, mode=self.mode)
        return config


class RandomContrast(BoundingBoxAware, Layer):
    """Scales each image's contrast at random while training (as ``keras.layers.RandomContrast``).

    Each channel becomes ``(x - mean) * c + mean`` (mean over height and width), clipped to
    ``value_range``, with ``c`` drawn per image from ``[1 - lower, 1 + upper]``. As Keras 3, a
    single number ``f`` gives ``(lower, upper) = (0, f)``, so contrast only increases; pass a
    pair for a symmetric range.

    Args:
        factor: a number in ``[0, 1]`` or a pair ``(lower, upper)``.
        value_range: the ``(min, max)`` the outputs are clipped to; default ``(0, 255)``.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor outside ``[0, 1]``.

    >>> import jax, numpy as np
    >>> y, _ = RandomContrast(0.5).apply({}, {}, np.full((1, 2, 2, 3), 9.0, "float32"),
    ...                                  training=True, key=jax.random.PRNGKey(0))
    >>> float(y[0, 0, 0, 0])  # a flat image keeps its value
    9.0
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.factor = _bounded_factor(factor, (0, 1), "RandomContrast")
        self.value_range, self.seed = value_range, seed
        self._generator_seed = generator_seed(seed)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        _hw_axes(x.ndim, self.data_format, "RandomContrast")
        if not training or key is None:
            return x, state
        c = jax.random.uniform(key, _per_image_shape(x), minval=1.0 - self.factor[0],
                               maxval=1.0 + self.factor[1])
        return self.transform_images(x, c), state

    def transform_images(self, x, contrast_factor):
        """Applies given per-image contrast factors (rank of ``x``) and clips."""
        ha, wa = _hw_axes(x.ndim, self.data_format, "RandomContrast")
        mean = jnp.mean(x, axis=(ha, wa), keepdims=True)
        out = (x - mean) * contrast_factor + mean
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, factor=self.factor,
                      value_range=self.value_range, seed=self.seed)
        return config


class RandomBrightness(BoundingBoxAware, Layer):
    """Adds a random brightness offset while training (as ``keras.layers.RandomBrightness``).

    Each image gets ``x + d * (max - min)`` with ``d`` drawn from ``[lower, upper]``, clipped
    to ``value_range``.

    Args:
        factor: a number ``f`` in ``[-1, 1]`` (range ``[-|f|, |f|]``) or a pair.
        value_range: ``(min, max)`` of the pixel values; default ``(0, 255)``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for a factor outside ``[-1, 1]`` or a value range that is not two numbers.

    >>> import jax, numpy as np
    >>> y, _ = RandomBrightness(0.1, value_range=(0, 1)).apply(
    ...     {}, {}, np.full((1, 2, 2, 3), 0.5, "float32"), training=True, key=jax.random.PRNGKey(0))
    >>> bool(abs(float(y[0, 0, 0, 0]) - 0.5) <= 0.1)
    True
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.factor = _bounded_factor(factor, (-1, 1), "RandomBrightness")
        if not isinstance(value_range, tuple | list) or len(value_range) != 2:
            raise ValueError(
                "The `value_range` argument should be a list of two numbers. "
                f"Received: value_range={value_range!r}"
            )
        self.value_range, self.seed = sorted(value_range), seed
        self._generator_seed = generator_seed(seed)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        _hw_axes(x.ndim, self.data_format, "RandomBrightness")
        if not training or key is None:
            return x, state
        delta = jax.random.uniform(key, _per_image_shape(x), minval=self.factor[0],
                                   maxval=self.factor[1])
        return self.transform_images(x, delta * (self.value_range[1] - self.value_range[0])), state

    def transform_images(self, x, rgb_delta):
        """Adds given per-image offsets (already in pixel units) and clips."""
        return jnp.clip(x + rgb_delta, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, factor=self.factor,
                      value_range=self.value_range, seed=self.seed)
        return config


class RandomCrop(BoundingBoxAware, Layer):
    """Crops a random ``(height, width)`` window while training (as ``keras.layers.RandomCrop``).

    In training, when the images are larger than the target in both dimensions, one window
    offset is drawn for the whole batch; otherwise Keras 3's deterministic fallback applies (a
    target-sized slice near the centre, resized when the image is smaller). At inference the
    largest centred window of the target aspect ratio is cropped and resized (bilinear) to the
    target, as Keras documents and as Keras 2 did (``smart_resize``). Keras 3.15's own
    inference call returns the input uncropped, contradicting its ``compute_output_shape``;
    Lamina keeps the documented behaviour so a model's shapes hold at inference.

    Args:
        height, width: the output size.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import numpy as np
    >>> y, _ = RandomCrop(2, 2).apply({}, {}, np.ones((1, 4, 4, 3), "float32"))
    >>> y.shape
    (1, 2, 2, 3)
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, height, width, seed=None, data_format=None, **kwargs: Any):
        super().__init__(**kwargs)
        for arg, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"RandomCrop's `{arg}` must be a positive integer. Received: {arg}={value!r}"
                )
        self.height, self.width, self.seed = height, width, seed
        self._generator_seed = generator_seed(seed)
        generator_seed(seed)  # Keras's unseeded RandomCrop draws a second seed
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        ha, wa = _hw_axes(x.ndim, self.data_format, "RandomCrop")
        h, w = x.shape[ha], x.shape[wa]
        if training and key is not None and h > self.height and w > self.width:
            kh, kw = jax.random.split(key)
            hs = jax.random.randint(kh, (), 0, h - self.height + 1)
            ws = jax.random.randint(kw, (), 0, w - self.width + 1)
            return self.transform_images(x, hs, ws), state
        if training and key is not None:
            return self._keras3_fallback(x, h, w), state
        if (h, w) == (self.height, self.width):
            return x, state
        return resize_images(x, self.height, self.width, "bilinear", self.data_format,
                             crop_to_aspect_ratio=True), state

    def _keras3_fallback(self, x, h, w):
        # Keras 3's training path for an image not larger than the target in both dimensions:
        # a (height, width) slice at the centred aspect-ratio window's corner, clamped to the
        # image, resized (bilinear) to the target when smaller.
        ch = max(min(h, int(float(w * self.height) / self.width)), 1)
        cw = max(min(w, int(float(h * self.width) / self.height)), 1)
        hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
        ha, wa = _hw_axes(x.ndim, self.data_format, "RandomCrop")
        x = jax.lax.slice_in_dim(x, hs, min(h, hs + self.height), axis=ha)
        x = jax.lax.slice_in_dim(x, ws, min(w, ws + self.width), axis=wa)
        if (x.shape[ha], x.shape[wa]) == (self.height, self.width):
            return x
        return resize_images(x, self.height, self.width, "bilinear", self.data_format)

    def transform_images(self, x, h_start, w_start):
        """Crops the window starting at ``(h_start, w_start)`` (the same for every image)."""
        ha, wa = _hw_axes(x.ndim, self.data_format, "RandomCrop")
        x = jax.lax.dynamic_slice_in_dim(x, h_start, self.height, axis=ha)
        return jax.lax.dynamic_slice_in_dim(x, w_start, self.width, axis=wa)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        ha, wa = _hw_axes(len(shape), self.data_format, "RandomCrop")
        shape[ha], shape[wa] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, height=self.height, width=self.width,
                      seed=self.seed)
        return config


class RandomGrayscale(BoundingBoxAware, Layer):
    """Turns images grey at random while training (as ``keras.layers.RandomGrayscale``).

    Each image is replaced, with probability ``factor``, by its luma
    ``0.2989 R + 0.5870 G + 0.1140 B`` repeated over the three channels (the shape is kept).

    Args:
        factor: the probability, in ``[0, 1]``; default 0.5.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for a factor outside ``[0, 1]``, or images without 1 or 3 channels.

    >>> import jax, numpy as np
    >>> x = np.array([[[[1.0, 0.0, 0.0]]]], "float32")
    >>> y, _ = RandomGrayscale(1.0).apply({}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> [round(float(v), 4) for v in y[0, 0, 0]]
    [0.2989, 0.2989, 0.2989]
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 <= factor <= 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor!r}")
        self.factor, self.seed = factor, seed
        self._generator_seed = generator_seed(seed)
        self.data_format = _check_format(data_format)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        _hw_axes(x.ndim, self.data_format, "RandomGrayscale")
        channels = x.shape[-1 if self.data_format == "channels_last" else -3]
        if channels not in (1, 3):
            raise ValueError(
                "RandomGrayscale expects 3 (RGB) or 1 (grayscale) channels. Received: "
                f"images.shape={x.shape}"
            )
        if not training or key is None:
            return x, state
        draws = jax.random.uniform(key, _per_image_shape(x))
        return self.transform_images(x, draws < self.factor), state

    def transform_images(self, x, should_apply):
        """Greys the images where ``should_apply`` (one boolean per image, rank of ``x``) holds."""
        axis = -1 if self.data_format == "channels_last" else -3
        if x.shape[axis] == 1:
            return x
        weights = jnp.array([0.2989, 0.5870, 0.1140], jnp.float32)
        grey = jnp.expand_dims(jnp.tensordot(x, weights, axes=(axis, 0)), axis)
        return jnp.where(should_apply, grey, x)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, factor=self.factor)
        return config
