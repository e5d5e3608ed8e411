"""``tf.keras.optimizers.experimental`` (TensorFlow 2.9-2.10, Keras 2): the optimizers that
became Keras's default ones (and Keras 3's) under their preview import path.

>>> from lamina.optimizers import experimental
>>> experimental.AdamW(weight_decay=0.01).weight_decay
0.01
"""

from lamina.optimizers.adam_family import Adam, Adamax, AdamW, Nadam
from lamina.optimizers.base import Optimizer
from lamina.optimizers.lion import Ftrl
from lamina.optimizers.rmsprop_family import Adadelta, Adagrad, RMSprop
from lamina.optimizers.sgd_momentum import SGD

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Nadam", "Optimizer",
    "RMSprop",
]  # fmt: skip
