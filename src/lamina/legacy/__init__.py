"""``lamina.legacy``: Keras 3's ``keras.legacy`` namespace, which holds ``saving``: the
Keras 2 ``serialize_keras_object`` / ``deserialize_keras_object`` (``{"class_name",
"config"}`` dicts).

>>> import lamina
>>> lamina.legacy.saving.serialize_keras_object(lamina.initializers.Constant(2.0))
{'class_name': 'Constant', 'config': {'value': 2.0}}
"""

from lamina.legacy import saving

__all__ = ["saving"]
