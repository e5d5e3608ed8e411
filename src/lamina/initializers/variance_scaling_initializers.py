"""Variance scaling: ``compute_fans``, :class:`VarianceScaling` and its presets
(``GlorotUniform``/``GlorotNormal``, ``HeUniform``/``HeNormal``, ``LecunUniform``/``LecunNormal``).

The presets' configs hold only ``seed`` and the fan axes, as Keras's do.
"""

from __future__ import annotations

import math

from lamina.initializers.base import _dtype
from lamina.initializers.random_initializers import (
    RandomInitializer,
    _normal,
    _truncated_normal,
    _uniform,
)


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """Returns ``(fan_in, fan_out)`` exactly as Keras's ``compute_fans``.

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = math.prod(shape[a] for a in input_axes)
        fan_out = math.prod(shape[a] for a in output_axes)
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive_field_size = math.prod(shape[:-2])
        fan_in = shape[-2] * receptive_field_size
        fan_out = shape[-1] * receptive_field_size
    return int(fan_in), int(fan_out)


class VarianceScaling(RandomInitializer):
    """Scale-adaptive initializer: variance ``scale / n`` with ``n`` from ``mode``'s fans.

    ``distribution`` is ``"truncated_normal"`` (``"normal"`` is an alias), ``"untruncated_normal"``
    or ``"uniform"`` (limit ``sqrt(3 * scale / n)``).

    >>> VarianceScaling(2.0, "fan_in", "uniform", seed=0)((4, 5)).shape
    (4, 5)
    """

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(
                f"Invalid `mode` argument: {mode}. Please use one of fan_in, fan_out, fan_avg"
            )
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in {"uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. Please use one of "
                "uniform, truncated_normal, untruncated_normal"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        shape = tuple(shape)
        dt = _dtype(dtype, True)
        key = self._key(key)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(key, shape, dt) * dt.type(stddev)
        if self.distribution == "untruncated_normal":
            return _normal(key, shape, dt) * dt.type(math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return _uniform(key, shape, dt, -limit, limit)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset; its config holds only the seed and axes, as in Keras."""

    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(self._SCALE, self._MODE, self._DISTRIBUTION, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot/Xavier uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    >>> GlorotUniform(seed=0)((4, 5)).dtype
    dtype('float32')
    """

    _MODE, _DISTRIBUTION = "fan_avg", "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Glorot/Xavier normal: truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``."""

    _MODE = "fan_avg"


class HeUniform(_FixedVarianceScaling):
    """He uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""

    _SCALE, _DISTRIBUTION = 2.0, "uniform"


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal, ``stddev = sqrt(2 / fan_in)``."""

    _SCALE = 2.0


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""

    _DISTRIBUTION = "uniform"


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal, ``stddev = sqrt(1 / fan_in)``."""
