"""Random geometric augmentation: RandomRotation, RandomZoom, RandomTranslation (as Keras 3).

Each layer draws one transform per image from the key passed to ``apply`` and warps the whole
batch with one vectorised gather (``affine_transform``), as Keras's JAX backend does through
``jax.scipy.ndimage.map_coordinates``. At inference (``training=False``) they are the identity.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers.augmentation import _check_format, _hw_axes
from lamina.layers.base import Layer
from lamina.layers.box_data import BoundingBoxAware
from lamina.utils.random import generator_seed

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = {"nearest": 0, "bilinear": 1}


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0.0, data_format="channels_last"):
    """Warps images by projective transforms as ``keras.ops.image.affine_transform``.

    Output pixel ``(y, x)`` reads the input at ``(b0*x + b1*y + b2, a0*x + a1*y + a2)``
    (``transform`` rows are ``[a0, a1, a2, b0, b1, b2, c0, c1]``; ``c0, c1`` are ignored as
    Keras's JAX backend ignores them).

    Args:
        images: ``(batch, h, w, c)`` or one ``(h, w, c)`` image (channels first if asked).
        transform: ``(batch, 8)`` or ``(8,)``.
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill_mode: ``"constant"``, ``"nearest"``, ``"reflect"`` or ``"wrap"``.
        fill_value: value outside the image for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The warped images, float32, shaped like ``images``.

    >>> import numpy as np
    >>> img = np.arange(9, dtype="float32").reshape(3, 3, 1)
    >>> shift = np.array([1, 0, 1, 0, 1, 0, 0, 0], "float32")  # read one pixel to the right
    >>> affine_transform(img, shift, fill_mode="constant")[0, :, 0].tolist()
    [1.0, 2.0, 0.0]
    """
    images = jnp.asarray(images, jnp.float32)
    transform = jnp.asarray(transform, jnp.float32)
    unbatched = images.ndim == 3
    if unbatched:
        images = images[None]
    if transform.ndim == 1:
        transform = transform[None]
    if data_format == "channels_last":
        images = jnp.moveaxis(images, -1, 1)  # (b, c, h, w): interpolate each channel in 2-D
    h, w = images.shape[2], images.shape[3]
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                          indexing="ij")
    t = transform[:, :, None, None]  # (b, 8, 1, 1) against the (1, 1, h, w) grid
    src_x = t[:, 0] * xs[None] + t[:, 1] * ys[None] + t[:, 2]
    src_y = t[:, 3] * xs[None] + t[:, 4] * ys[None] + t[:, 5]

    def warp_channel(channel, sy, sx):
        return jax.scipy.ndimage.map_coordinates(
            channel, [sy, sx], order=_INTERPOLATIONS[interpolation], mode=fill_mode,
            cval=fill_value,
        )

    warp_image = jax.vmap(warp_channel, in_axes=(0, None, None))
    out = jax.vmap(warp_image)(images, src_y, src_x)
    if data_format == "channels_last":
        out = jnp.moveaxis(out, 1, -1)
    return out[0] if unbatched else out


def _check_interp_fill(layer, fill_mode, interpolation):
    if fill_mode not in _FILL_MODES:
        raise NotImplementedError(
            f"Unknown `fill_mode` {fill_mode!r} for {layer}. Expected one of {_FILL_MODES}."
        )
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(
            f"Unknown `interpolation` {interpolation!r} for {layer}. Expected one of "
            f"{tuple(_INTERPOLATIONS)}."
        )


def _factor_range(factor, name, layer, low_open=False):
    """Keras's ``(lower, upper)`` for a number ``f`` (``(-|f|, |f|)``) or a pair (sorted)."""
    bound = "(-1.0, 1.0]" if low_open else "[-1.0, 1.0]"
    msg = (f"{layer}'s `{name}` must be a number or a list of two numbers in the range {bound}. "
           f"Received: {name}={factor!r}")
    values = list(factor) if isinstance(factor, tuple | list) else [factor]
    if len(values) not in (1, 2) or (len(values) == 1 and isinstance(factor, tuple | list)):
        raise ValueError(msg)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(msg)
        if v > 1.0 or v < -1.0 or (low_open and v == -1.0):
            raise ValueError(msg)
    if len(values) == 1:
        return -abs(values[0]), abs(values[0])
    lower, upper = sorted(values)
    return lower, upper


def _batch_hw(x, data_format, layer):
    ha, wa = _hw_axes(x.ndim, data_format, layer)
    return (x.shape[0] if x.ndim == 4 else 1), x.shape[ha], x.shape[wa]


class _AffineLayer(BoundingBoxAware, Layer):
    """Shared init, inference identity and config of the three geometric layers."""

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True

    def __init__(self, fill_mode, interpolation, seed, fill_value, data_format, **kwargs):
        super().__init__(**kwargs)
        _check_interp_fill(type(self).__name__, fill_mode, interpolation)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value, self.seed = float(fill_value), seed
        self._generator_seed = generator_seed(seed)
        self.data_format = _check_format(data_format)

    def transformation(self, key, batch, height, width):
        """Draws the ``(batch, 8)`` transforms; subclasses implement it."""
        raise NotImplementedError

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        if not training or key is None:
            _hw_axes(x.ndim, self.data_format, type(self).__name__)
            return x, state
        batch, height, width = _batch_hw(x, self.data_format, type(self).__name__)
        matrix = self.transformation(key, batch, height, width)
        if x.ndim == 3:
            matrix = matrix[0]
        return self.transform_images(x, matrix), state

    def transform_images(self, x, transform):
        """Applies given ``(batch, 8)`` transforms (Keras's matrix layout) to ``x``."""
        return affine_transform(x, transform, self.interpolation, self.fill_mode,
                                self.fill_value, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, fill_mode=self.fill_mode,
                      fill_value=self.fill_value, interpolation=self.interpolation,
                      seed=self.seed)
        return config


def rotation_matrix(angle_degrees, height, width):
    """Keras's ``(batch, 8)`` matrix rotating about the image centre by ``angle_degrees``."""
    theta = jnp.asarray(angle_degrees, jnp.float32) * (math.pi / 180.0)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    zeros = jnp.zeros_like(theta)
    return jnp.stack([cos, -sin, cx - cx * cos + cy * sin,
                      sin, cos, cy - cx * sin - cy * cos, zeros, zeros], axis=1)


class RandomRotation(_AffineLayer):
    """Rotates each image by a random angle while training (as ``keras.layers.RandomRotation``).

    Args:
        factor: a fraction of a full turn: ``0.1`` draws angles in ``[-36, 36]`` degrees; a pair
            ``(lower, upper)`` gives the range directly. Values lie in ``[-1, 1]``.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: accepted for Keras compatibility; randomness comes from the model's key.
        fill_value: the value outside the image for ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor outside ``[-1, 1]``.
        NotImplementedError: for an unknown fill mode or interpolation (as Keras).

    >>> import jax, numpy as np
    >>> layer = RandomRotation(0.1)
    >>> y, _ = layer.apply({}, {}, np.ones((2, 8, 8, 3), "float32"), training=True,
    ...                    key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 8, 8, 3)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_range(factor, "factor", "RandomRotation")

    def transformation(self, key, batch, height, width):
        angle = jax.random.uniform(key, (batch,), minval=self.factor[0] * 360.0,
                                   maxval=self.factor[1] * 360.0)
        return rotation_matrix(angle, height, width)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


def zoom_matrix(height_zoom, width_zoom, height, width):
    """Keras's ``(batch, 8)`` zoom matrix (``zoom > 1`` shows more of the image, smaller)."""
    zx = jnp.asarray(width_zoom, jnp.float32)
    zy = jnp.asarray(height_zoom, jnp.float32)
    zeros = jnp.zeros_like(zx)
    return jnp.stack([zx, zeros, (width - 1.0) / 2.0 * (1.0 - zx),
                      zeros, zy, (height - 1.0) / 2.0 * (1.0 - zy), zeros, zeros], axis=1)


class RandomZoom(_AffineLayer):
    """Zooms each image in or out at random while training (as ``keras.layers.RandomZoom``).

    Args:
        height_factor: a number ``f`` draws zooms in ``[1 - |f|, 1 + |f|]``; a pair
            ``(lower, upper)`` draws in ``[1 + lower, 1 + upper]``. Negative values zoom in.
            Values lie in ``(-1, 1]``.
        width_factor: as ``height_factor``; ``None`` (default) keeps the aspect ratio.
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.

    Raises:
        ValueError: for a factor outside ``(-1, 1]``.

    >>> import jax, numpy as np
    >>> y, _ = RandomZoom(0.2).apply({}, {}, np.ones((8, 8, 3), "float32"), training=True,
    ...                              key=jax.random.PRNGKey(0))
    >>> y.shape
    (8, 8, 3)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range(height_factor, "height_factor", "RandomZoom", True)
        self._width = (None if width_factor is None
                       else _factor_range(width_factor, "width_factor", "RandomZoom", True))

    def transformation(self, key, batch, height, width):
        kh, kw = jax.random.split(key)
        zy = jax.random.uniform(kh, (batch,), minval=1.0 + self._height[0],
                                maxval=1.0 + self._height[1])
        zx = zy if self._width is None else jax.random.uniform(
            kw, (batch,), minval=1.0 + self._width[0], maxval=1.0 + self._width[1])
        return zoom_matrix(zy, zx, height, width)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


def translation_matrix(dy, dx):
    """Keras's ``(batch, 8)`` matrix moving content by ``(dy, dx)`` pixels (down, right)."""
    dx, dy = jnp.asarray(dx, jnp.float32), jnp.asarray(dy, jnp.float32)
    ones, zeros = jnp.ones_like(dx), jnp.zeros_like(dx)
    return jnp.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)


class RandomTranslation(_AffineLayer):
    """Shifts each image at random while training (as ``keras.layers.RandomTranslation``).

    Args:
        height_factor: a fraction of the height: ``0.2`` draws shifts in ``[-20%, 20%]``;
            a pair ``(lower, upper)`` gives the range (negative moves up). In ``[-1, 1]``.
        width_factor: as ``height_factor`` for the width (negative moves left).
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.

    Raises:
        ValueError: for a factor outside ``[-1, 1]``.

    >>> import jax, numpy as np
    >>> y, _ = RandomTranslation(0.1, 0.1).apply(
    ...     {}, {}, np.ones((2, 8, 8, 3), "float32"), training=True, key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 8, 8, 3)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_range(height_factor, "height_factor", "RandomTranslation")
        self._width = _factor_range(width_factor, "width_factor", "RandomTranslation")

    def transformation(self, key, batch, height, width):
        kh, kw = jax.random.split(key)
        dy = jax.random.uniform(kh, (batch,), minval=self._height[0], maxval=self._height[1])
        dx = jax.random.uniform(kw, (batch,), minval=self._width[0], maxval=self._width[1])
        return translation_matrix(dy * height, dx * width)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config
