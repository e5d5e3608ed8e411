"""``Wrapper``: the base class of layers that wrap another layer (as ``keras.layers.Wrapper``).

A user wrapper subclasses it and writes ``call`` with ``self.layer``, Keras's way; the wrapped
layer's weights become the wrapper's (``layer/kernel``, ...), and ``get_config`` /
``from_config`` serialize the wrapped layer under ``"layer"``.

>>> import numpy as np
>>> from lamina.layers import Dense, Wrapper
>>> class Doubled(Wrapper):
...     def call(self, x):
...         return 2.0 * self.layer(x)
>>> layer = Doubled(Dense(2, kernel_initializer="ones"))
>>> layer(np.ones((1, 3), "float32")).tolist()
[[6.0, 6.0]]
>>> layer.get_config()["layer"]["class_name"]
'Dense'
"""

from __future__ import annotations

from lamina.layers.base import Layer
from lamina.layers.core_methods import layer_init


class Wrapper(Layer):
    """Base class of layer wrappers: holds ``layer`` and serializes it in its config.

    Args:
        layer: the wrapped layer (a ``Layer`` instance).
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ...).

    Raises:
        ValueError: ``layer`` is not a layer.
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer} supplied to Wrapper isn't a supported layer type. Please "
                "ensure wrapped layer is a valid Keras layer."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        """Builds the wrapped layer (so ``call`` may read ``self.layer.kernel`` directly)."""
        from lamina.layers.variables import current_scope

        scope = current_scope()
        if scope is not None and scope.init_key is not None and scope.lookup(self.layer) is None:
            params, state = layer_init(self.layer)(scope.next_init_key(), input_shape)
            scope.bind(self.layer, params, state)

    def compute_output_shape(self, input_shape):
        if self._traced:
            return super().compute_output_shape(input_shape)
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        from lamina.layers.registry import serialize

        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers.registry import deserialize

        config = dict(config)
        config.pop("dtype", None)
        layer = deserialize(config.pop("layer"), custom_objects)
        return cls(layer, **config)


__all__ = ["Wrapper"]
