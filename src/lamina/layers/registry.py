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
    """Keras's serialized form of ``layer``: ``{"module", "class_name", "config",
    "registered_name"}``, as ``keras.layers.serialize`` writes it.

    A registered custom layer carries its ``registered_name`` (``"MyLayers>KernelMult"``)
    so :func:`deserialize` finds it; objects its ``get_config`` returns (a nested layer, a
    regularizer) are serialized in turn, as Keras's ``serialize_dict`` does.

    >>> import lamina
    >>> serialize(lamina.layers.Dense(2))["class_name"]
    'Dense'
    """
    from lamina.models.functional_config import serialized_entry

    return serialized_entry(layer)


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
    config = spec.get("config", {})
    check_config(cls, config)
    layer = cls.from_config(config)
    from lamina.layers.build_config import overrides

    if spec.get("build_config") and overrides(layer, "build_from_config"):
        layer.build_from_config(spec["build_config"])  # Keras's order: right after from_config
    return layer


def _bool_args(cls) -> frozenset:
    """The constructor arguments of ``cls`` (and of the classes it passes ``**kwargs`` on to)
    whose default is a boolean: a config must give them booleans too."""
    import inspect

    found = _BOOL_ARGS.get(cls)
    if found is None:
        names = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            try:
                params = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):
                continue
            names.update(p.name for p in params if isinstance(p.default, bool))
        found = _BOOL_ARGS[cls] = frozenset(names)
    return found


_BOOL_ARGS: dict = {}


def check_config(cls, config) -> None:
    """Checks the types a built-in layer's config must have before the layer is made.

    ``config`` must be a dict; its ``name`` a string; ``trainable`` and every argument whose
    default is a boolean (``use_bias``, ``return_sequences``, ``mask_zero``...) a boolean:
    ``"no"`` or ``0`` would otherwise be read by their truthiness (Keras checks
    ``trainable``; Lamina checks them all, since a file is untrusted input).

    Raises:
        ValueError: naming the layer class, the argument and the value received.
    """
    from lamina.layers.arg_checks import is_bool, shown

    if not isinstance(config, dict):
        raise ValueError(
            f"The config of a {cls.__name__} layer must be a dict of its arguments. Received: "
            f"{shown(config)}."
        )
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"The `name` of a {cls.__name__} layer must be a string. Received: "
                         f"name={shown(name)}.")  # fmt: skip
    builtin = (getattr(cls, "__module__", None) or "").startswith("lamina.")
    for arg in _bool_args(cls) if builtin else ("trainable",):
        if arg in config and not is_bool(config[arg]):
            value = config[arg]
            raise ValueError(
                f"{cls.__name__}: expected `{arg}` to be a boolean (true or false). Received: "
                f"{arg}={shown(value)}" + (f" in layer {name!r}." if name else ".")
            )


#: Class names of models in Keras's configs (a model may stand where a layer does).
MODEL_CLASS_NAMES = ("Sequential", "Functional", "Model")
