"""Structured data: one array, or a tuple/dict of arrays (a model's several inputs or
outputs), read the same way whether it is in memory or one batch of a stream.

Keras's rules: a dict is a structure; a list or tuple is one when every item is an array (a
list of numbers is one array).  A structure's leaves come in ``jax.tree_util`` order (dict
keys sorted), the order of the model's outputs and of the engine's targets.

>>> import numpy as np
>>> is_structure([np.zeros((2, 3)), np.zeros((2, 1))]), is_structure([[1.0, 2.0]])
(True, False)
>>> [a.shape for a in leaves({"b": np.zeros((2, 1)), "a": np.zeros((2, 3))})]
[(2, 3), (2, 1)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.data import arrays as _arrays


def is_structure(data) -> bool:
    """Whether ``data`` is a structure of several arrays (several inputs or outputs), as
    Keras reads a dict, or a list/tuple whose items are all arrays (not nested numbers)."""
    if isinstance(data, dict):
        return True
    if isinstance(data, list | tuple) and data:
        return all(hasattr(a, "shape") and hasattr(a, "dtype") for a in data)
    return False


def _convert(v, name):
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()
    elif hasattr(v, "numpy") and callable(v.numpy) and not isinstance(v, np.ndarray):
        v = v.numpy()  # a TensorFlow tensor
    return _arrays.to_numpy(v, name)


def to_arrays(data, name: str):
    """``data`` as NumPy arrays: one array, or a tuple/dict of arrays (a structure)."""
    if isinstance(data, dict):
        return {k: _convert(v, f"{name}[{k!r}]") for k, v in data.items()}
    if is_structure(data):
        return tuple(_convert(v, f"{name}[{i}]") for i, v in enumerate(data))
    return _convert(data, name)


def leaves(data) -> list:
    """The arrays of a structure in ``jax.tree_util`` order (an array: itself)."""
    if isinstance(data, dict):
        return [data[k] for k in sorted(data)]
    return list(data) if isinstance(data, tuple | list) else [data]


def map_arrays(fn: Callable[[Any, str], Any], data, name: str):
    """``fn(array, its name)`` applied to each array, the structure kept."""
    if isinstance(data, dict):
        return {k: fn(v, f"{name}[{k!r}]") for k, v in data.items()}
    if isinstance(data, tuple | list):
        return tuple(fn(v, f"{name}[{i}]") for i, v in enumerate(data))
    return fn(data, name)


def float32(data, name: str):
    """Each array as float32 (NaN/inf refused, see :func:`lamina.data.arrays.as_float32`)."""
    return map_arrays(_arrays.as_float32, data, name)


def model_inputs(data, name: str, purpose: str | None = None):
    """Each array as a model input (:func:`lamina.data.arrays.as_input`: integers as int32,
    the rest float32)."""
    return map_arrays(lambda a, n: _arrays.as_input(a, n, purpose), data, name)


def shape_tree(data):
    """The shapes of ``data``'s arrays in its structure: one shape, a list (tuple or list
    data) or a dict of shapes, batch dimension first.

    >>> import numpy as np
    >>> shape_tree((np.zeros((4, 5)), np.zeros((4, 6))))
    [(4, 5), (4, 6)]
    """
    if isinstance(data, dict):
        return {k: tuple(v.shape) for k, v in data.items()}
    if isinstance(data, tuple | list):
        return [tuple(v.shape) for v in data]
    return tuple(data.shape)


def dtype_tree(data):
    """The dtype names of ``data``'s arrays in its structure, as :func:`shape_tree` gives
    their shapes (a model built from the data keeps integer inputs integer).

    >>> import numpy as np
    >>> dtype_tree([np.zeros((4, 5), "int32"), np.zeros((4, 6))])
    ['int32', 'float64']
    """
    if isinstance(data, dict):
        return {k: str(v.dtype) for k, v in data.items()}
    if isinstance(data, tuple | list):
        return [str(v.dtype) for v in data]
    return str(data.dtype)


def rows(data) -> int:
    """The number of samples (the first array's first dimension)."""
    return int(leaves(data)[0].shape[0])


def spec(data):
    """A hashable description of the structure and per-sample shapes (``None`` for none)."""
    if data is None:
        return None
    if isinstance(data, dict):
        return ("dict", tuple((k, data[k].shape[1:]) for k in sorted(data)))
    if isinstance(data, tuple | list):
        return ("tuple", tuple(a.shape[1:] for a in data))
    return data.shape[1:]


def describe(s) -> str:
    """:func:`spec`'s value in words."""
    if isinstance(s, tuple) and s and s[0] == "dict":
        return "{" + ", ".join(f"{k!r}: {shape}" for k, shape in s[1]) + "}"
    if isinstance(s, tuple) and s and s[0] == "tuple":
        return "(" + ", ".join(str(shape) for shape in s[1]) + ")"
    return str(s)
