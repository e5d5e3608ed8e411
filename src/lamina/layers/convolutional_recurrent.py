"""Keras 2's module path ``keras.layers.convolutional_recurrent`` (``from
keras.layers.convolutional_recurrent import ConvLSTM2D``); the layers live in
:mod:`lamina.layers.conv_lstm`.

>>> from lamina.layers.convolutional_recurrent import ConvLSTM2D
>>> ConvLSTM2D.__name__
'ConvLSTM2D'
"""

from lamina.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
