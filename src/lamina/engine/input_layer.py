"""Keras 2's ``keras.engine.input_layer`` (Keras 2.2+): ``Input`` and ``InputLayer``."""

from lamina.layers import Input, InputLayer

__all__ = ["Input", "InputLayer"]
