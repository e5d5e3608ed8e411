"""ContrastLimitedAdaptiveHistogramEqualization (as Keras 3's layer of that name).

Per tile of a ``tile_grid_size`` grid and per channel: a 256-bin histogram clipped at
``clip_limit`` times the mean bin count (the excess spread evenly), its normalised cumulative
sum as a lookup table, and each pixel's value read from the four nearest tiles' tables,
bilinearly weighted. Active in training and at inference, as Keras 3.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import ImageAugmentation, transform_value_range

__all__ = ["ContrastLimitedAdaptiveHistogramEqualization"]


def _tables(tiles, clip_limit, tile_area):
    """Lookup tables ``(..., 256)`` from tiles' pixels ``(..., tile_area)`` in ``[0, 255]``."""
    values = jnp.clip(tiles.astype(jnp.int32), 0, 255)
    hists = jnp.sum(jax.nn.one_hot(values, 256, dtype=jnp.float32), axis=-2)
    if clip_limit > 0:
        clipped = jnp.clip(hists, 0, clip_limit * tile_area / 256.0)
        hists = clipped + jnp.sum(hists - clipped, axis=-1, keepdims=True) / 256.0
    cdf = jnp.cumsum(hists, axis=-1)
    cdf_min = jnp.min(cdf, axis=-1, keepdims=True)
    denominator = tile_area - cdf_min
    denominator = jnp.where(denominator == 0, 1.0, denominator)
    return jnp.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)


def clahe(images, clip_limit, tile_grid_size):
    """Keras 3's CLAHE on a channels-last batch in ``[0, 255]``."""
    n, height, width, channels = images.shape
    grid_h, grid_w = tile_grid_size
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    pad_h, pad_w = tile_h * grid_h - height, tile_w * grid_w - width
    padded = jnp.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    tiled = padded.reshape(n, grid_h, tile_h, grid_w, tile_w, channels)
    tiled = tiled.transpose(0, 1, 3, 5, 2, 4).reshape(n, grid_h, grid_w, channels, -1)
    cdf = _tables(tiled, clip_limit, tile_h * tile_w)  # (n, gh, gw, c, 256)
    cdf = jnp.concatenate([cdf[:, :1], cdf, cdf[:, -1:]], axis=1)
    cdf = jnp.concatenate([cdf[:, :, :1], cdf, cdf[:, :, -1:]], axis=2)

    def axis_weights(length, tile, grid):
        pos = (jnp.arange(length, dtype=jnp.float32) - tile / 2.0) / tile + 1.0
        lo = jnp.floor(pos)
        return (jnp.clip(lo, 0, grid + 1).astype(jnp.int32),
                jnp.clip(lo + 1, 0, grid + 1).astype(jnp.int32), pos - lo)

    y0, y1, wy = axis_weights(tile_h * grid_h, tile_h, grid_h)
    x0, x1, wx = axis_weights(tile_w * grid_w, tile_w, grid_w)
    pixels = jnp.clip(padded, 0, 255).astype(jnp.int32)  # (n, H, W, c)
    b = jnp.arange(n)[:, None, None, None]
    c = jnp.arange(channels)[None, None, None, :]

    def read(ys, xs):
        return cdf[b, ys[None, :, None, None], xs[None, None, :, None], c, pixels]

    wy, wx = wy[None, :, None, None], wx[None, None, :, None]
    top = read(y0, x0) * (1.0 - wx) + read(y0, x1) * wx
    bottom = read(y1, x0) * (1.0 - wx) + read(y1, x1) * wx
    return (top * (1.0 - wy) + bottom * wy)[:, :height, :width, :]


class ContrastLimitedAdaptiveHistogramEqualization(ImageAugmentation):
    """Adaptive histogram equalization with a contrast limit (CLAHE), as Keras 3's layer.

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        clip_limit: the histogram clip, in multiples of the mean bin count; ``0`` or less
            turns clipping off. Default 4.
        tile_grid_size: ``(rows, columns)`` of tiles; default ``(8, 8)``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a tile grid that is not two positive integers.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(100, 140, (1, 16, 16, 1)).astype("float32")
    >>> y = ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))(x)
    >>> bool(np.ptp(y) > np.ptp(x))  # the narrow range is stretched
    True
    """

    uses_rng = False
    active_at_inference = True

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs: Any):
        super().__init__(data_format=data_format, **kwargs)
        if (not isinstance(tile_grid_size, tuple | list) or len(tile_grid_size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                           for v in tile_grid_size)):
            raise ValueError("`tile_grid_size` must be two positive integers (rows, columns). "
                             f"Received: tile_grid_size={tile_grid_size!r}")
        self.value_range, self.clip_limit = value_range, clip_limit
        self.tile_grid_size = tile_grid_size

    def transform_images(self, images, transformation, training=True):
        x = jnp.moveaxis(images, 1, -1) if self.data_format == "channels_first" else images
        x = transform_value_range(x, self.value_range, (0, 255))
        x = clahe(x, self.clip_limit, tuple(self.tile_grid_size))
        x = transform_value_range(x, (0, 255), self.value_range)
        return jnp.moveaxis(x, -1, 1) if self.data_format == "channels_first" else x

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, clip_limit=self.clip_limit,
                      tile_grid_size=self.tile_grid_size)
        return config
