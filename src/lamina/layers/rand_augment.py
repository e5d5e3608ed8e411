"""Augmentation policies (as Keras 3): RandAugment and AugMix.

Both choose among eleven of Lamina's own layers (shear, translation, rotation, brightness,
colour degeneration, contrast, sharpness, posterization, solarization, auto-contrast,
equalization), built from the policy's ``factor`` and ``value_range`` exactly as Keras 3 builds
them, and run only the chosen one (``lax.switch``) so the whole policy stays one program.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina.layers._image_aug import ImageAugmentation, check_value_range, factor_pair
from lamina.layers.color_augmentation import (
    AutoContrast,
    Equalization,
    RandomPosterization,
    Solarization,
)
from lamina.layers.color_jitter import RandomColorDegeneration, RandomSharpness
from lamina.layers.geometric_augmentation import RandomShear
from lamina.layers.random_affine import RandomRotation, RandomTranslation
from lamina.layers.random_augmentation import RandomBrightness, RandomContrast

__all__ = ["AugMix", "RandAugment"]

#: Keras's candidate order (RandAugment); AugMix orders them as ``_AUGMIX_ORDER``.
_NAMES = ("random_shear", "random_translation", "random_rotation", "random_brightness",
          "random_color_degeneration", "random_contrast", "random_sharpness",
          "random_posterization", "solarization", "auto_contrast", "equalization")
_AUGMIX_ORDER = ("random_shear", "random_translation", "random_rotation", "random_posterization",
                 "solarization", "auto_contrast", "equalization", "random_brightness",
                 "random_color_degeneration", "random_contrast", "random_sharpness")


def candidates(factor, value_range, interpolation, data_format, bounding_box_format=None):
    """Keras's candidate layers, by name, for a policy's ``factor`` pair and settings (the
    geometric ones share the policy's ``bounding_box_format``, as Keras passes it on)."""
    f, vr, fmt, boxes = factor, value_range, data_format, bounding_box_format
    return {
        "random_shear": RandomShear(f, f, interpolation=interpolation, data_format=fmt,
                                    bounding_box_format=boxes),
        "random_translation": RandomTranslation(f, f, interpolation=interpolation,
                                                data_format=fmt, bounding_box_format=boxes),
        "random_rotation": RandomRotation(f, interpolation=interpolation, data_format=fmt,
                                          bounding_box_format=boxes),
        "random_brightness": RandomBrightness(f, value_range=vr, data_format=fmt),
        "random_color_degeneration": RandomColorDegeneration(f, value_range=vr,
                                                             data_format=fmt),
        "random_contrast": RandomContrast(f, value_range=vr, data_format=fmt),
        "random_sharpness": RandomSharpness(f, value_range=vr, data_format=fmt),
        "random_posterization": RandomPosterization(max(1, int(8 * f[1])), value_range=vr,
                                                    data_format=fmt),
        "solarization": Solarization(f, f, value_range=vr, data_format=fmt),
        "auto_contrast": AutoContrast(value_range=vr, data_format=fmt),
        "equalization": Equalization(value_range=vr, data_format=fmt),
    }


def _branches(layers, keys):
    return [lambda images, layer=layer, k=k: layer.apply({}, {}, images, training=True,
                                                         key=k)[0]
            for layer, k in zip(layers, keys, strict=True)]


class RandAugment(ImageAugmentation):
    """Applies ``num_ops`` augmentations picked at random while training (``keras.layers.RandAugment``).

    As Keras 3, the ``num_ops`` picks are drawn once per batch (with repetition) from the
    eleven candidates, and each candidate's own parameters are drawn once per call, so a
    candidate picked twice applies the same transform twice. Identity at inference.

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        num_ops: how many augmentations to apply in turn; default 2.
        factor: the candidates' strength, a number in ``[0, 1]`` (range ``(0, f)``) or a pair;
            default 0.5.
        interpolation: ``"bilinear"`` (default) or ``"nearest"`` for the geometric candidates.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError: for a factor outside ``[0, 1]`` or a ``num_ops`` that is not a positive
            integer.

    >>> import jax, numpy as np
    >>> y, _ = RandAugment().apply({}, {}, np.ones((2, 8, 8, 3), "float32") * 100,
    ...                            training=True, key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 8, 8, 3)
    """

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 1:
            raise ValueError(f"RandAugment's `num_ops` must be a positive integer. Received: "
                             f"num_ops={num_ops!r}")
        self.value_range = check_value_range(value_range, sort=False)
        self.num_ops, self.interpolation = num_ops, interpolation
        self.factor = factor_pair(factor, (0, 1), "RandAugment")
        made = candidates(self.factor, self.value_range, interpolation, self.data_format,
                          self.bounding_box_format)
        self._candidates = tuple(made[name] for name in _NAMES)

    def draw(self, key):
        """The ``num_ops`` candidate indices and each candidate's key, from the step key."""
        kpick, *keys = jax.random.split(key, len(self._candidates) + 1)
        return jax.random.randint(kpick, (self.num_ops,), 0, len(self._candidates)), keys

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        self.check_images(x)
        if not training or key is None:
            return x, state
        picks, keys = self.draw(key)
        branches = _branches(self._candidates, keys)
        for i in range(self.num_ops):
            x = jax.lax.switch(picks[i], branches, x)  # runs only the picked candidate
        return x, state

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, num_ops=self.num_ops, factor=self.factor,
                      interpolation=self.interpolation, seed=self.seed)
        return config


