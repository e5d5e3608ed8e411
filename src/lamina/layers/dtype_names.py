"""Dtype names of symbolic tensors and inputs, with Keras's ``"string"`` among them.

NumPy has no ``"string"`` dtype, but Keras 3 spells a text input ``Input(dtype="string")``;
such an input is fed on the host (see :mod:`lamina.models.host_prefix`).

>>> dtype_name("string"), dtype_name(str), dtype_name("int32"), dtype_name(None)
('string', 'string', 'int32', 'float32')
"""

from __future__ import annotations

import numpy as np

#: The name Keras gives text tensors.
STRING = "string"


def dtype_name(dtype) -> str:
    """The canonical name of ``dtype``: ``"string"`` for text (``"string"``, ``"str"``,
    ``str``, ``bytes``, NumPy unicode/bytes/object dtypes), NumPy's name otherwise;
    ``"float32"`` for ``None``."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, str) and dtype in (STRING, "str", "bytes", "object"):
        return STRING
    if dtype in (str, bytes, object, np.str_, np.bytes_, np.object_):
        return STRING
    kind = np.dtype(dtype).kind
    return STRING if kind in "OUS" else str(np.dtype(dtype))
