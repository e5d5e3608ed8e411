"""Keras 2's module path ``keras.layers.convolutional`` (``from keras.layers.convolutional
import Conv2D``): the convolution layers, re-exported from the modules that define them
(:mod:`lamina.layers.conv`, :mod:`lamina.layers.conv_transpose`,
:mod:`lamina.layers.conv_depthwise`), and, through ``__getattr__``, the other layers Keras 2
re-exported here (``MaxPooling2D``, ``ZeroPadding2D``, ``Conv3D`` ...) from ``lamina.layers``.

>>> from lamina.layers.convolutional import Conv2D, MaxPooling2D
>>> Conv2D.__name__, MaxPooling2D.__name__
('Conv2D', 'MaxPooling2D')
"""

from __future__ import annotations

from lamina._unsupported import layer_module_getattr as _layer_module_getattr
from lamina.layers.conv import Conv1D, Conv2D
from lamina.layers.conv_depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from lamina.layers.conv_transpose import Conv1DTranspose, Conv2DTranspose

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
]

# Keras 2's keras.layers.convolutional re-exported more layers; scripts import them from here.
__getattr__ = _layer_module_getattr("convolutional")
