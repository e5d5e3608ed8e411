"""Keras's ``layer.metrics``: the metric objects a layer holds as attributes.

Keras's subclassing guide tracks accuracy in a custom layer by holding a
``keras.metrics.BinaryAccuracy()`` and calling its ``update_state`` in ``call``; the layer's
``metrics`` lists it (then those of its sub-layers), so ``layer.metrics[0].result()`` reads it.

>>> import numpy as np
>>> import lamina as keras
>>> class Endpoint(keras.layers.Layer):
...     def __init__(self):
...         super().__init__()
...         self.accuracy_fn = keras.metrics.BinaryAccuracy()
...     def call(self, targets, logits):
...         self.accuracy_fn.update_state(targets, logits)
...         return logits
>>> layer = Endpoint()
>>> _ = layer(np.ones((2, 2), "float32"), np.ones((2, 2), "float32"))
>>> [m.name for m in layer.metrics], float(layer.metrics[0].result())
(['binary_accuracy'], 1.0)
"""

from __future__ import annotations


class LayerMetrics:
    """Mixin of :class:`lamina.layers.Layer`: Keras's ``metrics`` property."""

    @property
    def metrics(self) -> list:
        """The metrics held as the layer's attributes (in lists too), then its sub-layers'."""
        from lamina.layers.tracing import tracked_layers
        from lamina.metrics.base import Metric

        out: list = []

        def add(value):
            if isinstance(value, Metric) and all(value is not m for m in out):
                out.append(value)

        for value in vars(self).values():
            for item in value if isinstance(value, list | tuple) else (value,):
                add(item)
        for _, sub in tracked_layers(self):
            for m in sub.metrics:
                add(m)
        return out

    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Keras 2's ``layer.add_metric(value, name=...)`` (removed in Keras 3): not supported.

        Raises:
            NotImplementedError: always (an ``UnsupportedKerasAPIError`` naming the
                replacements), before anything is traced, so the model stays usable.

        >>> import lamina
        >>> try:
        ...     lamina.layers.Dense(2).add_metric(1.0, name="m")
        ... except NotImplementedError as e:
        ...     print(str(e)[:46])
        keras.layers.Layer.add_metric is not supported
        """
        from lamina._unsupported import UnsupportedKerasAPIError

        del value, aggregation, kwargs
        label = f" {name!r}" if name else ""
        raise UnsupportedKerasAPIError(
            f"keras.layers.Layer.add_metric is not supported by Lamina (Keras 3 removed it): "
            f"the metric{label} would need its own state in the compiled training step. Log "
            "a value computed from the model's outputs with compile(metrics=[...]) (a metric "
            "function of (y_true, y_pred), or a keras.metrics.Metric), or track it in a "
            "custom train_step with a keras.metrics.Mean and return it in the logs."
        )
