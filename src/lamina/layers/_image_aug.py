"""Shared machinery of the Keras 3 image augmentation layers added in issue #19.

``ImageAugmentation`` is the pure counterpart of Keras's ``BaseImagePreprocessingLayer``: its
``apply`` draws a transformation from the step key (``get_random_transformation``) and hands it
to ``transform_images``, which always sees a batch (a single image gets a batch axis of one, as
Keras's ``transform_single_image``). The transformation dicts use Keras's keys and shapes, so a
test can hand the same dict to both libraries.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lamina.layers.augmentation import _check_format, _hw_axes
from lamina.layers.base import Layer
from lamina.layers.box_data import BoundingBoxAware
from lamina.utils.random import generator_seed

_RANGE_ERROR = "The `value_range` argument should be a list of two numbers. "


def check_value_range(value_range, sort=True):
    """Keras's ``_set_value_range``: two numbers, sorted into a list when ``sort``.

    >>> check_value_range((255, 0))
    [0, 255]
    """
    if not isinstance(value_range, tuple | list) or len(value_range) != 2:
        raise ValueError(_RANGE_ERROR + f"Received: value_range={value_range!r}")
    return sorted(value_range) if sort else value_range


def factor_pair(factor, bounds, layer, name="factor"):
    """Keras's base ``_set_factor``: ``f`` gives ``(max(-|f|, lo), |f|)``; a pair is sorted.

    >>> factor_pair(0.3, (0, 1), "RandomHue")
    (0, 0.3)
    """
    msg = (f"{layer}'s `{name}` should be a number (or a list of two numbers) in the range "
           f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor!r}")
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


def transform_value_range(images, original, target):
    """Keras's ``_transform_value_range``: maps ``original`` linearly onto ``target``.

    >>> float(transform_value_range(jnp.float32(0.5), (0, 1), (0, 255)))
    127.5
    """
    if original[0] == target[0] and original[1] == target[1]:
        return images
    images = (images - original[0]) / (original[1] - original[0])
    return images * (target[1] - target[0]) + target[0]


def batch_size(images):
    """The batch size of a rank-4 batch, 1 for one rank-3 image."""
    return images.shape[0] if images.ndim == 4 else 1


class ImageAugmentation(BoundingBoxAware, Layer):
    """Base of the image augmentation layers: inference identity, batch handling, config.

    Subclasses set ``get_random_transformation(key, images)`` (a dict, Keras's keys) and
    ``transform_images(images, transformation, training=True)`` (``images`` always a batch).
    ``active_at_inference = True`` makes ``transform_images`` run with ``training=False`` and
    ``transformation=None`` at inference (AutoContrast).

    As Keras's base layer, every subclass takes ``bounding_box_format=`` and a data dict
    (``{"images", "bounding_boxes", "labels", "segmentation_masks"}``); how each moves boxes
    and masks is in ``lamina.layers.box_plans_aug``.
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    uses_rng = True
    active_at_inference = False
    #: Whether Keras gives the layer a SeedGenerator (deterministic layers have none).
    _keras_seed_generator = True

    def __init__(self, seed=None, data_format=None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = seed
        self._generator_seed = generator_seed(seed, self._keras_seed_generator)
        self.data_format = _check_format(data_format)

    @property
    def channel_axis(self):
        """The channel axis of a batch."""
        return -1 if self.data_format == "channels_last" else -3

    def check_images(self, x):
        """Validates the images (rank here; subclasses add channel checks)."""
        _hw_axes(x.ndim, self.data_format, type(self).__name__)

    def get_random_transformation(self, key, images):
        """Draws the per-batch transformation from ``key``; None for deterministic layers."""
        return None

    def transform_images(self, images, transformation, training=True):
        """Transforms a batch of images; subclasses implement it."""
        raise NotImplementedError

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        self.check_images(x)
        active = bool(training) and key is not None
        if not active and not self.active_at_inference:
            return x, state
        batch = x[None] if x.ndim == 3 else x
        transformation = self.get_random_transformation(key, batch) if active else None
        out = self.transform_images(batch, transformation, training=active)
        return (out[0] if x.ndim == 3 else out), state

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
