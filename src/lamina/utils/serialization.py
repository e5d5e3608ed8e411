"""Keras's ``serialize_keras_object`` / ``deserialize_keras_object`` over Lamina's registries.

Objects become Keras 3's dicts (``{"module", "class_name", "config", "registered_name"}``);
NumPy arrays become ``{"class_name": "__numpy__", ...}``; plain values, lists, tuples and
dicts are walked.  Deserializing looks every name up in ``lamina.object_registry`` (built-ins,
``custom_objects``, ``custom_object_scope`` and ``register_keras_serializable``): it never
imports a module or evaluates code named in a config.

>>> import lamina
>>> from lamina.utils import deserialize_keras_object, serialize_keras_object
>>> config = serialize_keras_object(lamina.initializers.Constant(2.0))
>>> config["module"], config["class_name"], config["config"]
('keras.initializers', 'Constant', {'value': 2.0})
>>> deserialize_keras_object(config).get_config()
{'value': 2.0}
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from typing import Any

import jax
import numpy as np

from lamina.object_registry import get_registered_name, get_registered_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]

# (Keras module in configs, lamina module, base class attribute of that module)
_KINDS = [
    ("keras.layers", "lamina.layers", "Layer"),
    ("keras.losses", "lamina.losses", "Loss"),
    ("keras.metrics", "lamina.metrics", "Metric"),
    ("keras.optimizers.schedules", "lamina.optimizers.schedules", "LearningRateSchedule"),
    ("keras.optimizers", "lamina.optimizers", "Optimizer"),
    ("keras.initializers", "lamina.initializers", "Initializer"),
    ("keras.regularizers", "lamina.regularizers", "Regularizer"),
    ("keras.constraints", "lamina.constraints", "Constraint"),
]
_FUNCTION_MODULES = ["lamina.activations", "lamina.losses", "lamina.metrics"]


def _module(name):
    return importlib.import_module(name)  # only Lamina's own modules listed above


# ----------------------------------------------------------------- shared objects
_SHARING = threading.local()


@contextlib.contextmanager
def object_sharing_scope():
    """Keras's ``ObjectSharingScope`` around saving or loading one model's config: a layer
    serialized twice (a ``Dense`` in the model and inside a custom layer reading its kernel,
    tied weights) gets one ``"shared_object_id"`` in both configs, and loading gives back one
    object for that id.

    >>> import lamina
    >>> dense = lamina.layers.Dense(2)
    >>> with object_sharing_scope():
    ...     a, b = serialize_keras_object(dense), serialize_keras_object(dense)
    ...     c = deserialize_keras_object(a)
    ...     c is deserialize_keras_object(b)
    True
    >>> a["shared_object_id"] == b["shared_object_id"], "shared_object_id" in c.get_config()
    (True, False)
    """
    previous = getattr(_SHARING, "maps", None)
    _SHARING.maps = ({}, {})  # id(object) -> (object, its first config); shared id -> object
    try:
        yield
    finally:
        _SHARING.maps = previous


def record_serialized(obj, config):
    """Notes ``config`` as ``obj``'s in the open sharing scope; a second config of the same
    object marks both with ``"shared_object_id"`` (Keras's rule).  Returns ``config``."""
    maps = getattr(_SHARING, "maps", None)
    if maps is None or not isinstance(config, dict):
        return config
    first = maps[0].get(id(obj))
    if first is None:
        maps[0][id(obj)] = (obj, config)  # the object kept alive: its id stays unique
    else:
        config["shared_object_id"] = first[1]["shared_object_id"] = id(obj)
    return config


def shared_object(config):
    """The object already loaded for ``config``'s ``"shared_object_id"`` in the open sharing
    scope, or None."""
    maps = getattr(_SHARING, "maps", None)
    if maps is None or not isinstance(config, dict):
        return None
    return maps[1].get(_shared_id(config))


def record_deserialized(config, obj):
    """Notes ``obj`` (a layer: the objects Lamina shares) as the object of ``config``'s
    ``"shared_object_id"``.  Returns ``obj``."""
    from lamina.layers.base import Layer

    maps = getattr(_SHARING, "maps", None)
    key = _shared_id(config) if isinstance(config, dict) else None
    if maps is not None and key is not None and isinstance(obj, Layer):
        maps[1].setdefault(key, obj)
    return obj


def _shared_id(config: dict):
    key = config.get("shared_object_id")
    return key if isinstance(key, int) and not isinstance(key, bool) else None


def serialize_keras_object(obj) -> Any:
    """A JSON-friendly description of ``obj`` (Keras 3's format).

    Args:
        obj: ``None``, a plain value, a list/tuple/dict of them, a NumPy array, a Lamina
            object (layer, loss, metric, optimizer, schedule, initializer, regularizer,
            constraint, or any object with ``get_config``) or a named function.

    Returns:
        The serialized form.

    Raises:
        TypeError: for an object that cannot be described.
    """
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {
            "class_name": "__numpy__",
            "config": {"value": obj.tolist(), "dtype": str(obj.dtype)},
        }
    if isinstance(obj, jax.Array) and not isinstance(obj, jax.core.Tracer):
        return {  # Keras's form of a backend tensor
            "class_name": "__tensor__",
            "config": {"value": np.asarray(obj).tolist(), "dtype": str(obj.dtype)},
        }
    if isinstance(obj, list | tuple):
        out = [serialize_keras_object(v) for v in obj]
        return tuple(out) if isinstance(obj, tuple) else out
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    for _, module_name, base in _KINDS:
        module = _module(module_name)
        if isinstance(obj, getattr(module, base)):
            out = module.serialize(obj)
            cls = type(obj)
            if isinstance(out, dict) and not cls.__module__.startswith("lamina."):
                out = {**out, "module": cls.__module__, "registered_name": get_registered_name(cls)}
            return record_serialized(obj, out) if base == "Layer" else out
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "get_config")):
        name = get_registered_name(obj)
        if not name or name == "<lambda>":
            raise TypeError(f"Cannot serialize {obj!r}: it has no name to look it up by.")
        return {"module": getattr(obj, "__module__", None), "class_name": "function",
                "config": name, "registered_name": "function"}  # fmt: skip
    if hasattr(obj, "get_config"):
        return {"module": type(obj).__module__, "class_name": type(obj).__name__,
                "config": serialize_keras_object(obj.get_config()),
                "registered_name": get_registered_name(type(obj))}  # fmt: skip
    raise TypeError(
        f"Cannot serialize object {obj!r} of type {type(obj).__name__}: expected a plain value, "
        "an array, or a Keras object with get_config()."
    )


