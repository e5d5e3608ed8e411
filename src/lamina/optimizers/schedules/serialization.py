"""The built-in schedules' registry and Keras's ``serialize``/``deserialize``/``get``.

Serialized schedules use Keras's format (``{"module", "class_name", "config",
"registered_name"}``); user schedules resolve through ``custom_objects``,
``custom_object_scope`` and ``register_keras_serializable``.
"""

from __future__ import annotations

from lamina.object_registry import ClassRegistry
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

__all__ = ["REGISTRY", "serialize", "deserialize", "get"]

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
