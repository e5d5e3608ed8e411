"""tf.keras 2's ``keras.engine.functional``: ``Functional``, the class of functional models."""

from lamina.models import Functional

__all__ = ["Functional"]
