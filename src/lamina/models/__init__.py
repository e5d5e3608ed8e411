"""Models: ``Sequential`` and model loading (``lamina.models``, as ``keras.models``)."""

from lamina.models.sequential import Sequential

__all__ = ["Sequential"]
