"""Keras 2.1-2.2's ``keras.engine.saving``: the model saving and loading functions.

>>> from lamina.engine.saving import load_model
>>> import lamina
>>> load_model is lamina.models.load_model
True
"""

from lamina.models import load_model, model_from_config, model_from_json, save_model
from lamina.models import model_from_yaml as model_from_yaml

__all__ = ["load_model", "model_from_config", "model_from_json", "model_from_yaml", "save_model"]
