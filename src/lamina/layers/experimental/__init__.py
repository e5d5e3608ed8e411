"""TensorFlow 2.3-2.8's ``tf.keras.layers.experimental`` namespace (Keras 2).

Books and courses of that era import preprocessing layers from
``tensorflow.keras.layers.experimental.preprocessing`` and ``EinsumDense`` from
``tf.keras.layers.experimental``; these are the same layers as :mod:`lamina.layers` (Keras 3
moved them there unchanged).

>>> from lamina.layers.experimental import preprocessing
>>> preprocessing.Normalization is __import__("lamina").layers.Normalization
True
"""

from lamina.layers.einsum_dense import EinsumDense
from lamina.layers.experimental import preprocessing

__all__ = ["EinsumDense", "preprocessing"]
