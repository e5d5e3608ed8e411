"""Keras 2's ``keras.engine.sequential`` (Keras 2.2+): ``Sequential``."""

from lamina.models import Sequential

__all__ = ["Sequential"]
