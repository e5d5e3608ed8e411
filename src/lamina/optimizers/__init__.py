"""Keras-3-compatible optimizers as optax transformations.

Each optimizer (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``,
``Adamax``, ``Nadam``, ``Lion``, ``Ftrl``) is a hashable config object with Keras's
constructor arguments; ``to_optax()`` returns the ``optax.GradientTransformation``.

Typical use inside a training step::

    tx = optimizer.to_optax()
    opt_state = tx.init(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)

Learning-rate callbacks use :func:`get_learning_rate` / :func:`set_learning_rate` on the state.
"""

from __future__ import annotations

from lamina._naming import unknown_name_error
from lamina.optimizers import schedules
from lamina.optimizers.adam import Adam, Adamax, AdamW, Nadam
from lamina.optimizers.base import Optimizer
from lamina.optimizers.lion import Ftrl, Lion
from lamina.optimizers.rmsprop import Adadelta, Adagrad, RMSprop
from lamina.optimizers.sgd import SGD
from lamina.optimizers.slots import set_slot_variables, slot_variables
from lamina.optimizers.state import (
    OptimizerState,
    get_ema_params,
    get_iterations,
    get_learning_rate,
    set_learning_rate,
)

__all__ = [
    "Optimizer",
    "OptimizerState",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Lion",
    "Ftrl",
    "schedules",
    "get",
    "serialize",
    "deserialize",
    "get_iterations",
    "get_learning_rate",
    "set_learning_rate",
    "get_ema_params",
    "slot_variables",
    "set_slot_variables",
]

ALL_OBJECTS = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def serialize(optimizer: Optimizer) -> dict:
    """Keras 3 serialized form: ``{"module", "class_name", "config", "registered_name"}``.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.serialize(optimizers.Adam())["class_name"]
    'Adam'
    """
    cls = type(optimizer)
    builtin = ALL_OBJECTS_DICT.get(cls.__name__.lower()) is cls
    return {
        "module": "keras.optimizers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": optimizer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of :func:`serialize` (class names are case-insensitive, as in Keras).

    Example:

    >>> from lamina import optimizers
    >>> optimizers.deserialize({"class_name": "sgd", "config": {"momentum": 0.9}}).momentum
    0.9
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer config: {config!r}")
    name = config["class_name"]
    custom = dict(custom_objects or {})
    cls = custom.get(name) or custom.get(config.get("registered_name") or "")
    if cls is None:
        cls = ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        raise unknown_name_error("optimizer", name, list(ALL_OBJECTS_DICT) + list(custom))
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier) -> Optimizer | None:
    """Returns an optimizer from a name (``"adam"``), a serialized dict or an instance.

    Raises:
        ValueError: unknown name (listing valid names and the closest match) or an identifier
            that is not an optimizer.

    Example:

    >>> from lamina import optimizers
    >>> type(optimizers.get("RMSprop")).__name__
    'RMSprop'
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("optimizers", globals())  # Keras names Lamina lacks: a clear error
