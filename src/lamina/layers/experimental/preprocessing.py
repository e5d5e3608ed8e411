"""``tf.keras.layers.experimental.preprocessing`` (TensorFlow 2.3-2.8): the preprocessing and
augmentation layers under their Keras 2 import path; each is the :mod:`lamina.layers` class.

>>> import numpy as np
>>> from lamina.layers.experimental.preprocessing import Rescaling
>>> Rescaling(1 / 255)(np.full((1, 2), 255.0, "float32")).tolist()
[[1.0, 1.0]]
"""

from lamina.layers import (
    CategoryEncoding,
    CenterCrop,
    Discretization,
    HashedCrossing,
    Hashing,
    IntegerLookup,
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
    StringLookup,
    TextVectorization,
)

__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "Discretization",
    "HashedCrossing",
    "Hashing",
    "IntegerLookup",
    "Normalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
    "StringLookup",
    "TextVectorization",
]
