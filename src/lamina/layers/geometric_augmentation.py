"""Geometric and region augmentation (as Keras 3): RandomShear, RandomPerspective,
RandomGaussianBlur and RandomErasing.

Identity at inference; in training the per-image draws come from the step key. RandomShear
reuses ``random_affine.affine_transform``; RandomPerspective warps by the homography Keras's
``ops.image.perspective_transform`` solves for.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import ImageAugmentation, batch_size, factor_pair
from lamina.layers.random_affine import _check_interp_fill, affine_transform

__all__ = ["RandomErasing", "RandomGaussianBlur", "RandomPerspective", "RandomShear"]

_ORDER = {"nearest": 0, "bilinear": 1}


def _hw(images, data_format):
    return images.shape[1:3] if data_format == "channels_last" else images.shape[2:4]


class RandomShear(ImageAugmentation):
    """Shears images at random while training (as ``keras.layers.RandomShear``).

    Output pixel ``(y, x)`` reads the input at ``(y + sy * x, x + sx * y)`` with ``sx, sy``
    drawn from ``x_factor``, ``y_factor`` and one random sign per image.

    Args:
        x_factor, y_factor: a number ``f`` in ``[0, 1]`` (range ``[-f, f]``) or a pair in
            ``[-1, 1]`` (the config's form, which Keras 3.15 refuses to read back).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        fill_value: the value outside the image for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for a factor outside ``[0, 1]``.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    >>> import jax, numpy as np
    >>> y, _ = RandomShear(0.3).apply({}, {}, np.ones((2, 5, 5, 1), "float32"), training=True,
    ...                               key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 5, 5, 1)
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None, seed=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = self._factor(x_factor, "x_factor")
        self.y_factor = self._factor(y_factor, "y_factor")
        _check_interp_fill("RandomShear", fill_mode, interpolation)
        self.fill_mode, self.fill_value, self.interpolation = fill_mode, fill_value, interpolation

    @staticmethod
    def _factor(factor, name):
        msg = ("The `factor` argument should be a number (or a list of two numbers) in the "
               f"range [0, 1.0]. Received: {name}={factor!r}")
        values = list(factor) if isinstance(factor, tuple | list) else [factor]
        # A pair may reach down to -1: the config stores (-f, f), which Keras 3.15 itself
        # then refuses in from_config.
        low = -1 if len(values) == 2 else 0
        if (isinstance(factor, tuple | list) and len(values) != 2) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= 1
                for v in values):
            raise ValueError(msg)
        if len(values) == 1:
            return -abs(factor), abs(factor)
        lower, upper = sorted(values)
        return lower, upper

    def get_random_transformation(self, key, images):
        ki, ky, kx = jax.random.split(key, 3)
        n = batch_size(images)
        invert = jnp.where(jax.random.uniform(ki, (n, 1)) > 0.5, -1.0, 1.0)
        sy = jax.random.uniform(ky, (n, 1), minval=self.y_factor[0], maxval=self.y_factor[1])
        sx = jax.random.uniform(kx, (n, 1), minval=self.x_factor[0], maxval=self.x_factor[1])
        return {"shear_factor": jnp.concatenate([sx, sy], axis=1) * invert}

    @staticmethod
    def shear_matrix(shear_factor):
        """Keras's ``(batch, 8)`` matrix for ``(batch, 2)`` shear factors ``(sx, sy)``."""
        s = jnp.asarray(shear_factor, jnp.float32)
        ones, zeros = jnp.ones(s.shape[0]), jnp.zeros(s.shape[0])
        return jnp.stack([ones, s[:, 0], zeros, s[:, 1], ones, zeros, zeros, zeros], axis=1)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        return affine_transform(images, self.shear_matrix(transformation["shear_factor"]),
                                self.interpolation, self.fill_mode, self.fill_value,
                                self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(x_factor=self.x_factor, y_factor=self.y_factor, fill_mode=self.fill_mode,
                      interpolation=self.interpolation, seed=self.seed,
                      fill_value=self.fill_value)
        return config


def homography(start_points, end_points):
    """Keras's ``compute_homography_matrix``: ``(batch, 8)`` mapping output to input points."""
    sx, sy = start_points[..., 0], start_points[..., 1]
    ex, ey = end_points[..., 0], end_points[..., 1]
    zeros, ones = jnp.zeros_like(ex), jnp.ones_like(ex)
    x_rows = jnp.stack([ex, ey, ones, zeros, zeros, zeros, -sx * ex, -sx * ey], axis=-1)
    y_rows = jnp.stack([zeros, zeros, zeros, ex, ey, ones, -sy * ex, -sy * ey], axis=-1)
    a = jnp.concatenate([x_rows, y_rows], axis=1)
    b = jnp.concatenate([sx, sy], axis=-1)[..., None]
    return jnp.linalg.solve(a, b)[..., 0]


class RandomPerspective(ImageAugmentation):
    """Applies a random perspective warp while training (as ``keras.layers.RandomPerspective``).

    Each image is warped with probability drawn from ``factor``; its four corners move by up
    to ``scale / 2`` of their own coordinates, and pixels from outside the image take
    ``fill_value``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (probability drawn from ``[0, f]``) or a pair.
        scale: the distortion strength in ``[0, 1]``; default 1.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_value: the value outside the image; default 0.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor or scale outside ``[0, 1]``.
        NotImplementedError: for another interpolation.

    >>> import jax, numpy as np
    >>> x = np.ones((1, 4, 4, 1), "float32")
    >>> y, _ = RandomPerspective(scale=0.0).apply({}, {}, x, training=True,
    ...                                           key=jax.random.PRNGKey(0))
    >>> bool(np.allclose(y, x))
    True
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomPerspective")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 1:
            raise ValueError(f"The `scale` argument should be a number in the range [0,1]. "
                             f"Received: scale={scale!r}")
        if interpolation not in _ORDER:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation!r}. Expected "
                                      f"one of {tuple(_ORDER)}.")
        self.scale, self.fill_value, self.interpolation = scale, fill_value, interpolation

    def get_random_transformation(self, key, images):
        kp, kt, kf = jax.random.split(key, 3)
        n = batch_size(images)
        h, w = _hw(images, self.data_format)
        p = jax.random.uniform(kp, (n,), minval=self.factor[0], maxval=self.factor[1])
        apply = jax.random.uniform(kt, (n,)) < p
        jitter = jax.random.uniform(kf, (n, 4, 2), minval=-0.5 * self.scale,
                                    maxval=0.5 * self.scale)
        start = jnp.array([[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]], jnp.float32)
        start = jnp.broadcast_to(start, (n, 4, 2))
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * jitter}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        t = homography(jnp.asarray(transformation["start_points"], jnp.float32),
                       jnp.asarray(transformation["end_points"], jnp.float32))
        x = jnp.moveaxis(images, 1, -1) if self.data_format == "channels_first" else images
        h, w = x.shape[1], x.shape[2]
        ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                              jnp.arange(w, dtype=jnp.float32), indexing="ij")

        def warp(image, m):
            denom = m[6] * xs + m[7] * ys + 1.0
            src = [(m[3] * xs + m[4] * ys + m[5]) / denom, (m[0] * xs + m[1] * ys + m[2]) / denom]
            return jax.vmap(lambda c: jax.scipy.ndimage.map_coordinates(
                c, src, order=_ORDER[self.interpolation], mode="constant",
                cval=self.fill_value), in_axes=-1, out_axes=-1)(image)

        out = jax.vmap(warp)(x, t)
        out = jnp.moveaxis(out, -1, 1) if self.data_format == "channels_first" else out
        flags = jnp.asarray(transformation["apply_perspective"])[:, None, None, None]
        return jnp.where(flags, out, images)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, interpolation=self.interpolation,
                      fill_value=self.fill_value, seed=self.seed)
        return config


def gaussian_blur(images, kernel_size, sigma, data_format):
    """Keras's JAX ``ops.image.gaussian_blur`` on a batch (kernel ``(size[1], size[0])``)."""
    def kernel1d(size, s):
        x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
        k = jnp.exp(-0.5 * (x / s) ** 2)
        return k / jnp.sum(k)

    sigma = jnp.asarray(sigma, jnp.float32)
    kernel = jnp.outer(kernel1d(kernel_size[1], sigma[1]), kernel1d(kernel_size[0], sigma[0]))
    x = jnp.moveaxis(images, -1, 1) if data_format == "channels_last" else images
    c = x.shape[1]
    kernel = jnp.tile(kernel[None, None], (c, 1, 1, 1))
    out = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                       feature_group_count=c)
    return jnp.moveaxis(out, 1, -1) if data_format == "channels_last" else out


