"""Schedules that decay with ``step / decay_steps`` without end, or step by boundaries.

``ExponentialDecay``, ``PiecewiseConstantDecay`` and ``InverseTimeDecay``, formula for
formula as ``keras.optimizers.schedules``.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.schedules.base import (
    LearningRateSchedule,
    _check_decay_steps,
    _divisor,
    _f32,
)

__all__ = ["ExponentialDecay", "PiecewiseConstantDecay", "InverseTimeDecay"]


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: float, the learning rate at step 0.
        decay_steps: int > 0.
        decay_rate: float.
        staircase: bool; if True, ``step / decay_steps`` is floored.
        name: str.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(s(10)), 6)
    0.05
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        initial_learning_rate = _f32(self.initial_learning_rate)
        p = _f32(step) / _divisor(self.decay_steps)
        if self.staircase:
            p = jnp.floor(p)
        return initial_learning_rate * jnp.power(_f32(self.decay_rate), p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """Piecewise constant: ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``.

    Args:
        boundaries: increasing list of steps (``len(values) - 1`` entries).
        values: list of learning rates.
        name: str.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> [float(s(t)) for t in (0, 10, 11, 25)]
    [1.0, 1.0, 0.5, 0.10000000149011612]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = jnp.asarray(step)
        boundaries = [jnp.asarray(b).astype(step.dtype) for b in self.boundaries]
        values = [_f32(v) if isinstance(v, float) else jnp.asarray(v) for v in self.values]
        dtype = values[0].dtype
        result = jnp.zeros((), dtype)
        result = result + (step <= boundaries[0]).astype(dtype) * values[0]
        result = result + (step > boundaries[-1]).astype(dtype) * values[-1]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            result = result + ((step > low) & (step <= high)).astype(dtype) * value
        return result

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: float.
        decay_steps: int > 0.
        decay_rate: float.
        staircase: bool; floor ``step / decay_steps`` when True.
        name: str.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    >>> float(s(3))
    0.25
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        initial_learning_rate = _f32(self.initial_learning_rate)
        p = _f32(step) / _divisor(self.decay_steps)
        if self.staircase:
            p = jnp.floor(p)
        denom = _f32(1) + _f32(self.decay_rate) * p
        return initial_learning_rate / denom

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }
