"""Keras 2's ``keras.utils.data_utils``: ``get_file``, ``validate_file``, ``Sequence`` and the
enqueuers (``OrderedEnqueuer``, ``GeneratorEnqueuer``, ``SequenceEnqueuer``).

>>> from lamina.utils.data_utils import Sequence, get_file
>>> Sequence.__name__
'PyDataset'
"""

from __future__ import annotations

from lamina._unsupported import module_getattr
from lamina.data.pydataset import PyDataset as Sequence
from lamina.utils.enqueuers import GeneratorEnqueuer, OrderedEnqueuer, SequenceEnqueuer
from lamina.utils.file_utils import get_file, validate_file

__all__ = [
    "GeneratorEnqueuer",
    "OrderedEnqueuer",
    "Sequence",
    "SequenceEnqueuer",
    "get_file",
    "validate_file",
]

__getattr__ = module_getattr("utils", globals())  # Keras names Lamina lacks: a clear error
