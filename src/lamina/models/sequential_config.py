"""The config of a ``Sequential`` model, in Keras 3's form: ``get_config`` and ``from_config``.

Kept apart from :mod:`lamina.models.sequential` because it is the file format's view of the
model (Keras's ``InputLayer`` entry, each layer's serialized spec and build shape), not its
life cycle; ``Sequential.get_config``/``from_config`` delegate here.

A layer used at several positions is written at each (one name, one config): the model loads
back with the layer shared.  Keras 3.15.1 writes it once (``Sequential.get_config`` walks its
deduplicated layers), so its file of such a model holds another model; read here, its config
gives what Keras gives, and Keras refuses Lamina's by its unique-names rule.

>>> from lamina.models import Sequential
>>> from lamina.layers import Dense, Input
>>> model = Sequential([Input((4,)), Dense(2, name="out")])
>>> config = get_config(model)
>>> [spec["class_name"] for spec in config["layers"]]
['InputLayer', 'Dense']
>>> from_config(Sequential, config).output_shape
(None, 2)
"""

from __future__ import annotations


def input_dtype(model) -> str:
    """The config dtype of a stack's ``Input``: its declared dtype, float32 by default.

    Args:
        model: a ``Sequential`` model.

    Returns:
        The dtype name, e.g. ``"float32"`` or ``"string"``.
    """
    layer = model.__dict__.get("_input_layer")
    return getattr(layer, "_input_dtype", None) or "float32"


def get_config(model) -> dict:
    """The Keras 3 config of ``model``: its name, trainability and layer specs.

    Args:
        model: a ``Sequential`` model.

    Returns:
        A dict with ``name``, ``trainable``, ``dtype``, ``layers`` (an ``InputLayer`` entry
        first when the input shape is known) and, then, ``build_input_shape``.
    """
    layers = []
    if model._input_shape is not None:
        layers.append(
            {
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": {
                    "batch_shape": tuple(model._input_shape),
                    "dtype": input_dtype(model),
                    "sparse": False,
                    "ragged": False,
                    "name": getattr(model.__dict__.get("_input_layer"), "name", "input_layer"),
                    "optional": False,
                },
                "registered_name": None,
            }
        )
    from lamina.models.functional_config import build_config, serialize_layer

    # With an input shape the layers are built, and Keras writes each one's build input.
    shapes = None
    if model._input_shape is not None:
        try:
            shapes = model._stack_input_shapes(None)
        except (ValueError, TypeError):  # a layer without static shapes: no build entries
            shapes = None
    first: dict = {}  # id(layer) -> its entry: a repeat is written as the same entry
    repeats = []
    for i, layer in enumerate(model.layers):  # nested models, custom classes: Keras's forms
        if id(layer) in first:
            repeats.append((len(layers), first[id(layer)], i, layer))
            layers.append(None)
            continue
        spec = first[id(layer)] = serialize_layer(layer)
        if shapes is not None:
            spec["build_config"] = build_config(layer, tuple(shapes[i]))
        layers.append(spec)
    for j, spec, i, layer in repeats:  # copied once every entry is written (shared ids too)
        layers[j] = dict(spec)
        if shapes is not None:
            layers[j]["build_config"] = build_config(layer, tuple(shapes[i]))
    config = {"name": model.name, "trainable": model.trainable, "dtype": "float32"}
    config["layers"] = layers
    if model._input_shape is not None:
        config["build_input_shape"] = tuple(model._input_shape)
    return config


def from_config(cls, config, custom_objects=None):
    """A new ``cls`` (``Sequential`` or a subclass) with the layers of ``config`` added.

    Args:
        cls: the model class to instantiate.
        config: a config from :func:`get_config` (or Keras's).
        custom_objects: optional dict of custom layer classes by name.

    Returns:
        The model, unbuilt unless the config has an ``InputLayer``. An entry repeating an
        earlier one's name and config is that layer again (shared, as when it was saved).

    Raises:
        ValueError: two entries with one name but different configs (Keras's unique names).
    """
    from lamina.models.functional_config import deserialize_layer

    model = cls(name=config.get("name"))
    model.trainable = bool(config.get("trainable", True))  # before the layers: they keep theirs
    made: dict = {}  # name -> (entry without its build shape, layer)
    for spec in config.get("layers", []):
        entry = _entry(spec)
        name = entry.get("config", {}).get("name") if isinstance(entry, dict) else None
        earlier = made.get(name) if isinstance(name, str) else None
        if earlier is not None and earlier[0] == entry:
            model.add(earlier[1])  # only a repeated layer is written twice under one name
            continue
        layer = deserialize_layer(spec, custom_objects=custom_objects)
        model.add(layer)
        if isinstance(name, str):
            made[name] = (entry, layer)
    return model


def _entry(spec):
    """A layer's config entry without its build shape (a repeat is built at its first use,
    so its later entries may carry other build shapes)."""
    if not isinstance(spec, dict):
        return spec
    return {k: v for k, v in spec.items() if k != "build_config"}
