"""RandomElasticTransform (as ``keras.layers.RandomElasticTransform``): a smooth random warp.

Each selected image reads its pixels at ``(y + alpha * dy, x + alpha * dx)``, where ``dx`` and
``dy`` are Gaussian noise times ``sigma``, blurred by a Gaussian of width ``sigma``; ``alpha`` and
``sigma`` grow with the drawn distortion factor ``d`` as Keras's: ``alpha = 0.1 d max(h, w)``,
``sigma = 0.05 d min(h, w)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import ImageAugmentation, batch_size, factor_pair
from lamina.layers.geometric_augmentation import gaussian_blur

__all__ = ["RandomElasticTransform"]

_ORDER = {"nearest": 0, "bilinear": 1}
_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


class RandomElasticTransform(ImageAugmentation):
    """Warps images elastically at random while training (``keras.layers.RandomElasticTransform``).

    Differences from Keras 3.15, both to keep the layer one compiled program: the blur kernel
    is sized for the largest ``sigma`` the ``scale`` allows (Keras sizes it, ``int(6 sigma) | 1``,
    from the drawn one: the Gaussian's far tails differ), and ``dx`` and ``dy`` are independent
    (Keras draws both from one seed, so its displacements all lie on the diagonal).

    Args:
        factor: a number ``f`` in ``[0, 1]`` (probability drawn from ``[0, f]``) or a pair.
        scale: the distortion factor's range, a number in ``[0, 1]`` (``(0, s)``) or a pair.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"constant"``, ``"nearest"``, ``"wrap"`` or
            ``"mirror"``.
        fill_value: the value outside the image for ``fill_mode="constant"``.
        value_range: ``(min, max)`` the output is clipped to; default ``(0, 255)``.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor or scale outside ``[0, 1]``.
        NotImplementedError: for an unknown interpolation or fill mode (as Keras).

    >>> import jax, numpy as np
    >>> y, _ = RandomElasticTransform().apply({}, {}, np.ones((2, 16, 16, 3), "float32"),
    ...                                       training=True, key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 16, 16, 3)
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "RandomElasticTransform")
        self.scale = factor_pair(scale, (0, 1), "RandomElasticTransform", "scale")
        if interpolation not in _ORDER:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation!r}. Expected one "
                                      f"of {tuple(_ORDER)}.")
        if fill_mode not in _FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode!r}. Expected one of "
                                      f"{_FILL_MODES}.")
        self.interpolation, self.fill_mode = interpolation, fill_mode
        self.fill_value, self.value_range = fill_value, value_range

    def get_random_transformation(self, key, images):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        kp, kt, kd, kx, ky = jax.random.split(key, 5)
        n = batch_size(images)
        h, w = images.shape[1:3] if self.data_format == "channels_last" else images.shape[2:4]
        p = jax.random.uniform(kp, (n,), minval=self.factor[0], maxval=self.factor[1])
        return {"apply_transform": jax.random.uniform(kt, (n,)) < p,
                "distortion_factor": jax.random.uniform(kd, (), minval=self.scale[0],
                                                        maxval=self.scale[1]),
                "noise": jnp.stack([jax.random.normal(kx, (n, h, w, 1)),
                                    jax.random.normal(ky, (n, h, w, 1))])}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        x = jnp.moveaxis(images, 1, -1) if self.data_format == "channels_first" else images
        n, h, w = x.shape[:3]
        d = transformation["distortion_factor"]
        alpha, sigma = max(h, w) * 0.1 * d, min(h, w) * 0.05 * d + 1e-6
        size = int(6 * min(h, w) * 0.05 * self.scale[1]) | 1
        dx, dy = (gaussian_blur(noise * sigma, (size, size), jnp.stack([sigma, sigma]),
                                "channels_last")[..., 0] for noise in transformation["noise"])
        ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                              indexing="ij")

        def warp(image, sy, sx):
            return jax.vmap(lambda c: jax.scipy.ndimage.map_coordinates(
                c, [sy, sx], order=_ORDER[self.interpolation], mode=self.fill_mode,
                cval=self.fill_value), in_axes=-1, out_axes=-1)(image)

        out = jax.vmap(warp)(x, ys[None] + alpha * dy, xs[None] + alpha * dx)
        out = jnp.moveaxis(out, -1, 1) if self.data_format == "channels_first" else out
        flags = jnp.asarray(transformation["apply_transform"])[:, None, None, None]
        out = jnp.where(flags, out, images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, interpolation=self.interpolation,
                      fill_mode=self.fill_mode, fill_value=self.fill_value,
                      value_range=self.value_range, seed=self.seed)
        return config
