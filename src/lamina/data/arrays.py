"""In-memory arrays: conversion and the eager checks made before anything is traced.

Accepts NumPy arrays, anything ``np.asarray`` takes (lists, memory-mapped ``.npy`` files),
pandas DataFrames/Series and JAX arrays.  Every check raises a ``ValueError``/``TypeError``
that says what was expected, what was received and the usual fix.
"""

from __future__ import annotations

import numbers

import numpy as np


def to_numpy(data, name: str) -> np.ndarray:
    """Converts ``data`` to a NumPy array without copying when it already is one."""
    if data is None:
        raise ValueError(f"{name} is None; pass an array of samples.")
    if hasattr(data, "to_numpy") and hasattr(data, "dtypes"):  # pandas DataFrame / Series
        _check_frame_numeric(data, name)
        data = data.to_numpy()
    if isinstance(data, list | tuple) and data and hasattr(data[0], "shape") and len(data) > 1:
        # A list of arrays is the multi-input/multi-output form; a Sequential has one of each.
        shapes = [getattr(d, "shape", None) for d in data]
        if len({s[0] if s else None for s in shapes}) == 1 and all(len(s) == 1 for s in shapes):
            pass  # a list of 1-D arrays of equal length is a plain table row-wise; np.asarray
        else:
            raise ValueError(
                f"{name} is a list of {len(data)} arrays, but a Sequential model has a single "
                f"input and a single output. Pass one array (stack the columns with np.stack "
                f"or np.concatenate)."
            )
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{name} could not be converted to an array ({e}). Rows of different lengths are "
            f"the usual cause: every sample must have the same shape."
        ) from None
    if arr.dtype == object:
        example, column = _first_non_number(arr)
        if example is _NONE:  # every element is a number or a bool (pandas' mixed columns)
            return arr.astype(np.float64)
        where = f" in column {column}" if column is not None else ""
        raise TypeError(
            f"{name} must be numeric, but it is an object array holding {type(example).__name__} "
            f"values (e.g. {example!r}){where}. Convert string labels to integers first (for "
            f"example with np.unique(labels, return_inverse=True)[1] or "
            f"lamina.utils.to_categorical), and encode text columns numerically."
        )
    if arr.dtype.kind in "USV":
        example = arr.reshape(-1)[0] if arr.size else None
        raise TypeError(
            f"{name} must be numeric, but it holds {arr.dtype.name} values (e.g. {example!r}). "
            f"Convert string labels to integers first (for example with "
            f"np.unique(labels, return_inverse=True)[1] or lamina.utils.to_categorical), and "
            f"encode text columns numerically (or give the model an Input(dtype='string') "
            f"followed by an adapted StringLookup or TextVectorization)."
        )
    if arr.dtype.kind in "mM":  # Keras refuses them too ("Invalid dtype: datetime64")
        raise TypeError(
            f"{name} holds {arr.dtype} values (dates or durations), which a model cannot take. "
            f"Convert them to numbers first: e.g. seconds with "
            f"{name}.astype('datetime64[s]').astype('int64'), or features such as the day of "
            f"the week or the month."
        )
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} holds complex numbers; Lamina trains on real-valued data.")
    return arr


_NONE = object()


def _first_non_number(arr: np.ndarray):
    """``(element, column)``: the first element that is neither a real number nor a bool
    (strings count as not) and its column (the last axis; None for a 1-D array), else
    ``(_NONE, None)``."""
    for i, v in enumerate(arr.reshape(-1)):
        if isinstance(v, str | bytes) or not isinstance(v, numbers.Real | np.bool_):
            return v, (i % arr.shape[-1] if arr.ndim > 1 else None)
    return _NONE, None


def _check_frame_numeric(frame, name: str) -> None:
    if not hasattr(frame.dtypes, "items"):  # a Series: it has one dtype and maybe no name
        dtype = frame.dtypes
        if getattr(dtype, "kind", "O") in "biuf":
            return
        label = (
            f"a pandas Series named {frame.name!r}"
            if frame.name is not None
            else ("a pandas Series")
        )
        if str(dtype) == "category":
            raise TypeError(
                f"{name} is {label} of dtype 'category'; a model needs numbers. Use its integer "
                f"codes: {name}.cat.codes (e.g. with sparse_categorical_crossentropy), or "
                f"lamina.utils.to_categorical({name}.cat.codes) for one-hot targets."
            )
        raise TypeError(
            f"{name} is {label} of dtype {str(dtype)!r}; a model needs numbers. Encode it as "
            f"numbers first (e.g. {name}.astype('category').cat.codes for labels)."
        )
    dtypes = frame.dtypes
    bad = [str(col) for col, dt in dtypes.items() if getattr(dt, "kind", "O") not in "biuf"]
    if bad:
        raise TypeError(
            f"{name} has non-numeric column(s) {', '.join(repr(b) for b in bad)}. Encode them "
            f"as numbers (e.g. pandas.get_dummies for categories, or map labels to integers) "
            f"or drop them before training."
        )


#: Values checked at a time by :func:`all_finite`: its temporary stays small and is reused,
#: where one mask of a whole data set costs a fresh allocation (and its page faults) per fit.
_FINITE_BLOCK = 1 << 18


def all_finite(arr: np.ndarray) -> bool:
    """Whether a float array holds no NaN or inf, checked block by block.

    >>> all_finite(np.array([1.0, np.inf]))
    False
    """
    flat = arr.reshape(-1)
    for start in range(0, flat.size, _FINITE_BLOCK):
        if not np.isfinite(flat[start : start + _FINITE_BLOCK]).all():
            return False
    return True


