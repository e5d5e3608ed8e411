"""Layer classes by Keras class name, for configs and files.  Never runs code from a config."""

from __future__ import annotations

from lamina._naming import unknown_name_error
from lamina.layers.base import Layer


def _all_layer_classes() -> dict[str, type]:
    import lamina.layers as mod

    out = {}
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            out[obj.__name__] = obj
    return out


def get_layer_class(class_name: str, custom_objects=None) -> type:
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    classes = _all_layer_classes()
    if class_name not in classes:
        raise unknown_name_error("layer class", class_name, classes)
    return classes[class_name]


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
    cls = get_layer_class(spec["class_name"], custom_objects)
    return cls.from_config(spec.get("config", {}))
