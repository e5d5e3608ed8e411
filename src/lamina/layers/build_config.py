"""Keras's ``get_build_config()`` / ``build_from_config()`` on layers.

Keras saves, with each layer of a model, the shapes it was built on (``{"input_shape": ...}``)
and at loading calls ``build_from_config`` with them.  A custom layer may override both to
save more than the shape (Keras's customizing-saving guide: a ``build(input_shape,
layer_init)`` taking an initializer, stored in the build config and passed back when
loading).  Lamina rebuilds a loaded model from its graph, so it calls ``build_from_config``
only where a layer class overrides it.

>>> import lamina as keras
>>> layer = keras.layers.Dense(2)
>>> layer.build((None, 3))
>>> layer.get_build_config()
{'input_shape': (None, 3)}
>>> fresh = keras.layers.Dense(2)
>>> fresh.build_from_config({"input_shape": (None, 3)})
>>> fresh.built, fresh.kernel.shape
(True, (3, 2))
"""

from __future__ import annotations


class LayerBuildConfig:
    """Mixin of :class:`lamina.layers.Layer`: Keras's build-config methods."""

    def get_build_config(self):
        """The shapes the layer was built on, ``{"input_shape": shape}`` (or Keras's
        ``{"shapes_dict": {...}}`` for a ``build`` taking several shapes by name); ``None``
        before it is built."""
        from lamina.models.functional_config import shape_build_config

        shape = self.__dict__.get("_built_input_shape")
        if shape is None:
            return None
        return shape_build_config(self, shape)

    def build_from_config(self, config):
        """Builds the layer from :meth:`get_build_config`'s dict, as Keras does at loading:
        ``build(config["input_shape"])``, or ``build(**config["shapes_dict"])``."""
        if not config:
            return
        if not isinstance(config, dict):
            raise TypeError(
                f"build_from_config() expects the dict get_build_config() returns, such as "
                f"{{'input_shape': (None, 8)}}; received {config!r}."
            )
        if "input_shape" in config:
            self.build(_shape(config["input_shape"]))
        elif "shapes_dict" in config:
            self.build(**{k: _shape(v) for k, v in config["shapes_dict"].items()})


def _shape(shape):
    """A shape read back from JSON (a list) as the tuple ``build`` receives in Keras."""
    if isinstance(shape, list | tuple) and all(isinstance(d, int | None) for d in shape):
        return tuple(shape)
    if isinstance(shape, list | tuple):
        return [_shape(s) for s in shape]
    return shape


def overrides(layer, name: str) -> bool:
    """Whether ``layer``'s class (a user class) overrides the build-config method ``name``."""
    return getattr(type(layer), name, None) is not getattr(LayerBuildConfig, name)
