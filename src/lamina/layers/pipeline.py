"""``Pipeline``: preprocessing layers applied in sequence (as ``keras.layers.Pipeline``).

Unlike a ``Sequential`` model it is a layer: no ``fit``, and a direct call runs with
``training=True`` by default (so random augmentations apply), as Keras's does.  Called on
host data (strings) each layer runs eagerly in turn; inside a model the layers' pure
``apply`` functions are chained, their weights kept under ``<index>/<name>``.
"""

from __future__ import annotations

import jax

from lamina.layers.base import Layer
from lamina.layers.core_methods import layer_init
from lamina.utils import random as _random


def _prefixed(d: dict, prefix: str) -> dict:
    return {f"{prefix}/{k}": v for k, v in d.items()}


def _unprefixed(d: dict, prefix: str) -> dict:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in d.items() if k.startswith(prefix + "/")}


class Pipeline(Layer):
    """Applies ``layers`` one after the other.

    Args:
        layers: a list of layers.
        name: the layer's name.

    >>> import numpy as np
    >>> from lamina.layers import Pipeline, Rescaling, CenterCrop
    >>> pipe = Pipeline([CenterCrop(2, 2), Rescaling(1 / 255)])
    >>> pipe(np.full((1, 4, 4, 1), 255.0, "float32")).shape
    (1, 2, 2, 1)
    """

    _training_default = True  # Keras's ``call(..., training=True)``

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        layers = list(layers)
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Pipeline(layers=...) takes a list of layers. Received: {layer!r}."
                )
        self._pipeline_layers = layers
        self.uses_rng = any(bool(layer.uses_rng) for layer in layers)

    @property
    def layers(self) -> list:
        return self._pipeline_layers

    def __call__(self, *args, **kwargs):
        from lamina.layers import symbolic
        from lamina.layers.variables import current_scope

        inputs = args[0] if args else kwargs.pop("inputs")
        if symbolic.has_symbolic(inputs) or current_scope() is not None:
            return super().__call__(inputs, **kwargs)
        training = kwargs.pop("training", True)  # Keras's Pipeline.call(training=True)
        for layer in self._pipeline_layers:
            inputs = layer(inputs, training=training, **kwargs)
        return inputs

    def _subs(self):
        return [(str(i), layer) for i, layer in enumerate(self._pipeline_layers)]

    def init(self, key, input_shape):
        from lamina.layers.symbolic import output_shape

        params, state = {}, {}
        keys = _random.split(key, max(len(self._pipeline_layers), 1))
        shape = input_shape
        for (prefix, layer), k in zip(self._subs(), keys):
            p, s = layer_init(layer)(k, shape)
            params.update(_prefixed(p, prefix))
            state.update(_prefixed(s, prefix))
            shape = output_shape(layer, shape)
        return params, state

    def apply(self, params, state, x, *, training=False, key=None):
        n = len(self._pipeline_layers)
        keys = [None] * n if key is None else list(jax.random.split(key, n))
        new_state = {}
        for (prefix, layer), k in zip(self._subs(), keys):
            x, s = layer.apply(
                _unprefixed(params, prefix),
                _unprefixed(state, prefix),
                x,
                training=training,
                key=k if layer.uses_rng else None,
            )
            new_state.update(_prefixed(s, prefix))
        return x, new_state

    def compute_output_shape(self, input_shape):
        from lamina.layers.symbolic import output_shape

        for layer in self._pipeline_layers:
            input_shape = output_shape(layer, input_shape)
        return input_shape

    def get_config(self):
        from lamina.layers.registry import serialize

        return {"layers": [serialize(layer) for layer in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers.registry import deserialize

        layers = config.get("layers")
        if not isinstance(layers, list | tuple):
            raise ValueError(
                "`Pipeline` config must contain a `layers` key mapping to a list of serialized "
                f"layers. Received config with layers={layers}."
            )
        config = {**config}
        config.pop("dtype", None)
        config.pop("trainable", None)
        config["layers"] = [deserialize(spec, custom_objects) for spec in layers]
        return cls(**config)


__all__ = ["Pipeline"]
