"""``tf.keras.optimizers.legacy`` (TensorFlow 2.11+, Keras 2): the optimizers under the import
path that scripts written for Apple silicon and for old checkpoints use.

Keras 2's legacy optimizers apply the same update rules as its new ones (and as Keras 3's),
so each name is the :mod:`lamina.optimizers` class; Keras 2 arguments (``lr=``, ``decay=``)
are translated as everywhere in Lamina.

>>> from lamina.optimizers import legacy
>>> round(float(legacy.Adam(learning_rate=0.01).learning_rate), 6)
0.01
"""

from lamina.optimizers.adam_family import Adam, Adamax, Nadam
from lamina.optimizers.base import Optimizer
from lamina.optimizers.lion import Ftrl
from lamina.optimizers.rmsprop_family import Adadelta, Adagrad, RMSprop
from lamina.optimizers.sgd_momentum import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "Ftrl", "Nadam", "Optimizer", "RMSprop"]