class AugMix(ImageAugmentation):
    """Mixes several random augmentation chains with the image (as ``keras.layers.AugMix``).

    While training: ``num_chains`` chains each apply up to ``chain_depth`` steps (each step a
    random candidate, or none, as Keras 3), the chains are averaged with Dirichlet(``alpha``)
    weights, and the result is blended with the input by a Beta(``alpha``, ``alpha``) weight,
    then clipped to ``value_range``. One draw serves the whole batch, as Keras. Keras picks the
    steps with Python's ``random`` (fixed once its call is compiled); Lamina draws them from the
    step key. Identity at inference.

    Args:
        value_range: ``(min, max)`` of the pixels; default ``(0, 255)``.
        num_chains: the number of chains; default 3.
        chain_depth: the most steps per chain; default 3.
        factor: the candidates' strength, a number in ``[0, 1]`` (``(0, f)``) or a pair.
        alpha: the Dirichlet and Beta parameter; default 1.
        all_ops: use all eleven candidates (default) or only the seven geometric and
            tone ones (no brightness, colour degeneration, contrast or sharpness).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: accepted for Keras compatibility.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> import jax, numpy as np
    >>> layer = AugMix(num_chains=2, chain_depth=1)
    >>> y, _ = layer.apply({}, {}, np.full((2, 8, 8, 3), 100.0, "float32"), training=True,
    ...                    key=jax.random.PRNGKey(0))
    >>> y.shape
    (2, 8, 8, 3)
    """

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        for arg, value in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AugMix's `{arg}` must be a positive integer. Received: "
                                 f"{arg}={value!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha <= 0:
            raise ValueError(f"AugMix's `alpha` must be a positive number. Received: "
                             f"alpha={alpha!r}")
        self.value_range = check_value_range(value_range, sort=False)
        self.num_chains, self.chain_depth, self.alpha = num_chains, chain_depth, alpha
        self.all_ops, self.interpolation = all_ops, interpolation
        self.factor = factor_pair(factor, (0, 1), "AugMix")
        made = candidates(self.factor, self.value_range, interpolation, self.data_format,
                          self.bounding_box_format)
        names = _AUGMIX_ORDER if all_ops else _AUGMIX_ORDER[:7]
        self._candidates = tuple(made[name] for name in names)

    def draw(self, key):
        """The chain weights, the blend weight, the ``(num_chains, chain_depth)`` picks (index
        ``len(candidates)``: no step) and the per-step candidate keys, from the step key."""
        kd, kb, kpick, kstep = jax.random.split(key, 4)
        gamma = jax.random.gamma(kd, self.alpha, (self.num_chains,))
        chain_weights = gamma / jnp.sum(gamma)
        keep = jax.random.beta(kb, self.alpha, self.alpha)
        n = len(self._candidates)
        # Index n is Keras's ``None`` choice: the step does nothing.
        picks = jax.random.randint(kpick, (self.num_chains, self.chain_depth), 0, n + 1)
        step_keys = jax.random.split(kstep, self.num_chains * self.chain_depth * n)
        step_keys = step_keys.reshape(self.num_chains, self.chain_depth, n, *step_keys.shape[1:])
        return chain_weights, keep, picks, step_keys

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        self.check_images(x)
        if not training or key is None:
            return x, state
        chain_weights, keep, picks, step_keys = self.draw(key)
        mixed = jnp.zeros_like(x)
        for c in range(self.num_chains):
            chain = x
            for d in range(self.chain_depth):
                branches = [*_branches(self._candidates, step_keys[c, d]), lambda images: images]
                chain = jax.lax.switch(picks[c, d], branches, chain)
            mixed = mixed + chain * chain_weights[c]
        out = keep * x + (1.0 - keep) * mixed
        return jnp.clip(out, self.value_range[0], self.value_range[1]), state

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, num_chains=self.num_chains,
                      chain_depth=self.chain_depth, factor=self.factor, alpha=self.alpha,
                      all_ops=self.all_ops, interpolation=self.interpolation, seed=self.seed)
        return config
