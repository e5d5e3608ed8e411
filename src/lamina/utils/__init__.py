"""Utilities: ``to_categorical``, ``set_random_seed`` and friends."""

from lamina.data.pydataset import PyDataset as PyDataset
from lamina.preprocessing.image_io import array_to_img, img_to_array, load_img, save_img
from lamina.preprocessing.sequence import pad_sequences
from lamina.preprocessing.timeseries import timeseries_dataset_from_array
from lamina.utils import generic_utils, np_utils  # Keras 1/2 module paths
from lamina.utils.numerical import normalize, to_categorical
from lamina.utils.random import set_random_seed

Sequence = PyDataset  # Keras 2 name of keras.utils.PyDataset

__all__ = [
    "array_to_img",
    "img_to_array",
    "load_img",
    "normalize",
    "pad_sequences",
    "save_img",
    "set_random_seed",
    "timeseries_dataset_from_array",
    "to_categorical",
]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("utils", globals())  # Keras names Lamina lacks: a clear error
