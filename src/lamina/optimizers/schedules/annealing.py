"""Schedules that anneal to a floor over a fixed number of steps, optionally restarting.

``PolynomialDecay``, ``CosineDecay`` (with optional linear warmup) and
``CosineDecayRestarts`` (SGDR), formula for formula as ``keras.optimizers.schedules``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from lamina.optimizers.schedules.base import (
    LearningRateSchedule,
    _check_decay_steps,
    _divisor,
    _f32,
)

__all__ = ["PolynomialDecay", "CosineDecay", "CosineDecayRestarts"]


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``.

    ``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps`` (or, with ``cycle=True``, ``decay_steps`` stretched to the next multiple).

    Args:
        initial_learning_rate: float.
        decay_steps: int > 0.
        end_learning_rate: float, default 0.0001.
        power: float, default 1.0.
        cycle: bool.
        name: str.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0)
    >>> float(s(5)), float(s(20))
    (0.5, 0.0)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        initial_learning_rate = _f32(self.initial_learning_rate)
        end_learning_rate = _f32(self.end_learning_rate)
        power = _f32(self.power)
        global_step = _f32(step)
        decay_steps = _divisor(self.decay_steps)
        if self.cycle:
            multiplier = jnp.where(
                global_step == 0, _f32(1.0), jnp.ceil(global_step / _divisor(self.decay_steps))
            )
            decay_steps = decay_steps * multiplier
        else:
            global_step = jnp.minimum(global_step, decay_steps)
        p = global_step / decay_steps
        return (initial_learning_rate - end_learning_rate) * jnp.power(
            1 - p, power
        ) + end_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (SGDR without restarts).

    Without ``warmup_target``: ``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) +
    alpha)`` with ``t = min(step, decay_steps)``.  With ``warmup_target``, the rate first rises
    linearly from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    decays from ``warmup_target``.

    Args:
        initial_learning_rate: float.
        decay_steps: int > 0.
        alpha: float, minimum as a fraction of the start value.
        name: str.
        warmup_target: float or None.
        warmup_steps: int.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.CosineDecay(1.0, decay_steps=10)
    >>> float(s(0)), round(float(s(5)), 6), float(s(10))
    (1.0, 0.5, 0.0)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_decay_steps(decay_steps)

    def _decay_function(self, step, decay_steps, decay_from_lr):
        completed_fraction = step / decay_steps
        pi = _f32(math.pi)
        cosine_decayed = 0.5 * (1.0 + jnp.cos(pi * completed_fraction))
        decayed = (1 - self.alpha) * cosine_decayed + self.alpha
        return decay_from_lr * decayed

    def __call__(self, step):
        initial_learning_rate = _f32(self.initial_learning_rate)
        decay_steps = _divisor(self.decay_steps)
        global_step = _f32(step)
        if self.warmup_target is None:
            global_step = jnp.minimum(global_step, decay_steps)
            return self._decay_function(global_step, decay_steps, initial_learning_rate)
        warmup_target = _f32(self.warmup_target)
        warmup_steps = _divisor(self.warmup_steps)
        global_step = jnp.minimum(global_step, decay_steps + warmup_steps)
        # Guard the unused branch against 0/0 when warmup_steps == 0.
        safe_warmup = jnp.where(warmup_steps > 0, warmup_steps, _f32(1.0))
        warm = (warmup_target - initial_learning_rate) * (
            global_step / safe_warmup
        ) + initial_learning_rate
        decay = self._decay_function(global_step - warmup_steps, decay_steps, warmup_target)
        return jnp.where(global_step < warmup_steps, warm, decay)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR), periods growing by ``t_mul``.

    Args:
        initial_learning_rate: float.
        first_decay_steps: int > 0, length of the first period.
        t_mul: float, period growth factor.
        m_mul: float, restart learning-rate factor.
        alpha: float, minimum as a fraction of the start value.
        name: str.

    Example:

    >>> from lamina.optimizers import schedules
    >>> s = schedules.CosineDecayRestarts(1.0, first_decay_steps=10)
    >>> float(s(0)), float(s(10))
    (1.0, 1.0)
    """

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_decay_steps(first_decay_steps, "first_decay_steps")

    def __call__(self, step):
        initial_learning_rate = _f32(self.initial_learning_rate)
        first_decay_steps = _divisor(self.first_decay_steps)
        alpha = _f32(self.alpha)
        t_mul = _divisor(self._t_mul)
        m_mul = _f32(self._m_mul)
        completed_fraction = _f32(step) / first_decay_steps
        if float(self._t_mul) == 1.0:
            i_restart = jnp.floor(completed_fraction)
            completed_fraction = completed_fraction - i_restart
        else:
            i_restart = jnp.floor(
                jnp.log(1.0 - completed_fraction * (1.0 - t_mul)) / jnp.log(t_mul)
            )
            sum_r = (1.0 - jnp.power(t_mul, i_restart)) / (1.0 - t_mul)
            completed_fraction = (completed_fraction - sum_r) / jnp.power(t_mul, i_restart)
        m_fac = jnp.power(m_mul, i_restart)
        cosine_decayed = 0.5 * m_fac * (1.0 + jnp.cos(_f32(math.pi) * completed_fraction))
        decayed = (1 - alpha) * cosine_decayed + alpha
        return initial_learning_rate * decayed

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }
