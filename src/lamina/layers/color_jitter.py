"""Colour augmentation (as Keras 3): RandomHue, RandomSaturation, RandomColorDegeneration,
RandomSharpness and RandomColorJitter.

Identity at inference; in training one factor is drawn per image from the step key. The
``factor`` parsing, value-range handling and ``get_config`` follow Keras 3's sources, quirks
included (they are noted on each class).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import (
    ImageAugmentation,
    batch_size,
    check_value_range,
    factor_pair,
    transform_value_range,
)
from lamina.layers.random_augmentation import RandomBrightness, RandomContrast
from lamina.ops.image import hsv_to_rgb, rgb_to_grayscale, rgb_to_hsv

__all__ = ["RandomColorDegeneration", "RandomColorJitter", "RandomHue", "RandomSaturation",
           "RandomSharpness"]


def _check_rgb(layer, x):
    axis = -1 if layer.data_format == "channels_last" else -3
    if x.shape[axis] != 3:
        raise ValueError(f"{type(layer).__name__} expects RGB images with 3 channels. Received: "
                         f"images.shape={x.shape}")


def _replace_hsv_channel(images, index, values, data_format):
    axis = 1 if data_format == "channels_first" else -1
    parts = [jnp.take(images, i, axis=axis) for i in range(3)]
    parts[index] = values
    return jnp.stack(parts, axis=axis)


class RandomHue(ImageAugmentation):
    """Shifts each image's hue at random while training (as ``keras.layers.RandomHue``).

    The shift is ``± u / 2`` of the hue circle with ``u`` drawn from ``factor`` and the sign
    drawn fairly, applied in HSV after mapping ``value_range`` onto ``[0, 1]``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``u`` in ``[0, f]``) or a pair.
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for a factor outside ``[0, 1]``, or images without 3 channels.

    >>> import jax, numpy as np
    >>> y, _ = RandomHue(0.5).apply({}, {}, np.full((2, 3, 3, 3), 9.0, "float32"),
    ...                             training=True, key=jax.random.PRNGKey(0))
    >>> float(y[0, 0, 0, 0])  # a grey image has no hue to shift
    9.0
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomHue")
        self.value_range = check_value_range(value_range, sort=False)

    def check_images(self, x):
        super().check_images(x)
        _check_rgb(self, x)

    def get_random_transformation(self, key, images):
        ks, kf = jax.random.split(key)
        n = batch_size(images)
        sign = jnp.where(jax.random.uniform(ks, (n,)) > 0.5, -1.0, 1.0)
        u = jax.random.uniform(kf, (n,), minval=self.factor[0], maxval=self.factor[1])
        return {"factor": sign * u * 0.5}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        x = transform_value_range(images, self.value_range, (0, 1))
        hsv = rgb_to_hsv(x, data_format=self.data_format)
        axis = 1 if self.data_format == "channels_first" else -1
        hue = jnp.take(hsv, 0, axis=axis) + jnp.asarray(transformation["factor"])[:, None, None]
        hue = jnp.where(hue > 1.0, hue - 1.0, hue)
        hue = jnp.where(hue < 0.0, hue + 1.0, hue)
        rgb = hsv_to_rgb(_replace_hsv_channel(hsv, 0, hue, self.data_format),
                         data_format=self.data_format)
        return transform_value_range(jnp.clip(rgb, 0, 1), (0, 1), self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomSaturation(ImageAugmentation):
    """Scales each image's saturation at random while training (``keras.layers.RandomSaturation``).

    A draw ``u`` from ``factor`` becomes the multiplier ``u / (1 - u + 1e-7)`` on the HSV
    saturation: ``u = 0.5`` keeps the image, ``u = 0`` greys it, ``u = 1`` saturates fully. As
    Keras 3 the factor is parsed with bounds ``[-1, 1]`` (a number ``f`` gives ``(-f, f)``; a
    negative multiplier greys the image), the images go into HSV without rescaling, and the new
    saturation is clipped to ``value_range``.

    Args:
        factor: a number in ``[-1, 1]`` or a pair; pass ``(0.5, 0.5)`` for the identity.
        value_range: ``(min, max)``; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    >>> import jax, numpy as np
    >>> x = np.array([[[[0.8, 0.4, 0.2]]]], "float32")
    >>> y, _ = RandomSaturation((0.0, 0.0), value_range=(0, 1)).apply(
    ...     {}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> [round(float(v), 4) for v in y[0, 0, 0]]
    [0.8, 0.8, 0.8]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (-1, 1), "RandomSaturation")
        self.value_range = check_value_range(value_range)

    def check_images(self, x):
        super().check_images(x)
        _check_rgb(self, x)

    def get_random_transformation(self, key, images):
        u = jax.random.uniform(key, (batch_size(images),), minval=self.factor[0],
                               maxval=self.factor[1])
        return {"factor": u / (1 - u + 1e-7)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        hsv = rgb_to_hsv(images, data_format=self.data_format)
        axis = 1 if self.data_format == "channels_first" else -1
        sat = jnp.take(hsv, 1, axis=axis) * jnp.asarray(transformation["factor"])[:, None, None]
        sat = jnp.clip(sat, self.value_range[0], self.value_range[1])
        return hsv_to_rgb(_replace_hsv_channel(hsv, 1, sat, self.data_format),
                          data_format=self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomColorDegeneration(ImageAugmentation):
    """Blends images towards their greyscale at random (``keras.layers.RandomColorDegeneration``).

    Each image becomes ``x + u * (grey(x) - x)``, clipped to ``value_range``, with ``u`` drawn
    from ``factor``. As Keras 3 the factor's bounds are ``[-1, 1]``: a number ``f`` draws ``u``
    from ``[-f, f]`` (a negative ``u`` moves away from grey).

    Args:
        factor: a number in ``[-1, 1]`` or a pair.
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    >>> import jax, numpy as np
    >>> x = np.array([[[[255.0, 0.0, 0.0]]]], "float32")
    >>> y, _ = RandomColorDegeneration((1.0, 1.0)).apply(
    ...     {}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> [round(float(v), 2) for v in y[0, 0, 0]]
    [76.22, 76.22, 76.22]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (-1, 1), "RandomColorDegeneration")
        self.value_range = check_value_range(value_range)

    def check_images(self, x):
        super().check_images(x)
        _check_rgb(self, x)

    def get_random_transformation(self, key, images):
        return {"factor": jax.random.uniform(key, (batch_size(images), 1, 1, 1),
                                             minval=self.factor[0], maxval=self.factor[1])}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        grey = rgb_to_grayscale(images, data_format=self.data_format)
        out = images + transformation["factor"] * (grey - images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomSharpness(ImageAugmentation):
    """Sharpens or blurs images at random while training (as ``keras.layers.RandomSharpness``).

    Each image becomes ``x + (1 - 2u) * (smooth(x) - x)``, clipped to ``value_range``, where
    ``smooth`` is a 3x3 ``[[1,1,1],[1,5,1],[1,1,1]] / 13`` filter (zero padded) and ``u`` is
    drawn from ``factor``: ``u = 0.5`` keeps the image, smaller blurs, larger sharpens.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``u`` in ``[0, f]``) or a pair.
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    >>> import jax, numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    >>> y, _ = RandomSharpness((0.5, 0.5)).apply({}, {}, x, training=True,
    ...                                          key=jax.random.PRNGKey(0))
    >>> bool(np.allclose(y, x))
    True
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomSharpness")
        self.value_range = check_value_range(value_range)

    def get_random_transformation(self, key, images):
        return {"factor": jax.random.uniform(key, (batch_size(images),), minval=self.factor[0],
                                             maxval=self.factor[1])}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        x = jnp.moveaxis(images, 1, -1) if self.data_format == "channels_first" else images
        a, b = 1.0 / 13.0, 5.0 / 13.0
        kernel = jnp.array([[a, a, a], [a, b, a], [a, a, a]], jnp.float32)
        kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, x.shape[-1]))
        smooth = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=x.shape[-1])
        s = (jnp.asarray(transformation["factor"]) * 2).reshape(-1, 1, 1, 1)
        out = jnp.clip(x + (1.0 - s) * (smooth - x), self.value_range[0], self.value_range[1])
        return jnp.moveaxis(out, -1, 1) if self.data_format == "channels_first" else out

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class RandomColorJitter(ImageAugmentation):
    """Random brightness, contrast, saturation and hue in turn (``keras.layers.RandomColorJitter``).

    Each factor left ``None`` skips that step; the others are Lamina's ``RandomBrightness``,
    ``RandomContrast``, ``RandomSaturation`` and ``RandomHue`` with this layer's
    ``value_range``, each drawing from its own part of the step key.

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        brightness_factor, contrast_factor, saturation_factor, hue_factor: the sub-layers'
            ``factor`` arguments, or ``None`` (default) to skip.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import jax, numpy as np
    >>> layer = RandomColorJitter(brightness_factor=0.2, hue_factor=0.1)
    >>> y, _ = layer.apply({}, {}, np.ones((2, 4, 4, 3), "float32"), training=True,
    ...                    key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 4, 4, 3)
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = check_value_range(value_range, sort=False)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        fmt, vr = self.data_format, self.value_range
        made = [(f, cls) for f, cls in ((brightness_factor, RandomBrightness),
                                        (contrast_factor, RandomContrast),
                                        (saturation_factor, RandomSaturation),
                                        (hue_factor, RandomHue)) if f is not None]
        self._steps = tuple(cls(f, value_range=vr, data_format=fmt) for f, cls in made)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        self.check_images(x)
        if not training or key is None:
            return x, state
        for step, k in zip(self._steps, jax.random.split(key, 4), strict=False):
            x, _ = step.apply({}, {}, x, training=True, key=k)
        return x, state

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, brightness_factor=self.brightness_factor,
                      contrast_factor=self.contrast_factor,
                      saturation_factor=self.saturation_factor, hue_factor=self.hue_factor,
                      seed=self.seed)
        return config
