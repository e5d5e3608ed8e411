"""``lamina.utils.legacy``: Keras 3's ``keras.utils.legacy``, the Keras 2 object
(de)serialization also found in :mod:`lamina.legacy.saving`.

>>> from lamina.utils import legacy
>>> legacy.serialize_keras_object(None) is None
True
"""

from lamina.legacy.saving import deserialize_keras_object, serialize_keras_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]
