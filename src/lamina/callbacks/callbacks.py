"""Keras 2.3's ``keras.callbacks.callbacks`` module path: the same callbacks as
:mod:`lamina.callbacks`.

>>> from lamina.callbacks.callbacks import EarlyStopping
>>> import lamina
>>> EarlyStopping is lamina.callbacks.EarlyStopping
True
"""

import lamina.callbacks as _callbacks

__all__ = list(_callbacks.__all__)
globals().update({name: getattr(_callbacks, name) for name in __all__})
