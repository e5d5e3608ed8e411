"""tf.keras 2's ``keras.engine.input_spec``: ``InputSpec``."""

from lamina.layers import InputSpec

__all__ = ["InputSpec"]
