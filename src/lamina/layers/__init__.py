"""Layers (``lamina.layers``, as ``keras.layers``): small specs with pure init/apply functions."""

from lamina.layers import _conv_family, _seq_family
from lamina.layers._conv_family import *
from lamina.layers._seq_family import *
from lamina.layers.base import Layer
from lamina.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from lamina.layers.registry import deserialize, get_layer_class, serialize

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Reshape",
    "deserialize",
    "get_layer_class",
    "serialize",
    *_conv_family.__all__,
    *_seq_family.__all__,
]
