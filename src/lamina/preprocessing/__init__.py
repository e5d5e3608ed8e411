"""Keras 2's ``keras.preprocessing``: ``sequence``, ``text`` and ``image`` utilities.

``image_dataset_from_directory``, ``text_dataset_from_directory`` and
``timeseries_dataset_from_array`` are the ``lamina.utils`` functions, as
``keras.preprocessing`` re-exports the ``keras.utils`` ones.

>>> from lamina.preprocessing import sequence, text
>>> sequence.pad_sequences(text.Tokenizer().texts_to_sequences([]), maxlen=3).shape
(0, 3)
>>> import lamina
>>> lamina.preprocessing.image_dataset_from_directory is lamina.utils.image_dataset_from_directory
True
"""

from lamina.preprocessing import image, sequence, text
from lamina.preprocessing.timeseries import timeseries_dataset_from_array
from lamina.utils.directory_datasets import (
    image_dataset_from_directory,
    text_dataset_from_directory,
)

__all__ = [
    "image",
    "image_dataset_from_directory",
    "sequence",
    "text",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("preprocessing", globals())  # typos: the closest name
