"""Learning-rate schedules, formula-for-formula as ``keras.optimizers.schedules``.

Each schedule is a pure function of the step (``__call__(step)``), usable inside ``jax.jit``
and ``lax.scan``; values are float32 like Keras's (``floatx``).  ``get_config``/
``from_config``/``serialize``/``deserialize`` use Keras's formats.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lamina.object_registry import ClassRegistry

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
    "get",
]

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


_ALL = {
    c.__name__: c
    for c in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}
#: The built-in schedules by class name (``LearningRateSchedule`` resolves, unlisted).
REGISTRY = ClassRegistry(
    "learning rate schedule", "keras.optimizers.schedules", LearningRateSchedule
)
REGISTRY.update(_ALL)
REGISTRY.add(LearningRateSchedule, "LearningRateSchedule", listed=False)


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """Keras-format dict: ``{"module", "class_name", "config", "registered_name"}``.

    User schedules carry their registered name (``register_keras_serializable``), as in Keras.

    Example:

    >>> from lamina.optimizers import schedules
    >>> schedules.serialize(schedules.ExponentialDecay(0.1, 10, 0.9))["class_name"]
    'ExponentialDecay'
    """
    return REGISTRY.serialize(learning_rate_schedule)


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of :func:`serialize` (also accepts Keras's own serialized schedules).

    Classes are found by ``registered_name`` then ``class_name``: in ``custom_objects``, any
    ``custom_object_scope``, ``register_keras_serializable`` registrations, then the built-ins;
    an unknown name raises a ``ValueError`` naming the closest.

    >>> from lamina.optimizers import schedules
    >>> cfg = {"class_name": "InverseTimeDecay", "config": {"initial_learning_rate": 0.1,
    ...        "decay_steps": 10, "decay_rate": 0.5}}
    >>> type(schedules.deserialize(cfg)).__name__
    'InverseTimeDecay'
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret learning rate schedule config: {config!r}")
    return REGISTRY.deserialize(config, custom_objects)


def get(identifier):
    """Returns a schedule from a schedule, a serialized dict, or None.

    >>> from lamina.optimizers import schedules
    >>> get(None) is None
    True
    """
    if identifier is None or isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret learning rate schedule identifier: {identifier!r}")
