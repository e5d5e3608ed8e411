"""The learning-rate schedule base class and the float32 helpers the schedules share.

:class:`LearningRateSchedule` is Keras's base (``__call__(step)``, ``get_config``,
``from_config``), made hashable by its config so an optimizer holding a schedule stays a
valid jit cache key.  ``_f32``, ``_divisor`` and ``_check_decay_steps`` keep the built-in
schedules' arithmetic and argument checks identical to Keras's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["LearningRateSchedule"]

_F32 = jnp.float32


def _f32(x):
    return jnp.asarray(x, dtype=_F32)


def _divisor(x):
    """A float32 constant hidden from XLA's constant folding.

    Under ``jit`` XLA rewrites ``x / c`` for a constant ``c`` as ``x * (1 / c)``, which is not
    exact (``150 / 30`` becomes ``5.0000005``) and flips ``floor``/``ceil`` results; Keras's
    reference values divide exactly.
    """
    return jax.lax.optimization_barrier(_f32(x))


def _freeze(x):
    if isinstance(x, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(v) for v in x)
    return x


def _check_decay_steps(value, arg="decay_steps"):
    if value <= 0:
        raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value}")


class LearningRateSchedule:
    """Base class of learning-rate schedules: ``lr = schedule(step)``.

    Subclasses implement ``__call__(step)`` (jit-compatible) and ``get_config()``.

    Example:

    >>> from lamina.optimizers import schedules
    >>> class Halving(schedules.LearningRateSchedule):
    ...     def __init__(self, lr):
    ...         self.lr = lr
    ...     def __call__(self, step):
    ...         return self.lr / (1.0 + step)
    ...     def get_config(self):
    ...         return {"lr": self.lr}
    >>> float(Halving(1.0)(1))
    0.5
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override "
            "`__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override "
            "`get_config()` in order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        """Instantiates the schedule from its config dict."""
        return cls(**config)

    def _key(self):
        try:
            return (type(self), _freeze(self.get_config()))
        except NotImplementedError:
            return (type(self), id(self))

    def __eq__(self, other):
        return isinstance(other, LearningRateSchedule) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"