def as_float32(arr: np.ndarray, name: str, purpose: str | None = None, check=True) -> np.ndarray:
    """float32 copy-on-need, after checking the data for NaN and inf (unless ``check`` is
    false: the caller then runs :func:`check_finite` itself).

    ``purpose`` (``"predict"``, or ``None`` for training and evaluation) words the message.
    """
    out = np.asarray(arr, dtype=np.float32)
    if check:
        check_finite(out, name, purpose)
    return out


def check_finite(arr: np.ndarray, name: str, purpose: str | None = None) -> None:
    """Raises a ValueError naming the first row of a float ``arr`` holding NaN or inf.

    >>> check_finite(np.array([[0.0], [np.nan]]), "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: x contains 1 non-finite value(s) (NaN), first in row 1: ...
    """
    if arr.dtype.kind != "f" or not arr.size or all_finite(arr):
        return
    bad = ~np.isfinite(arr)
    rows = np.nonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0] if arr.ndim else [0]
    kind = "NaN" if np.isnan(arr).any() else "inf"
    why = (
        "predict would return NaN for those rows"
        if purpose == "predict"
        else "training on NaN or inf gives NaN weights (and evaluating, NaN metrics)"
    )
    raise ValueError(
        f"{name} contains {int(bad.sum())} non-finite value(s) ({kind}), first in row "
        f"{int(rows[0])}: {why}. Fill or drop the missing values first (e.g. "
        f"np.nan_to_num, or pandas' fillna/dropna)."
    )


_INT32 = np.iinfo(np.int32)


def as_input(arr: np.ndarray, name: str, purpose: str | None = None, check=True) -> np.ndarray:
    """A model input on the host: integers as int32, everything else as :func:`as_float32`.

    Integers stay integers so that an integer ``Input`` (``Hashing``, ``IntegerLookup``, token
    ids) receives exact values; the model casts each input to its declared dtype (float32 by
    default) inside the compiled program, as Keras converts inputs to the ``Input``'s dtype.

    >>> as_input(np.array([[1, 2]], np.int64), "x").dtype, as_input(np.ones((1, 2)), "x").dtype
    (dtype('int32'), dtype('float32'))

    Raises:
        ValueError: integers outside int32's range (JAX runs without 64-bit integers), or
            NaN/inf in floating data.
    """
    a = np.asarray(arr)
    if a.dtype.kind not in "iu":
        return as_float32(a, name, purpose, check)
    if a.dtype.itemsize >= 4 and a.size and (a.min() < _INT32.min or a.max() > _INT32.max):
        raise ValueError(
            f"{name} holds integers outside int32's range ({int(a.min())}..{int(a.max())}); "
            f"Lamina computes with 32-bit integers. Map the values into range first (e.g. "
            f"lamina.layers.Hashing on strings, or the values modulo a bucket count)."
        )
    return a.astype(np.int32, copy=False)


def check_samples(x: np.ndarray, y: np.ndarray | None, sample_weight: np.ndarray | None) -> None:
    """Checks that x, y and sample_weight describe the same, non-empty set of samples."""
    if x.ndim == 0:
        raise ValueError(f"x must be an array of samples, but it is a scalar ({x!r}).")
    n = x.shape[0]
    if n == 0:
        raise ValueError("x is empty (0 samples). Pass at least one sample.")
    if y is not None:
        if y.ndim == 0:
            raise ValueError("y must be an array with one target per sample, but it is a scalar.")
        if y.shape[0] != n:
            raise ValueError(
                f"x and y have different numbers of samples: x has {n} rows, y has "
                f"{y.shape[0]}. Each row of x needs exactly one target in y; check that they "
                f"come from the same table and were split the same way."
            )
    if sample_weight is not None:
        if sample_weight.ndim not in (1, 2) or sample_weight.shape[0] != n:
            raise ValueError(
                f"sample_weight must have one weight per sample, shape ({n},), or one per "
                f"timestep, shape ({n}, timesteps), but it has shape {sample_weight.shape}."
            )


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras's conversion: each sample weighs its class's weight (1.0 for unlisted classes)."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict mapping class index to weight, e.g. {{0: 1.0, 1: 3.0}}. "
            f"Received: {type(class_weight).__name__}."
        )
    labels = y
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64).reshape(labels.shape[0], -1)[:, 0]
    weights = np.ones(labels.shape[0], np.float32)
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = float(w)
    return weights


def is_in_memory(data) -> bool:
    """Whether ``data`` is an in-memory array that ``fit`` puts on the device whole.

    True for NumPy arrays (but not memory maps, which stream from disk), lists and tuples,
    pandas DataFrames/Series, JAX arrays and ``None``; False for generators, datasets, file
    streams and other array-likes read slice by slice (``lamina.data.epochs.StreamEpochs``).

    >>> import numpy as np
    >>> is_in_memory(np.zeros((2, 3))), is_in_memory([[1.0, 2.0]]), is_in_memory(iter([]))
    (True, True, False)
    """
    if data is None or isinstance(data, list | tuple | int | float):
        return True
    if isinstance(data, np.ndarray):
        return not isinstance(data, np.memmap)
    if hasattr(data, "to_numpy") and hasattr(data, "dtypes"):  # pandas
        return True
    return type(data).__module__.startswith(("jax", "jaxlib"))
