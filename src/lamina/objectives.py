"""Keras 1's ``keras.objectives``: the loss functions (Keras 2 kept the module as an alias of
``keras.losses``; Keras 1's variational autoencoder calls ``objectives.binary_crossentropy``).

>>> import numpy as np
>>> from lamina import objectives
>>> from lamina.objectives import mean_squared_error
>>> float(mean_squared_error(np.zeros((1, 2)), np.ones((1, 2)))[0])
1.0
>>> objectives.binary_crossentropy is __import__("lamina").losses.binary_crossentropy
True
"""

from __future__ import annotations

from lamina import losses as _losses


def __getattr__(name: str):
    return getattr(_losses, name)


def __dir__() -> list[str]:
    return dir(_losses)
