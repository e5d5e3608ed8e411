"""Keras 2's ``keras.engine`` import paths: the same classes as ``lamina.layers`` and
``lamina.models``.

Keras 2-era code imports its base classes from the engine package (``from
keras.engine.topology import Layer`` in Keras 2.0's "Writing your own Keras layers",
``from keras.engine.base_layer import Layer`` and ``keras.engine.training.Model`` later);
Keras 3 dropped the package.  Each module here names Lamina's classes, so a custom layer
written that way subclasses :class:`lamina.layers.Layer`.

>>> from lamina.engine.topology import Layer
>>> import lamina
>>> Layer is lamina.layers.Layer
True
"""

from __future__ import annotations

from lamina.engine import (  # noqa: F401 - the submodules as attributes (keras.engine.topology)
    base_layer,
    functional,
    input_layer,
    input_spec,
    network,
    saving,
    sequential,
    topology,
    training,
)
from lamina.engine.base_layer import InputSpec, Layer
from lamina.engine.input_layer import Input, InputLayer
from lamina.engine.training import Model

__all__ = ["Input", "InputLayer", "InputSpec", "Layer", "Model"]
