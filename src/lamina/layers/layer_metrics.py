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
        """The metrics held as the layer's attributes (in lists too), then those Keras 2's
        ``add_metric`` made, then its sub-layers'."""
        from lamina.layers.tracing import tracked_layers
        from lamina.metrics.base import Metric

        out: list = []

        def add(value):
            if isinstance(value, Metric) and all(value is not m for m in out):
                out.append(value)

        from lamina.training.layer_metric_state import added_metrics

        for value in vars(self).values():
            for item in value if isinstance(value, list | tuple) else (value,):
                add(item)
        for m in added_metrics(self):
            add(m)
        for _, sub in tracked_layers(self):
            for m in sub.metrics:
                add(m)
        return out

    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Keras 2's ``add_metric(value, name=...)``: ``value``'s mean over each epoch (of
        ``fit``) or ``evaluate``, logged as ``name`` (Keras 3 removed it).

        Called in ``call``, each call adds ``value`` (a batch's tensor) to a ``Mean`` metric
        named ``name``, which ``metrics`` lists; the value of a metric's ``__call__`` keeps
        that metric (and its name).  On a functional model, ``value`` may be a symbolic
        tensor of its graph (Keras 2's VAE logs ``kl_loss`` so).

        Args:
            value: a tensor, or the result of calling a ``keras.metrics.Metric``.
            name: the name to log the mean under (required for a plain tensor).
            aggregation: ``None`` or ``"mean"``, the only aggregation Keras 2 supported.

        Raises:
            ValueError: no ``name`` for a plain tensor, or another ``aggregation``.
            TypeError: an unknown keyword argument.

        >>> import numpy as np
        >>> import lamina
        >>> layer = lamina.layers.Dense(1)
        >>> layer.add_metric(np.array([1.0, 3.0]), name="m")
        >>> [m.name for m in layer.metrics], float(layer.metrics[0].result())
        (['m'], 2.0)
        """
        from lamina.training.layer_metric_state import add_metric

        add_metric(self, value, name, aggregation, kwargs)
