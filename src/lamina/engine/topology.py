"""Keras 2.0/2.1's ``keras.engine.topology``: the base classes of layers and models.

``Container`` (Keras 2.0's name of the functional-model base class) is
:class:`~lamina.models.Functional`.
"""

from lamina.layers import Input, InputLayer, InputSpec, Layer
from lamina.models import Functional as Container
from lamina.utils import get_source_inputs

__all__ = ["Container", "Input", "InputLayer", "InputSpec", "Layer", "get_source_inputs"]
