"""Argument checks and shape arithmetic shared by the convolution, pooling and padding layers.

``normalize_tuple``/``normalize_data_format``/``normalize_padding`` turn a layer's arguments
into their canonical form (raising Keras's ``ValueError`` for a bad one) and
``conv_output_length`` is Keras's output length along one spatial axis.

>>> normalize_tuple(3, 2, "kernel_size", "Conv2D")
(3, 3)
>>> conv_output_length(10, 3, "valid", 2)
4
"""

from __future__ import annotations


def normalize_tuple(value, n: int, name: str, layer: str, minimum=None) -> tuple[int, ...]:
    """``3 -> (3, 3)``; checks a tuple's length (and, with ``minimum``, that every entry is at
    least that, as Keras's ``standardize_tuple``).  Shared with pooling and reshaping."""
    from lamina.layers.arg_checks import is_int, shown

    def whole(v):  # an integer, or an integral float (3.0) as some old configs write
        return is_int(v) or (isinstance(v, float) and v.is_integer())

    if whole(value):
        return _at_least((int(value),) * n, minimum, name, layer, value)
    bad = ValueError(
        f"{layer}({name}=...) must be an int or a tuple of {n} ints. Received: {name}="
        f"{shown(value)}."
    )
    if isinstance(value, str | bytes | dict | set):  # "3" or {"a": 1}: never sizes
        raise bad
    try:
        items = tuple(value)
    except TypeError:  # a float, None, ...
        raise bad from None
    if len(items) != n or not all(whole(v) for v in items):  # [[3, 3]], [2.5, 1], ["3"]
        raise bad
    return _at_least(tuple(int(v) for v in items), minimum, name, layer, value)


def _at_least(values, minimum, name, layer, given):
    if minimum is not None and any(v < minimum for v in values):
        raise ValueError(
            f"{layer}({name}=...) must be made of integers >= {minimum}. Received: {name}="
            f"{given!r}."
        )
    return values


def normalize_data_format(data_format, layer: str) -> str:
    if data_format is None:  # Keras's global default (``set_image_data_format``)
        from lamina.backend.config import image_data_format

        data_format = image_data_format()
    data_format = str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}(data_format=...) must be 'channels_last' or 'channels_first'. "
            f"Received: {data_format!r}."
        )
    return data_format


def normalize_padding(padding, allowed, layer: str) -> str:
    padding = str(padding).lower()
    if padding not in allowed:
        raise ValueError(f"{layer}(padding=...) must be one of {allowed}. Received: {padding!r}.")
    return padding


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """Keras's output length of a convolution or pooling along one axis (``None`` stays)."""
    if length is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return (length + stride - 1) // stride
    return (length - kernel + stride) // stride
