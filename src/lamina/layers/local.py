"""Keras 2's module path ``keras.layers.local``: the locally-connected layers.

>>> from lamina.layers.local import LocallyConnected2D
>>> LocallyConnected2D.__module__
'lamina.layers.locally_connected'
"""

from lamina.layers.locally_connected import LocallyConnected1D, LocallyConnected2D

__all__ = ["LocallyConnected1D", "LocallyConnected2D"]
