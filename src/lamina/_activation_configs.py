"""Activations to and from configs, as Keras 3 writes them: the name registry of
:mod:`lamina.activations` (which fills it with its functions), :func:`deserialize`, and the
config of an activation that is not a built-in function.

Keras 3's ``activations.serialize`` writes:

* a built-in function (or any function named like one) as its name: ``"relu"``;
* any other function as a function entry naming it by its registered name
  (``register_keras_serializable(package="pkg", name="f")`` -> ``"pkg>f"``), else its
  ``__name__``: ``{"module": "builtins", "class_name": "function", "config": "pkg>f",
  "registered_name": "function"}``;
* an object such as a layer (``Dense(2, activation=LeakyReLU(0.2))``) as the object's own
  serialized config: ``{"module": "keras.layers", "class_name": "LeakyReLU", ...}``.

Use them through :mod:`lamina.activations`; this module holds no activation of its own, so a
registry lookup here finds the built-ins once ``lamina.activations`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.object_registry import (
    Registry,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
)

_REGISTRY = Registry("activation", "keras.activations")


def _from_name(name: str, custom_objects: dict | None = None) -> Callable:
    try:
        return _REGISTRY.lookup(name, custom_objects)
    except ValueError:
        # Files written before Lamina stored registered names hold a registered function's
        # ``__name__`` (``"my_softplus"`` for ``pkg>sp``): find it among the registrations.
        found = [
            fn
            for fn in get_custom_objects().values()
            if callable(fn) and not isinstance(fn, type) and getattr(fn, "__name__", None) == name
        ]
        if len({id(fn) for fn in found}) == 1:
            return found[0]
        raise


def _from_dict(config: dict, custom_objects: dict | None = None) -> Callable:
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name == "function" or (class_name is None and isinstance(inner, str)):
        if not isinstance(inner, str):
            raise ValueError(f"Could not interpret activation config: {config!r}")
        registered = config.get("registered_name")
        if isinstance(registered, str) and registered not in (inner, "function"):
            fn = get_registered_object(registered, custom_objects)
            if fn is not None:
                return fn
        return _from_name(inner, custom_objects)
    if isinstance(class_name, str) and (class_name in _REGISTRY or not isinstance(inner, dict)):
        return _from_name(class_name, custom_objects)  # {"class_name": "elu", "config": {}}
    if isinstance(class_name, str):  # an object's config: a layer, as Keras writes one
        obj = _object_from_config(config, custom_objects)
        if callable(obj):
            return obj
        raise ValueError(f"Could not interpret activation function identifier: {config!r}")
    raise ValueError(f"Could not interpret activation config: {config!r}")


def _object_from_config(config: dict, custom_objects: dict | None) -> Any:
    """The object of a serialized config, looked up in Lamina's registries only (a config
    never makes Lamina import a module it names)."""
    from lamina.models.functional_config import deserialize_layer
    from lamina.utils.serialization import deserialize_keras_object

    module = config.get("module") or ""
    if module.startswith("keras.") and not module.startswith(("keras.layers", "keras.src.layers")):
        return deserialize_keras_object(config, custom_objects)
    # Keras's layers, user layer classes (by registered name) and Keras 2's entries, which
    # name no module.
    return deserialize_layer(config, custom_objects)


def checked_callable(activation: Callable) -> Callable:
    """``activation`` itself.  A layer with weights (``PReLU()``) is kept as it is: the layer
    it activates holds its weights as Keras tracks them (:mod:`lamina.layers.activation_sublayer`,
    which also refuses it where a layer cannot hold it).

    >>> from lamina.layers import LeakyReLU
    >>> layer = LeakyReLU(0.2)
    >>> checked_callable(layer) is layer
    True
    """
    return activation


def to_config(activation: Callable) -> str | dict:
    """Keras's config of an activation that is not one of Lamina's built-in functions.

    Args:
        activation: a function, or a callable object with ``get_config`` (a layer).

    Returns:
        The name of a function named like a built-in activation; Keras's function entry for
        other functions; the serialized config of an object.

    Raises:
        ValueError: the activation has no name to be looked up by.

    >>> def double(x):
    ...     return 2 * x
    >>> to_config(double)["config"]
    'double'
    """
    from lamina.layers.base import Layer

    if isinstance(activation, Layer):
        from lamina.models.functional_config import serialize_layer

        config = serialize_layer(activation)
        shape = activation.__dict__.get("_activation_input_shape")
        if shape is not None and "build_config" not in config:
            # Built as a layer's activation: Keras's loader builds it from this before it
            # reads its weights (``layers/<layer>/activation/vars``).
            config = {**config, "build_config": {"input_shape": list(shape)}}
        return config
    if hasattr(activation, "get_config") and not isinstance(activation, type):
        from lamina.utils.serialization import serialize_keras_object

        return serialize_keras_object(activation)
    if getattr(activation, "__name__", None) is None:
        raise ValueError(
            f"Cannot serialize activation {activation!r}: it has no name. "
            "Pass a named function or one of the built-in activation names."
        )
    name = get_registered_name(activation)
    if name in _REGISTRY or name == "<lambda>":
        # Keras writes a function named like one of its activations (``jax.nn.relu``) as the
        # name; a lambda has no name to load it back by either way.
        return name
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}  # fmt: skip


def deserialize(config: Any, custom_objects: dict | None = None) -> Callable:
    """Returns the activation for a name or a Keras-serialized dict.

    Args:
        config: a name (``"relu"``), Keras's function entry
            (``{"class_name": "function", "config": "pkg>f", ...}``) or an object's config
            (a layer's: ``{"module": "keras.layers", "class_name": "LeakyReLU", ...}``).
        custom_objects: user functions and classes by name (see :mod:`lamina.object_registry`).

    >>> from lamina.activations import relu
    >>> deserialize("relu") is relu
    True
    """
    if isinstance(config, str):
        return _from_name(config, custom_objects)
    if isinstance(config, dict):
        return _from_dict(config, custom_objects)
    raise TypeError(f"Cannot deserialize an activation from {type(config).__name__}: {config!r}")
