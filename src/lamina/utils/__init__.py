"""Utilities (``lamina.utils``, as ``keras.utils``): data helpers, datasets from folders,
``Progbar``, ``get_file``, object (de)serialization, ``to_categorical`` and friends.

>>> from lamina.utils import to_categorical
>>> to_categorical([0, 2], num_classes=3).tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""

from typing import TYPE_CHECKING

from lamina.data.pydataset import PyDataset as PyDataset
from lamina.object_registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from lamina.preprocessing.image_io import array_to_img, img_to_array, load_img, save_img
from lamina.preprocessing.sequence import pad_sequences
from lamina.preprocessing.timeseries import timeseries_dataset_from_array
from lamina.utils import (  # Keras 1/2, 3 paths
    bounding_boxes,
    conv_utils,
    data_utils,
    generic_utils,
    io_utils,
    layer_utils,
    legacy,
    np_utils,
    training_utils,
)
from lamina.utils.dataset_utils import split_dataset
from lamina.utils.directory_datasets import (
    audio_dataset_from_directory,
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from lamina.utils.enqueuers import GeneratorEnqueuer, OrderedEnqueuer, SequenceEnqueuer
from lamina.utils.file_utils import get_file
from lamina.utils.general import (
    Config,
    clear_session,
    disable_interactive_logging,
    enable_interactive_logging,
    get_source_inputs,
    is_interactive_logging_enabled,
    is_keras_tensor,
    pack_x_y_sample_weight,
    standardize_dtype,
    unpack_x_y_sample_weight,
)
from lamina.utils.io_utils import HDF5Matrix  # Keras 2
from lamina.utils.layer_utils import print_summary  # Keras 2.0-2.3's keras.utils name
from lamina.utils.model_plot import model_to_dot, plot_model
from lamina.utils.numerical import normalize, to_categorical
from lamina.utils.progbar import Progbar
from lamina.utils.random import set_random_seed
from lamina.utils.serialization import deserialize_keras_object, serialize_keras_object
from lamina.utils.training_utils import multi_gpu_model  # Keras 2

Sequence = PyDataset  # Keras 2 name of keras.utils.PyDataset

__all__ = [
    "Config",
    "CustomObjectScope",
    "FeatureSpace",
    "GeneratorEnqueuer",
    "HDF5Matrix",
    "OrderedEnqueuer",
    "Progbar",
    "PyDataset",
    "Sequence",
    "SequenceEnqueuer",
    "array_to_img",
    "audio_dataset_from_directory",
    "clear_session",
    "custom_object_scope",
    "deserialize_keras_object",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "get_source_inputs",
    "image_dataset_from_directory",
    "img_to_array",
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "load_img",
    "model_to_dot",
    "multi_gpu_model",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "print_summary",
    "register_keras_serializable",
    "save_img",
    "serialize_keras_object",
    "set_random_seed",
    "split_dataset",
    "standardize_dtype",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

_unsupported_getattr = _module_getattr("utils", globals())  # Keras names Lamina lacks

if TYPE_CHECKING:  # documentation and type checkers see FeatureSpace; it loads on first use
    from lamina.utils.feature_space import FeatureSpace


def __getattr__(name):
    # FeatureSpace builds on lamina.layers, whose modules import lamina.utils.random: importing
    # it here would make `import lamina.layers` (and `import lamina.initializers`) circular.
    if name == "FeatureSpace":
        from lamina.utils.feature_space import FeatureSpace

        globals()["FeatureSpace"] = FeatureSpace
        return FeatureSpace
    return _unsupported_getattr(name)


def __dir__():
    # PEP 562: dir() (tab completion, documentation tools) lists the lazily loaded name too.
    return sorted({*globals(), "FeatureSpace"})
