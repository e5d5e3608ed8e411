"""Pixel-value augmentation (as Keras 3): Invert, Solarization, Posterization, AutoContrast,
Equalization.

Each layer follows Keras's ``keras/src/layers/preprocessing/image_preprocessing`` sources: the
same arguments, defaults, ``factor`` parsing (quirks included) and ``get_config``. Randomness
comes from the step key passed to ``apply``; at inference the layers are the identity, except
AutoContrast, which Keras applies always. Hue, saturation, colour degeneration, jitter and
sharpness live in ``color_jitter``.
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

__all__ = ["AutoContrast", "Equalization", "RandomInvert", "RandomPosterization", "Solarization"]


class RandomInvert(ImageAugmentation):
    """Inverts images (``max - x``) at random while training (as ``keras.layers.RandomInvert``).

    Each image draws a probability ``p`` from ``factor`` and is inverted when a second uniform
    draw falls below ``p``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``p`` drawn from ``[0, f]``) or a pair; default 1.
        value_range: ``(min, max)`` of the pixels; inverted pixels are ``max - x``.
        seed: accepted for Keras compatibility; randomness comes from the model's key.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor outside ``[0, 1]``.

    >>> import jax, numpy as np
    >>> layer = RandomInvert(factor=(1.0, 1.0), value_range=(0, 1))
    >>> y, _ = layer.apply({}, {}, np.full((1, 2, 2, 3), 0.25, "float32"), training=True,
    ...                    key=jax.random.PRNGKey(0))
    >>> float(y[0, 0, 0, 0])
    0.75
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomInvert")
        self.value_range = check_value_range(value_range, sort=False)

    def get_random_transformation(self, key, images):
        kp, kt = jax.random.split(key)
        n = batch_size(images)
        p = jax.random.uniform(kp, (n,), minval=self.factor[0], maxval=self.factor[1])
        return {"apply_inversion": jax.random.uniform(kt, (n,)) < p}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        flags = transformation["apply_inversion"][:, None, None, None]
        return jnp.where(flags, self.value_range[1] - images, images)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class Solarization(ImageAugmentation):
    """Solarizes images while training (as ``keras.layers.Solarization``).

    In the ``[0, 255]`` scale, each image gets ``y = clip(x + a, 0, 255)`` then ``255 - y``
    where ``y >= t``. As Keras 3, ``a`` is drawn from ``[lower, upper * 255]`` of
    ``addition_factor`` and ``t`` from ``[lower, upper * 255]`` of ``threshold_factor`` (the
    lower bound is not scaled). The defaults (both 0) invert every pixel.

    Args:
        addition_factor: a number ``f`` in ``[0, 1]`` (range ``(0, f)``) or a pair.
        threshold_factor: a number ``f`` in ``[0, 1]`` (range ``(0, f)``) or a pair.
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for a factor outside ``[0, 1]`` or a value range that is not two numbers.

    >>> import jax, numpy as np
    >>> y, _ = Solarization(value_range=(0, 1)).apply(
    ...     {}, {}, np.full((1, 1, 1, 3), 0.2, "float32"), training=True, key=jax.random.PRNGKey(0))
    >>> round(float(y[0, 0, 0, 0]), 4)
    0.8
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = self._factor(addition_factor, "addition_factor")
        self.threshold_factor = self._factor(threshold_factor, "threshold_factor")
        self.value_range = check_value_range(value_range)

    @staticmethod
    def _factor(factor, name):
        msg = (f"The `addition_factor` and `threshold_factor` arguments should be a number (or "
               f"a list of two numbers) in the range [0, 1]. Received: {name}={factor!r}")
        values = list(factor) if isinstance(factor, tuple | list) else [factor]
        if (isinstance(factor, tuple | list) and len(values) != 2) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                for v in values):
            raise ValueError(msg)
        if len(values) == 1:
            return 0, factor
        lower, upper = sorted(values)
        return lower, upper

    def get_random_transformation(self, key, images):
        ka, kt = jax.random.split(key)
        shape = (batch_size(images), 1, 1, 1)
        a, t = self.addition_factor, self.threshold_factor
        return {"additions": jax.random.uniform(ka, shape, minval=a[0], maxval=a[1] * 255),
                "thresholds": jax.random.uniform(kt, shape, minval=t[0], maxval=t[1] * 255)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        x = transform_value_range(images, self.value_range, (0, 255))
        x = jnp.clip(x + transformation["additions"], 0, 255)
        x = jnp.where(x < transformation["thresholds"], x, 255 - x)
        return transform_value_range(x, (0, 255), self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, addition_factor=self.addition_factor,
                      threshold_factor=self.threshold_factor, seed=self.seed)
        return config


class RandomPosterization(ImageAugmentation):
    """Keeps only the top bits of each channel while training (``keras.layers.RandomPosterization``).

    In the ``[0, 255]`` scale each image keeps ``b`` bits. As Keras 3, ``factor`` is parsed by
    the base rule with bounds ``[1, 8]`` (a number ``f`` gives ``(1, f)``) and ``b`` is drawn
    with ``randint(lower, upper)`` (upper excluded) unless ``lower == upper``.

    Args:
        factor: the number of bits, in ``[1, 8]``, or a pair.
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    >>> import jax, numpy as np
    >>> y, _ = RandomPosterization((1, 1)).apply(
    ...     {}, {}, np.full((1, 1, 1, 1), 200.0, "float32"), training=True, key=jax.random.PRNGKey(0))
    >>> float(y[0, 0, 0, 0])
    128.0
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (1, 8), "RandomPosterization")
        self.value_range = check_value_range(value_range)

    def get_random_transformation(self, key, images):
        n = batch_size(images)
        lo, hi = int(self.factor[0]), int(self.factor[1])
        bits = (jax.random.randint(key, (n,), lo, hi) if lo != hi
                else jnp.full((n,), lo, jnp.int32))
        return {"shift_factor": (8 - bits).astype(jnp.uint8)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        shift = jnp.asarray(transformation["shift_factor"]).astype(jnp.uint8)[:, None, None, None]
        x = transform_value_range(images, self.value_range, (0, 255))
        x = jnp.clip(x, 0, 255).astype(jnp.uint8)
        x = jnp.left_shift(jnp.right_shift(x, shift), shift).astype(jnp.float32)
        return transform_value_range(x, (0, 255), self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return config


class AutoContrast(ImageAugmentation):
    """Stretches each channel of each image over ``value_range`` (as ``keras.layers.AutoContrast``).

    Active in training and at inference, as Keras 3. A flat channel (min equal to max) is left
    unchanged. The min and max are taken over height and width in either data format (Keras
    3.15 reduces axes ``(1, 2)``, which is the channel and height axes for channels-first).

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.

    >>> import numpy as np
    >>> x = np.array([[[[10.0], [20.0]], [[30.0], [50.0]]]], "float32")
    >>> AutoContrast()(x)[0, :, :, 0].tolist()
    [[0.0, 63.75], [127.5, 255.0]]
    """

    uses_rng = False
    active_at_inference = True

    _keras_seed_generator = False

    def __init__(self, value_range=(0, 255), **kwargs: Any):
        data_format = kwargs.pop("data_format", None)
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = check_value_range(value_range)

    def transform_images(self, images, transformation, training=True):
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        x = transform_value_range(images, self.value_range, (0, 255))
        low = jnp.min(x, axis=axes, keepdims=True)
        high = jnp.max(x, axis=axes, keepdims=True)
        flat = high <= low
        scale = 255.0 / jnp.where(flat, 1.0, high - low)
        out = jnp.clip(x * scale - low * scale, 0.0, 255.0)
        out = transform_value_range(out, (0, 255), self.value_range)
        return jnp.where(flat, images, out)

    def get_config(self):
        config = super().get_config()
        config["value_range"] = self.value_range
        return config


class Equalization(ImageAugmentation):
    """Equalizes each channel's histogram while training (as ``keras.layers.Equalization``).

    Per channel, in the ``[0, 255]`` scale: a ``bins``-bin histogram, its cumulative sum
    mapped onto ``[0, 255]`` (rounded) as a lookup table; a channel with one occupied bin is
    unchanged. Keras 3 is the identity at inference, and so is Lamina. Lamina takes each
    image's own histogram; Keras 3.15 pools one histogram over the whole batch (the same for
    a single image).

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        bins: the number of histogram bins; default 256.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import jax, numpy as np
    >>> x = np.array([[[[0.0], [0.0]], [[100.0], [200.0]]]], "float32")
    >>> y, _ = Equalization().apply({}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> y[0, :, :, 0].tolist()
    [[0.0, 0.0], [128.0, 255.0]]
    """

    _keras_seed_generator = False

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs: Any):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"Equalization's `bins` must be an integer >= 2. Received: "
                             f"bins={bins!r}")
        self.bins = bins
        self.value_range = check_value_range(value_range)

    def _equalize(self, channel):
        """One image's channel, ``(h, w)``, already in the ``[0, 255]`` scale."""
        nb = self.bins
        idx = jnp.clip((channel * (nb - 1) / 255.0).astype(jnp.int32), 0, nb - 1)
        hist = jnp.zeros(nb, jnp.int32).at[idx.reshape(-1)].add(1)
        cdf = jnp.cumsum(hist)
        cdf_min = jnp.take(cdf, jnp.argmax(cdf > 0))
        denominator = cdf[-1] - cdf_min
        denominator = jnp.where(denominator == 0, 1, denominator)
        table = jnp.clip(jnp.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        scaled = jnp.clip(channel / 255.0 * (nb - 1), 0, nb - 1).astype(jnp.int32)
        return jnp.where(jnp.count_nonzero(hist) <= 1, channel, jnp.take(table, scaled))

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        x = transform_value_range(images, self.value_range, (0, 255))
        if self.data_format == "channels_last":
            x = jnp.moveaxis(x, -1, 1)
        out = jax.vmap(jax.vmap(self._equalize))(x)
        if self.data_format == "channels_last":
            out = jnp.moveaxis(out, 1, -1)
        return transform_value_range(out, (0, 255), self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update(bins=self.bins, value_range=self.value_range)
        return config
