"""Keras 2's object (de)serialization, as Keras 3 keeps it in ``keras.legacy.saving`` (and
``keras.utils.legacy``): ``{"class_name": ..., "config": ...}`` dicts, the format of Keras 2's
``get_config`` and model JSON.

* :func:`serialize_keras_object` turns an object with ``get_config`` into
  ``{"class_name": <registered name>, "config": {...}}``; entries of its config that are
  objects become such dicts too, marked ``"__passive_serialization__": True``; a function
  becomes its registered name.
* :func:`deserialize_keras_object` reverses it, looking names up in ``custom_objects``,
  ``custom_object_scope``, registered objects and then the ``module_objects`` the caller passes
  (as Keras 2: built-ins are found only through ``module_objects``); a class named by a
  string is instantiated without arguments, a function returned as is.  Nothing named in a
  config is imported.

>>> import lamina
>>> from lamina.legacy.saving import deserialize_keras_object, serialize_keras_object
>>> config = serialize_keras_object(lamina.layers.Dense(3, activation="relu", name="d"))
>>> config["class_name"], config["config"]["units"], config["config"]["activation"]
('Dense', 3, 'relu')
>>> layer = deserialize_keras_object(config, module_objects=vars(lamina.layers))
>>> type(layer).__name__, layer.units
('Dense', 3)
"""

from __future__ import annotations

import inspect
from typing import Any

from lamina.object_registry import custom_object_scope, get_registered_name, get_registered_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]

_PASSIVE = "__passive_serialization__"


def serialize_keras_object(instance) -> Any:
    """The Keras 2 form of ``instance``.

    Args:
        instance: ``None``, an object with ``get_config`` (layer, initializer, optimizer, ...)
            or a named function or class.

    Returns:
        ``None``, ``{"class_name": ..., "config": ...}`` or the function's registered name.

    Raises:
        ValueError: ``instance`` has neither ``get_config`` nor a name (Keras's message).
    """
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                serialized = serialize_keras_object(item)
            except ValueError:  # a plain value (number, list, dict): kept as it is
                config[key] = item
                continue
            if isinstance(serialized, dict) and not isinstance(item, dict):
                serialized[_PASSIVE] = True
            config[key] = serialized
        return {"class_name": get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return get_registered_name(instance)
    raise ValueError(f"Cannot serialize {instance} because it doesn't implement `get_config()`.")


def _unknown(kind: str, name: str) -> ValueError:
    return ValueError(
        f"Unknown {kind}: '{name}'. Please ensure you are using a "
        "`keras.utils.custom_object_scope` and that this object is included in the scope, or "
        "pass it in `custom_objects` (built-in objects: `module_objects`, e.g. "
        "module_objects=vars(lamina.layers))."
    )


def _lookup(name, module_objects, custom_objects, kind):
    if not isinstance(name, str):
        raise ValueError(f"Could not interpret serialized {kind}: {name!r}")
    found = get_registered_object(name, custom_objects, module_objects)
    if found is None:
        raise _unknown(kind, name)
    return found


def deserialize_keras_object(
    identifier, module_objects=None, custom_objects=None, printable_module_name="object"
) -> Any:
    """The object a Keras 2 serialized form describes.

    Args:
        identifier: ``None``, a ``{"class_name", "config"}`` dict, a name, or a function.
        module_objects: ``{name: class or function}`` of built-in objects to look names up in
            (e.g. ``vars(lamina.layers)``).
        custom_objects: ``{name: class or function}`` of user objects (searched first).
        printable_module_name: the kind of object named in errors.

    Returns:
        The object: ``cls.from_config(config)`` for a dict; for a name, the function, or the
        class instantiated without arguments.

    Raises:
        ValueError: a malformed form or a name found nowhere (Keras's messages).
    """
    try:
        return _deserialize(identifier, module_objects, custom_objects, printable_module_name)
    except RecursionError:
        raise ValueError(
            f"Could not interpret serialized {printable_module_name}: it nests too deeply to "
            "be a Keras object's config."
        ) from None


def _deserialize(identifier, module_objects, custom_objects, kind):
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(
                f"Improper config format for {identifier}. Expecting python dict contains "
                "`class_name` and `config` as keys"
            )
        cls = _lookup(identifier["class_name"], module_objects, custom_objects, kind)
        config = identifier["config"]
        if isinstance(config, dict):
            config = _restored_items(config, module_objects, custom_objects)
        with custom_object_scope(custom_objects or {}):
            if hasattr(cls, "from_config"):
                if "custom_objects" in _parameters(cls.from_config):  # models take them
                    return cls.from_config(config, custom_objects=custom_objects)
                return cls.from_config(config)
            if not isinstance(config, dict):
                raise ValueError(
                    f"Could not interpret serialized {kind}: the config of "
                    f"{identifier['class_name']!r} must be a dict. Received: {config!r}"
                )
            return cls(**config)
    if isinstance(identifier, str):
        found = _lookup(identifier, module_objects, custom_objects, kind)
        return found() if inspect.isclass(found) else found
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {kind}: {identifier}")


def _parameters(fn) -> tuple:
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return ()


def _restored_items(config: dict, module_objects, custom_objects) -> dict:
    """``config`` with its passively serialized objects rebuilt and the names of functions
    replaced by the functions, as Keras 2 does before ``from_config``."""
    out = dict(config)
    for key, item in config.items():
        if key == "name":
            continue
        if isinstance(item, dict) and _PASSIVE in item:
            passive = {k: v for k, v in item.items() if k != _PASSIVE}
            out[key] = _deserialize(passive, module_objects, custom_objects, "config_item")
        elif isinstance(item, str):
            found = get_registered_object(item, custom_objects, module_objects)
            if inspect.isfunction(found):
                out[key] = found
    return out
