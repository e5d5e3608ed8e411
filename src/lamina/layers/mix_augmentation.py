"""Batch-mixing augmentation (as Keras 3): MixUp and CutMix.

Both pair each image with another of the same batch (a random permutation) while training and
are the identity at inference. Given Keras's data dict (``{"images", "labels",
"bounding_boxes", "segmentation_masks"}``) they mix the labels by the same weights and return a
dict (``lamina.layers.box_plans_aug``: MixUp appends each partner's boxes, CutMix refuses boxes
as Keras 3 does); inside a model they see, and mix, only the images.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import ImageAugmentation, batch_size, factor_pair

__all__ = ["CutMix", "MixUp"]


class _Mixing(ImageAugmentation):
    """Label mixing (for dict inputs) on top of the image base."""

    def transform_labels(self, labels, transformation, training=True):
        """Mixes the labels as the images; subclasses set the weights."""
        if not training or transformation is None:
            return labels
        weight = jnp.reshape(transformation["mix_weight"], (-1, 1))
        other = jnp.take(labels, transformation["permutation_order"], axis=0)
        return weight * labels + (1.0 - weight) * other


class MixUp(_Mixing):
    """Blends each image with another of the batch while training (as ``keras.layers.MixUp``).

    Image ``i`` becomes ``w_i x_i + (1 - w_i) x_perm(i)`` with ``w_i ~ Beta(alpha, alpha)``.

    Args:
        alpha: the Beta distribution's parameter; default 0.2.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        seed: accepted for Keras compatibility.

    >>> import jax, numpy as np
    >>> x = {"images": np.ones((4, 2, 2, 1), "float32"), "labels": np.eye(4, dtype="float32")}
    >>> y, _ = MixUp().apply({}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> np.allclose(y["labels"].sum(axis=1), 1.0)
    True
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha <= 0:
            raise ValueError(f"MixUp's `alpha` must be a positive number. Received: "
                             f"alpha={alpha!r}")
        self.alpha = alpha

    def get_random_transformation(self, key, images):
        kp, kw = jax.random.split(key)
        n = batch_size(images)
        return {"permutation_order": jax.random.permutation(kp, n),
                "mix_weight": jax.random.beta(kw, self.alpha, self.alpha, (n,))}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        weight = jnp.reshape(transformation["mix_weight"], (-1, 1, 1, 1))
        other = jnp.take(images, transformation["permutation_order"], axis=0)
        return weight * images + (1.0 - weight) * other

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, seed=self.seed)
        return config


class CutMix(_Mixing):
    """Pastes a patch of another image of the batch while training (``keras.layers.CutMix``).

    Per image ``i``: ``lam ~ Beta(a, a)`` (``a`` drawn once per batch from ``factor``, plus
    ``1e-6``), a box with sides ``sqrt(1 - lam)`` of the image's at a uniform position is
    copied from image ``perm(i)``; labels mix by the pasted area. As Keras 3, a single
    (rank-3) image is returned unchanged.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``a`` from ``[0, f]``) or a pair; default 1.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import jax, numpy as np
    >>> x = np.arange(4, dtype="float32").reshape(4, 1, 1, 1) * np.ones((1, 4, 4, 1), "float32")
    >>> y, _ = CutMix().apply({}, {}, x, training=True, key=jax.random.PRNGKey(0))
    >>> set(np.unique(y)) <= {0.0, 1.0, 2.0, 3.0}
    True
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_pair(factor, (0, 1), "CutMix")

    def get_random_transformation(self, key, images):
        if images.ndim == 3:
            return None
        ka, kl, kx, ky, kp = jax.random.split(key, 5)
        n = images.shape[0]
        h, w = images.shape[1:3] if self.data_format == "channels_last" else images.shape[2:4]
        alpha = jax.random.uniform(ka, (), minval=self.factor[0], maxval=self.factor[1]) + 1e-6
        ratio = jnp.sqrt(1.0 - jax.random.beta(kl, alpha, alpha, (n,)))

        def bounds(k, length):
            crop = ratio * length
            start = jax.random.uniform(k, (n,)) * (length - crop)
            return start[:, None, None, None], (start + crop)[:, None, None, None]

        x0, x1 = bounds(kx, w)
        y0, y1 = bounds(ky, h)
        gy, gx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                              indexing="ij")
        grid_shape = (1, h, w, 1) if self.data_format == "channels_last" else (1, 1, h, w)
        gy, gx = gy.reshape(grid_shape), gx.reshape(grid_shape)
        masks = jnp.broadcast_to((gx >= x0) & (gx < x1) & (gy >= y0) & (gy < y1), images.shape)
        return {"permutation_order": jax.random.permutation(kp, n), "batch_masks": masks,
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (w * h)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        other = jnp.take(images, transformation["permutation_order"], axis=0)
        return jnp.where(transformation["batch_masks"], other, images)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, seed=self.seed)
        return config
