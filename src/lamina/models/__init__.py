"""Models: ``Sequential`` and model loading (``lamina.models``, as ``keras.models``)."""

from lamina.models.sequential import Sequential
from lamina.saving import load_model as load_model
from lamina.saving import model_from_json as model_from_json

__all__ = ["Sequential"]
