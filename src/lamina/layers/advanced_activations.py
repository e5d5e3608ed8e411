"""Keras 2's module path ``keras.layers.advanced_activations`` (``LeakyReLU``, ``PReLU``,
``ELU``, ``ThresholdedReLU``, ``Softmax``, ``ReLU``); they live in
:mod:`lamina.layers.activation_layers`.

>>> from lamina.layers.advanced_activations import LeakyReLU
>>> LeakyReLU.__name__
'LeakyReLU'
"""

from lamina.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "ThresholdedReLU"]
