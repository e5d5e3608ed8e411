"""Keras 2's ``keras.preprocessing``: ``sequence``, ``text`` and ``image`` utilities.

``keras.preprocessing.image_dataset_from_directory`` and ``text_dataset_from_directory``
(which return ``tf.data`` datasets) are not supported: they raise an error naming them; use
``image.ImageDataGenerator().flow_from_directory`` instead.

>>> from lamina.preprocessing import sequence, text
>>> sequence.pad_sequences(text.Tokenizer().texts_to_sequences([]), maxlen=3).shape
(0, 3)
"""

from lamina.preprocessing import image, sequence, text
from lamina.preprocessing.timeseries import timeseries_dataset_from_array

__all__ = ["image", "sequence", "text", "timeseries_dataset_from_array"]

_UNSUPPORTED = {
    "image_dataset_from_directory": "use lamina.preprocessing.image.ImageDataGenerator()"
    ".flow_from_directory(directory, ...), which yields image batches as a PyDataset",
    "text_dataset_from_directory": "read the files with Python and use "
    "lamina.preprocessing.text.Tokenizer",
}


def __getattr__(name):
    if name in _UNSUPPORTED:
        from lamina._unsupported import unsupported

        raise unsupported("preprocessing", name, _UNSUPPORTED[name])
    raise AttributeError(f"module 'lamina.preprocessing' has no attribute {name!r}")
