"""Keras 2's module path ``keras.layers.merge`` (``concatenate``, ``Add``, ...); the layers
live in :mod:`lamina.layers.merging`.  Keras 1's ``Merge`` layer is not supported (see
:func:`lamina.layers.Merge`).

>>> from lamina.layers.merge import concatenate
>>> concatenate.__name__
'concatenate'
"""

from lamina.layers.legacy_names import Merge
from lamina.layers.merging import *  # noqa: F403
from lamina.layers.merging import __all__ as _merging_all

__all__ = [*_merging_all, "Merge"]
