"""Type checks of layer arguments that arrive from configs (files, JSON): a clear error naming
what was expected and what was received, before any value is used.

A model file is untrusted input: a ``"trainable": "no"`` would otherwise be truthy, a
``"mean": "abc"`` would fail deep inside the first call, and ``"kernel_size": [[3]]`` with
Python's own ``int()`` message.

>>> check_bool(True, "trainable", "Dense")
True
>>> check_int(3, "units", "Dense")
3
>>> numeric_array([1, 2.5], "mean", "Normalization").tolist()
[1.0, 2.5]
>>> numeric_array("abc", "mean", "Normalization")
Traceback (most recent call last):
...
ValueError: Normalization(mean=...) must be a number or a (nested) list of numbers. Received: 'abc' (of type str).
"""

from __future__ import annotations

import numpy as np


def shown(value, limit: int = 120) -> str:
    """``value``'s repr (cut to ``limit`` characters) and type, for error messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"{text} (of type {type(value).__name__})"


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), booleans excluded."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_bool(value) -> bool:
    """Whether ``value`` is a boolean (Python or NumPy)."""
    return isinstance(value, bool | np.bool_)


def int_items(value) -> tuple | None:
    """``value`` (a list or tuple of integers) as a tuple of ints, or None when it is anything
    else (a string, a dict, a float, nested lists): the caller reports it."""
    if isinstance(value, str | bytes | dict | set):
        return None
    try:
        items = tuple(value)
    except TypeError:
        return None
    return tuple(int(v) for v in items) if all(is_int(v) for v in items) else None


def check_int_items(value, name: str, owner: str, expected: str = "a tuple of integers") -> tuple:
    """``value`` (a list or tuple of integers) as a tuple of ints, or ``ValueError`` saying
    ``owner(name=...) must be <expected>``."""
    items = int_items(value)
    if items is None:
        raise ValueError(f"{owner}({name}=...) must be {expected}. Received: {name}={shown(value)}.")
    return items


def check_bool(value, name: str, owner: str) -> bool:
    """``value`` as a bool, or ``ValueError`` (as Keras's ``trainable`` check) when it is any
    other type: a string ``"no"`` or a number would otherwise be read by its truthiness."""
    if not is_bool(value):
        raise ValueError(
            f"{owner}: expected `{name}` to be a boolean (true or false). "
            f"Received: {name}={shown(value)}."
        )
    return bool(value)


def check_int(value, name: str, owner: str, minimum: int | None = None) -> int:
    """``value`` as an int (an integral float such as ``3.0`` too), or ``ValueError``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    if not is_int(value):
        raise ValueError(
            f"{owner}({name}=...) must be an integer. Received: {name}={shown(value)}."
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(
            f"{owner}({name}=...) must be an integer >= {minimum}. Received: {name}={value}."
        )
    return value


def check_shape(value, name: str, owner: str) -> tuple:
    """``value`` (a list or tuple of integers and ``None``) as a tuple, or ``ValueError``.

    Only the types are checked here (sizes are checked where the shape is used)."""
    expected = f"{owner}({name}=...) must be a tuple of integers (or None for unknown sizes)."
    if isinstance(value, str | bytes | dict | set):
        raise ValueError(f"{expected} Received: {name}={shown(value)}.")
    try:
        dims = tuple(value)  # a list, a tuple, a NumPy vector, a shape object
    except TypeError:
        raise ValueError(f"{expected} Received: {name}={shown(value)}.") from None
    out = []
    for d in dims:
        if isinstance(d, float | np.floating) and float(d).is_integer():
            d = int(d)
        if d is not None and not is_int(d):
            raise ValueError(f"{expected} Received: {name}={shown(value)}.")
        out.append(None if d is None else int(d))
    return tuple(out)


def is_number(value) -> bool:
    """Whether ``value`` is a real number (Python or NumPy), booleans excluded."""
    return isinstance(value, int | float | np.integer | np.floating) and not is_bool(value)


def check_number(value, name: str, owner: str) -> float:
    """``value`` as a float (a real number, booleans and strings excluded), or ``ValueError``."""
    if not is_number(value):
        raise ValueError(f"{owner}({name}=...) must be a number. Received: {name}={shown(value)}.")
    return float(value)


def numeric_array(value, name: str, owner: str) -> np.ndarray:
    """``value`` (a number, a nested list of numbers or a numeric array) as a float64 array.

    Raises:
        ValueError: strings, dicts, ``None`` entries, ragged lists, or any non-numeric value.
    """
    expected = f"{owner}({name}=...) must be a number or a (nested) list of numbers."
    if isinstance(value, str | bytes | dict | set) or value is None:
        raise ValueError(f"{expected} Received: {shown(value)}.")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RecursionError):  # ragged lists, odd objects
        raise ValueError(
            f"{expected} Received a ragged or malformed value: {shown(value)}."
        ) from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{expected} Received: {shown(value)}.")
    return arr.astype(np.float64)
