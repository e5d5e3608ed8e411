"""Activations read back from names and Keras 3's serialized dicts: the name registry of
:mod:`lamina.activations` (which fills it with its functions) and :func:`deserialize`.

Use them through :mod:`lamina.activations`; this module holds no activation of its own, so a
registry lookup here finds the built-ins once ``lamina.activations`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.object_registry import Registry, get_registered_object

_REGISTRY = Registry("activation", "keras.activations")


def _from_name(name: str, custom_objects: dict | None = None) -> Callable:
    return _REGISTRY.lookup(name, custom_objects)


def _from_dict(config: dict, custom_objects: dict | None = None) -> Callable:
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name == "function" or (class_name is None and isinstance(inner, str)):
        if not isinstance(inner, str):
            raise ValueError(f"Could not interpret activation config: {config!r}")
        registered = config.get("registered_name")
        if isinstance(registered, str) and registered != inner:
            fn = get_registered_object(registered, custom_objects)
            if fn is not None:
                return fn
        return _from_name(inner, custom_objects)
    if isinstance(class_name, str):
        return _from_name(class_name, custom_objects)
    raise ValueError(f"Could not interpret activation config: {config!r}")


def deserialize(config: Any, custom_objects: dict | None = None) -> Callable:
    """Returns the activation function for a name or a Keras-serialized dict.

    Args:
        config: a name (``"relu"``) or Keras's ``{"class_name": "function", ...}`` dict.
        custom_objects: user functions by name (see :mod:`lamina.object_registry`).

    >>> from lamina.activations import relu
    >>> deserialize("relu") is relu
    True
    """
    if isinstance(config, str):
        return _from_name(config, custom_objects)
    if isinstance(config, dict):
        return _from_dict(config, custom_objects)
    raise TypeError(f"Cannot deserialize an activation from {type(config).__name__}: {config!r}")
