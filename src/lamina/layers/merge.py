"""Keras 2's module path ``keras.layers.merge`` (``concatenate``, ``Add``, ...); the layers
live in :mod:`lamina.layers.merging`.  Keras 1's ``Merge`` layer is not supported (see
:func:`lamina.layers.Merge`); Keras 1's ``merge`` function is this module, called
(``from keras.layers import merge; merge([a, b], mode="concat")``, see
:func:`lamina.layers.legacy_names.merge`).

>>> from lamina.layers.merge import concatenate
>>> concatenate.__name__
'concatenate'
"""

import sys
import types

from lamina.layers.keras2_merge_base import _Merge
from lamina.layers.legacy_names import Merge
from lamina.layers.legacy_names import merge as _merge_function
from lamina.layers.merging import *  # noqa: F403
from lamina.layers.merging import __all__ as _merging_all

__all__ = [*_merging_all, "Merge", "_Merge"]


class _CallableModule(types.ModuleType):
    """This module, callable as Keras 1's ``merge`` function."""

    def __call__(self, *args, **kwargs):
        return _merge_function(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
