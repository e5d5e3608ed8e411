"""Keras 2's ``keras.engine.base_layer`` (Keras 2.2+): ``Layer`` and ``InputSpec``."""

from lamina.layers import InputSpec, Layer

__all__ = ["InputSpec", "Layer"]