def _function(name: str, custom_objects):
    found = get_registered_object(name, custom_objects)
    if found is not None:
        return found
    for module_name in _FUNCTION_MODULES:
        module = _module(module_name)
        try:
            return module.get(name)
        except (ValueError, TypeError, AttributeError):
            continue
    raise ValueError(
        f"Could not find a function or class named {name!r}. Register it with "
        "register_keras_serializable or pass it in custom_objects."
    )


#: Deepest nesting of lists and dicts :func:`deserialize_keras_object` walks (real configs
#: nest a few levels; a hostile one nested 100,000 deep would exhaust Python's stack).
MAX_DEPTH = 200


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs) -> Any:
    """Rebuilds an object from :func:`serialize_keras_object`'s (or Keras's) output.

    Args:
        config: the serialized form.
        custom_objects: ``{name: class or function}`` for user objects.
        safe_mode: Keras's flag; Lamina never runs code from a config either way.
        **kwargs: Keras's legacy arguments (``module_objects``, ``printable_module_name``) are
            accepted and ignored.

    Returns:
        The object.

    Raises:
        ValueError: for a name that is not registered or a malformed config.
    """
    del safe_mode, kwargs
    try:
        return _deserialize(config, custom_objects, 0)
    except RecursionError:  # a nesting _deserialize's own limit did not see (inside a layer)
        raise ValueError(
            "Could not deserialize the config: it is nested too deeply to be a Keras object."
        ) from None


def _deserialize(config, custom_objects, depth: int) -> Any:
    if config is None or isinstance(config, bool | int | float):
        return config
    if isinstance(config, str):
        # Keras: a name of a custom or registered object is that object; any other string
        # is a plain value ("relu", "SGD"), left for the caller's own lookup.
        found = get_registered_object(config, custom_objects)
        return config if found is None else found
    if depth >= MAX_DEPTH:
        raise ValueError(
            f"Could not deserialize the config: its lists and dicts nest more than {MAX_DEPTH} "
            "levels deep, far beyond any Keras object's config."
        )
    if isinstance(config, list | tuple):
        out = [_deserialize(v, custom_objects, depth + 1) for v in config]
        return tuple(out) if isinstance(config, tuple) else out
    if not isinstance(config, dict):
        raise ValueError(
            f"Could not deserialize {str(config)[:200]!r}: expected a dict, a name or a value."
        )
    class_name = config.get("class_name")
    if class_name is None or "config" not in config:
        return {k: _deserialize(v, custom_objects, depth + 1) for k, v in config.items()}
    shared = shared_object(config)
    if shared is not None:  # the object another config of this file named (Keras's sharing)
        return shared
    return record_deserialized(config, _deserialize_object(config, class_name, custom_objects))


def _deserialize_object(config, class_name, custom_objects) -> Any:
    if not isinstance(class_name, str):
        raise TypeError(
            f"A serialized object's 'class_name' must be a string. Received: {class_name!r} "
            f"(of type {type(class_name).__name__})."
        )
    for key in ("module", "registered_name"):
        if not isinstance(config.get(key), str | type(None)):
            raise TypeError(
                f"A serialized object's {key!r} must be a string or null. Received: "
                f"{config[key]!r} (of type {type(config[key]).__name__})."
            )
    if class_name in ("__numpy__", "__tensor__"):
        from lamina.object_registry import array_entry

        return array_entry(config)
    if class_name == "function":
        if not isinstance(config["config"], str):
            raise TypeError(
                "A serialized function's 'config' must be its registered name (a string). "
                f"Received: {config['config']!r} (of type {type(config['config']).__name__})."
            )
        return _function(config["config"], custom_objects)
    module = config.get("module") or ""
    layers = _module("lamina.layers.registry")
    if class_name in layers.MODEL_CLASS_NAMES and module.startswith("keras"):
        # Keras writes a model's module as "keras" or "keras.src.models.functional".
        return layers.deserialize(config, custom_objects=custom_objects)
    for keras_module, module_name, _ in _KINDS:
        if module == keras_module:
            return _module(module_name).deserialize(config, custom_objects=custom_objects)
    registered = config.get("registered_name") or class_name
    cls = get_registered_object(registered, custom_objects) or get_registered_object(
        class_name, custom_objects
    )
    if cls is None:
        raise ValueError(
            f"Could not locate class {class_name!r} (module {module!r}). Make sure custom classes "
            "are decorated with `@keras.saving.register_keras_serializable()` or passed in "
            f"custom_objects. Full object config: {str(config)[:500]}"
        )
    inner = config["config"]
    if not isinstance(inner, dict):
        raise TypeError(
            f"The 'config' of a serialized {class_name} must be a dict of its arguments. "
            f"Received: {str(inner)[:200]!r} (of type {type(inner).__name__})."
        )
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)
