"""Models (``lamina.models``, as ``keras.models``): ``Sequential``, ``Model`` (functional and
subclassed), ``clone_model``, ``save_model`` and model loading."""

from lamina.models.cloning import clone_model
from lamina.models.model import Functional, Model
from lamina.models.sequential import Sequential
from lamina.saving import load_model as load_model
from lamina.saving import model_from_config as model_from_config  # tf.keras 2
from lamina.saving import model_from_json as model_from_json
from lamina.saving import model_from_yaml as model_from_yaml  # tf.keras 2: raises, as there
from lamina.saving import save_model as save_model

__all__ = ["Functional", "Model", "Sequential", "clone_model", "save_model"]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("models", globals())  # Keras names Lamina lacks: a clear error