class RandomGaussianBlur(ImageAugmentation):
    """Blurs images at random while training (as ``keras.layers.RandomGaussianBlur``).

    Each image is blurred with probability drawn from ``factor``; one pair of sigmas (drawn
    from ``sigma``, plus ``1e-6``) serves the whole batch, as Keras 3.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (probability from ``[0, f]``) or a pair.
        kernel_size: an odd number or a pair of odd numbers; default 3.
        sigma: a number ``s`` in ``[0, 1]`` (range ``[0, s]``) or a pair; default 1.
        value_range: ``(min, max)`` the output is clipped to; default ``(0, 255)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for an even kernel size, or a factor or sigma outside ``[0, 1]``.

    >>> import jax, numpy as np
    >>> y, _ = RandomGaussianBlur().apply({}, {}, np.ones((2, 5, 5, 3), "float32"),
    ...                                   training=True, key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 5, 5, 3)
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomGaussianBlur")
        self.kernel_size = self._kernel_size(kernel_size)
        self.sigma = factor_pair(sigma, (0, 1), "RandomGaussianBlur", "sigma")
        self.value_range = value_range

    @staticmethod
    def _kernel_size(size):
        msg = f"kernel_size must be an odd number. Received: kernel_size={size!r}"
        values = list(size) if isinstance(size, tuple | list) else [size]
        if (isinstance(size, tuple | list) and len(values) != 2) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v % 2 == 1 for v in values):
            raise ValueError(msg)
        return (values[0], values[-1])

    def get_random_transformation(self, key, images):
        kp, kt, ks = jax.random.split(key, 3)
        n = batch_size(images)
        p = jax.random.uniform(kp, (n,), minval=self.factor[0], maxval=self.factor[1])
        sigma = jax.random.uniform(ks, (2,), minval=self.sigma[0], maxval=self.sigma[1]) + 1e-6
        return {"should_apply_blur": jax.random.uniform(kt, (n,)) < p, "blur_factor": sigma}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        blurred = gaussian_blur(images, self.kernel_size, transformation["blur_factor"],
                                self.data_format)
        flags = jnp.asarray(transformation["should_apply_blur"])[:, None, None, None]
        out = jnp.where(flags, blurred, images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, kernel_size=self.kernel_size, sigma=self.sigma,
                      value_range=self.value_range, seed=self.seed)
        return config


class RandomErasing(ImageAugmentation):
    """Erases a random rectangle of each image while training (``keras.layers.RandomErasing``).

    With probability drawn from ``factor``, a rectangle whose sides are ``sqrt(u)`` of the
    image's (``u`` drawn from ``scale`` per side) is replaced by ``fill_value``, or, when it is
    ``None``, by Gaussian noise times ``value_range[1]``; the fill is clipped to
    ``value_range``.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (probability from ``[0, f]``) or a pair.
        scale: the area fraction per side, a number or a pair in ``[0, 1]``.
        fill_value: ``None`` (noise), a number, or three numbers (one per channel).
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import jax, numpy as np
    >>> layer = RandomErasing(factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=0.0)
    >>> y, _ = layer.apply({}, {}, np.ones((1, 4, 4, 1), "float32"), training=True,
    ...                    key=jax.random.PRNGKey(0))
    >>> float(y.sum())  # a 2x2 hole at most, at least one row and column of it
    12.0
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomErasing")
        self.scale = factor_pair(scale, (0, 1), "RandomErasing", "scale")
        if fill_value is not None and not (
                (isinstance(fill_value, tuple | list) and len(fill_value) == 3)
                or (isinstance(fill_value, int | float) and not isinstance(fill_value, bool))):
            raise ValueError("The `fill_value` argument should be a number (or a list of three "
                             f"numbers). Received: fill_value={fill_value!r}")
        self.fill_value, self.value_range = fill_value, value_range

    def get_random_transformation(self, key, images):
        ks, kx, ky, kp, kt, kn = jax.random.split(key, 6)
        n = batch_size(images)
        h, w = _hw(images, self.data_format)
        side = jnp.sqrt(jax.random.uniform(ks, (n, 2), minval=self.scale[0],
                                           maxval=self.scale[1]))

        def bounds(k, length, ratio):
            crop = ratio * length
            start = jax.random.uniform(k, (n,)) * (length - crop)
            return start[:, None, None, None], (start + crop)[:, None, None, None]

        x0, x1 = bounds(kx, w, side[:, 0])
        y0, y1 = bounds(ky, h, side[:, 1])
        gy, gx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                              indexing="ij")
        grid_shape = (1, h, w, 1) if self.data_format == "channels_last" else (1, 1, h, w)
        gy, gx = gy.reshape(grid_shape), gx.reshape(grid_shape)
        masks = (gx >= x0) & (gx < x1) & (gy >= y0) & (gy < y1)
        masks = jnp.broadcast_to(masks, images.shape)
        p = jax.random.uniform(kp, (n,), minval=self.factor[0], maxval=self.factor[1])
        if self.fill_value is None:
            fill = jax.random.normal(kn, images.shape) * self.value_range[1]
        else:
            value = jnp.asarray(self.fill_value, jnp.float32)
            if value.ndim:
                value = value.reshape((3, 1, 1) if self.data_format == "channels_first" else (3,))
            fill = jnp.broadcast_to(value, images.shape)
        fill = jnp.clip(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": jax.random.uniform(kt, (n,)) < p, "batch_masks": masks,
                "fill_value": fill}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        erased = jnp.where(transformation["batch_masks"], transformation["fill_value"], images)
        flags = jnp.asarray(transformation["apply_erasing"])[:, None, None, None]
        return jnp.where(flags, erased, images)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, fill_value=self.fill_value,
                      value_range=self.value_range, seed=self.seed)
        return config
