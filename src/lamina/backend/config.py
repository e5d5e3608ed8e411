"""Keras 3's global backend settings: ``floatx``, ``epsilon``, ``image_data_format``.

These are process-wide, as in Keras. Lamina's layers compute in float32 whatever ``floatx``
says; ``floatx`` sets the dtype that ``lamina.ops`` and ``lamina.backend`` give Python floats
and new tensors, as Keras's does.

>>> from lamina import backend
>>> backend.floatx(), backend.epsilon(), backend.image_data_format()
('float32', 1e-07, 'channels_last')
"""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_FLOAT_TYPES = ("float16", "bfloat16", "float32", "float64")


def floatx() -> str:
    """The default float dtype name (``'float32'`` unless :func:`set_floatx` changed it).

    >>> from lamina import backend
    >>> backend.floatx()
    'float32'
    """
    return _FLOATX


def set_floatx(value: str) -> None:
    """Sets the default float dtype: one of ``'float16'``, ``'bfloat16'``, ``'float32'``,
    ``'float64'``.

    Raises:
        ValueError: for any other dtype.

    >>> from lamina import backend
    >>> backend.set_floatx("float16"); backend.floatx()
    'float16'
    >>> backend.set_floatx("float32")
    """
    global _FLOATX
    try:
        name = "bfloat16" if str(value) == "bfloat16" else str(np.dtype(value).name)
    except TypeError:
        name = str(value)
    if name not in _FLOAT_TYPES:
        raise ValueError(f"Unknown `floatx` value: {value!r}. Expected one of {_FLOAT_TYPES}.")
    _FLOATX = name


def epsilon() -> float:
    """The fuzz factor Keras adds to denominators (``1e-7`` by default).

    >>> from lamina import backend
    >>> backend.epsilon()
    1e-07
    """
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Sets :func:`epsilon`.

    >>> from lamina import backend
    >>> backend.set_epsilon(1e-5); backend.epsilon()
    1e-05
    >>> backend.set_epsilon(1e-7)
    """
    global _EPSILON
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"set_epsilon expects a float. Received: {value!r}.")
    _EPSILON = float(value)


def image_data_format() -> str:
    """``'channels_last'`` (the default) or ``'channels_first'``.

    >>> from lamina import backend
    >>> backend.image_data_format()
    'channels_last'
    """
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Sets :func:`image_data_format` to ``'channels_last'`` or ``'channels_first'``.

    Raises:
        ValueError: for any other value.

    >>> from lamina import backend
    >>> backend.set_image_data_format("channels_first"); backend.image_data_format()
    'channels_first'
    >>> backend.set_image_data_format("channels_last")
    """
    global _IMAGE_DATA_FORMAT
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format!r}."
        )
    _IMAGE_DATA_FORMAT = value


def backend() -> str:
    """The name of the backend: always ``'jax'``.

    >>> from lamina import backend
    >>> backend.backend()
    'jax'
    """
    return "jax"
