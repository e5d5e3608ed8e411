"""Keras 2.3's ``keras.callbacks.tensorboard_v1`` module path: ``TensorBoard``.

>>> from lamina.callbacks.tensorboard_v1 import TensorBoard
>>> import lamina
>>> TensorBoard is lamina.callbacks.TensorBoard
True
"""

from lamina.callbacks.extra import TensorBoard

__all__ = ["TensorBoard"]
