"""Dtype names of symbolic tensors and inputs, with Keras's ``"string"`` among them.

NumPy has no ``"string"`` dtype, but Keras 3 spells a text input ``Input(dtype="string")``;
such an input is fed on the host (see :mod:`lamina.models.host_prefix`).

>>> dtype_name("string"), dtype_name(str), dtype_name("int32"), dtype_name(None)
('string', 'string', 'int32', 'float32')
"""

from __future__ import annotations

import numpy as np

from lamina.dtype_policies import NUMERIC_DTYPES

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
    try:
        np_dtype = np.dtype(dtype)
    except (ValueError, SyntaxError, RecursionError):  # "(2,", "f4,,", ...: not a dtype
        np_dtype = None
    except TypeError:
        if dtype == "bfloat16":  # without ml_dtypes: callers read it as float32
            raise
        np_dtype = None
    if np_dtype is not None and np_dtype.kind in "OUS":
        return STRING
    name = None if np_dtype is None else np_dtype.name  # ">f4" (big-endian) is "float32"
    if name not in NUMERIC_DTYPES:
        # Keras's ``standardize_dtype`` refuses these too: void/record ("V8", "(2,)f4"),
        # datetimes, 4-bit ints and anything NumPy reads as no numeric dtype.
        raise ValueError(
            f"Invalid dtype: {dtype!r}. Expected 'string' or one of {', '.join(NUMERIC_DTYPES)}."
        )
    return name
