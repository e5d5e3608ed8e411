"""Keras-3-compatible optimizers as optax transformations.

Each optimizer (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``,
``Adamax``, ``Nadam``, ``Lion``, ``Ftrl``, ``Adafactor``, ``Lamb``, ``Muon``,
``ScheduleFreeAdamW``) is a hashable config object with Keras's
constructor arguments; ``to_optax()`` returns the ``optax.GradientTransformation``.

Typical use inside a training step::

    tx = optimizer.to_optax()
    opt_state = tx.init(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)

Learning-rate callbacks use :func:`get_learning_rate` / :func:`set_learning_rate` on the state.
"""

from __future__ import annotations

from lamina.object_registry import ClassRegistry, get_registered_object
from lamina.optimizers import schedules
from lamina.optimizers.adafactor import Adafactor
from lamina.optimizers.adam_family import Adam, Adamax, AdamW, Nadam
from lamina.optimizers.base import Optimizer
from lamina.optimizers.lamb import Lamb
from lamina.optimizers.lion import Ftrl, Lion
from lamina.optimizers.loss_scale import LossScaleOptimizer
from lamina.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from lamina.optimizers.muon import Muon
from lamina.optimizers.rmsprop_family import Adadelta, Adagrad, RMSprop
from lamina.optimizers.schedule_free import ScheduleFreeAdamW
from lamina.optimizers.sgd_momentum import SGD
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
    "Adafactor",
    "Lamb",
    "Muon",
    "ScheduleFreeAdamW",
    "LossScaleOptimizer",
    "MultiOptimizer",
    "OptimizerMap",
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

ALL_OBJECTS = (
    SGD,
    Adam,
    AdamW,
    RMSprop,
    Adagrad,
    Adadelta,
    Adamax,
    Nadam,
    Lion,
    Ftrl,
    Adafactor,
    Lamb,
    Muon,
    ScheduleFreeAdamW,
)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}
# A wrapper (no default constructor), so not in ALL_OBJECTS; found by name all the same.
ALL_OBJECTS_DICT["lossscaleoptimizer"] = LossScaleOptimizer
ALL_OBJECTS_DICT["multioptimizer"] = MultiOptimizer
#: The built-in optimizers by lower-case class name (Keras resolves them case-insensitively).
REGISTRY = ClassRegistry("optimizer", "keras.optimizers", Optimizer)
REGISTRY.update(ALL_OBJECTS_DICT)


def serialize(optimizer: Optimizer) -> dict:
    """Keras 3 serialized form: ``{"module", "class_name", "config", "registered_name"}``.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.serialize(optimizers.Adam())["class_name"]
    'Adam'
    """
    cls = type(optimizer)
    builtin = ALL_OBJECTS_DICT.get(cls.__name__.lower()) is cls
    if builtin:
        return {
            "module": "keras.optimizers",
            "class_name": cls.__name__,
            "config": optimizer.get_config(),
            "registered_name": None,
        }
    return REGISTRY.serialize(optimizer)


def _class_for(config: dict, custom_objects: dict | None):
    name = config["class_name"]
    registered = config.get("registered_name")
    for key in (registered, name):
        if isinstance(key, str):
            user = get_registered_object(key, custom_objects)
            if user is not None:
                return user
    if not isinstance(name, str):
        raise ValueError(f"Could not interpret optimizer config: {config!r}")
    return REGISTRY.lookup(name.lower(), custom_objects)


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of :func:`serialize` (class names are case-insensitive, as in Keras).

    User classes come from ``custom_objects``, ``custom_object_scope`` and
    ``register_keras_serializable``; an unknown name raises a ``ValueError`` naming the
    closest.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.deserialize({"class_name": "sgd", "config": {"momentum": 0.9}}).momentum
    0.9
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer config: {config!r}")
    cls = _class_for(config, custom_objects)
    if cls in (LossScaleOptimizer, MultiOptimizer):  # inner optimizers may be custom classes
        return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)
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
from lamina.optimizers import experimental, legacy  # noqa: E402  (tf.keras 2.x's paths)
from lamina.optimizers.keras2 import add_lowercase_aliases as _add_lowercase_aliases  # noqa: E402

_add_lowercase_aliases(globals())  # Keras 2's keras.optimizers.rmsprop(lr=...), adam(), ...

__getattr__ = _module_getattr("optimizers", globals())  # Keras names Lamina lacks: a clear error
