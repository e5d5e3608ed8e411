"""The config of a ``Sequential`` model, in Keras 3's form: ``get_config`` and ``from_config``.

Kept apart from :mod:`lamina.models.sequential` because it is the file format's view of the
model (Keras's ``InputLayer`` entry, each layer's serialized spec and build shape), not its
life cycle; ``Sequential.get_config``/``from_config`` delegate here.

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
            shapes = model._layer_input_shapes(None)
        except (ValueError, TypeError):  # a layer without static shapes: no build entries
            shapes = None
    for i, layer in enumerate(model._layers):  # nested models, custom classes: Keras's forms
        spec = serialize_layer(layer)
        if shapes is not None:
            spec["build_config"] = build_config(layer, tuple(shapes[i]))
        layers.append(spec)
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
        The model, unbuilt unless the config has an ``InputLayer``.
    """
    from lamina.models.functional_config import deserialize_layer

    model = cls(name=config.get("name"))
    model.trainable = bool(config.get("trainable", True))  # before the layers: they keep theirs
    for spec in config.get("layers", []):
        model.add(deserialize_layer(spec, custom_objects=custom_objects))
    return model
