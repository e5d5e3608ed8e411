"""Learning-rate schedules, formula-for-formula as ``keras.optimizers.schedules``.

Each schedule is a pure function of the step (``__call__(step)``), usable inside ``jax.jit``
and ``lax.scan``; values are float32 like Keras's (``floatx``).  ``get_config``/
``from_config``/``serialize``/``deserialize`` use Keras's formats.

The package's modules: ``base`` (``LearningRateSchedule``), ``decay`` (exponential,
piecewise-constant and inverse-time decay), ``annealing`` (polynomial decay, cosine decay,
cosine decay with restarts) and ``serialization`` (the registry, ``serialize``,
``deserialize``, ``get``); every name is importable from here.
"""

from __future__ import annotations

from lamina.optimizers.schedules.annealing import (
    CosineDecay,
    CosineDecayRestarts,
    PolynomialDecay,
)
from lamina.optimizers.schedules.base import LearningRateSchedule
from lamina.optimizers.schedules.decay import (
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
)
from lamina.optimizers.schedules.serialization import REGISTRY, deserialize, get, serialize

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
