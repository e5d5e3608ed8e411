"""Layer classes by Keras class name, for configs and files.  Never runs code from a config."""

from __future__ import annotations

from lamina.layers.base import Layer
from lamina.object_registry import Registry, get_registered_object


def _all_layer_classes() -> dict[str, type]:
    import lamina.layers as mod

    out = {}
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            out[obj.__name__] = obj
    # Keras 1/2 class names kept as aliases (``Convolution2D``) appear in old files' configs.
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            out.setdefault(name, obj)
    return out


def get_layer_class(class_name: str, custom_objects=None, registered_name=None) -> type:
    """The layer class for a Keras class name: user classes first (``custom_objects``,
    ``custom_object_scope``, ``register_keras_serializable`` by ``registered_name``), then the
    built-in layers.  Never imports anything a config names.

    >>> get_layer_class("Dense").__name__
    'Dense'
    """
    if isinstance(registered_name, str) and registered_name != class_name:
        cls = get_registered_object(registered_name, custom_objects)
        if cls is not None:
            return cls
    return _builtin_registry().lookup(class_name, custom_objects)


_CACHE: dict[str, object] = {}


def _builtin_registry() -> Registry:
    """The built-in layer classes, scanned once per change of ``lamina.layers`` (its names load
    lazily; a 20,000-layer config would otherwise rescan it per layer)."""
    import lamina.layers as mod

    stamp = len(vars(mod))
    if _CACHE.get("stamp") != stamp:
        registry = Registry("layer class", "keras.layers")
        registry.update(_all_layer_classes())
        _CACHE.update(stamp=stamp, registry=registry)
    return _CACHE["registry"]


def serialize(layer: Layer) -> dict:
    return {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }


def deserialize(spec: dict, custom_objects=None) -> Layer:
    """Builds a layer from Keras's serialized form ``{"class_name", "config", ...}``."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(
            f"A layer config must be a dict with 'class_name' and 'config'; got {spec!r}."
        )
    names = (None, *MODEL_CLASS_NAMES)
    if spec["class_name"] in MODEL_CLASS_NAMES and spec.get("registered_name") in names:
        # A model serialized as a layer (Keras's ``serialize_keras_object(model)``).
        from lamina.models.functional_config import deserialize_layer

        return deserialize_layer(spec, custom_objects=custom_objects)
    cls = get_layer_class(spec["class_name"], custom_objects, spec.get("registered_name"))
    return cls.from_config(spec.get("config", {}))


#: Class names of models in Keras's configs (a model may stand where a layer does).
MODEL_CLASS_NAMES = ("Sequential", "Functional", "Model")
