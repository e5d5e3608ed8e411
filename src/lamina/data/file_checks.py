"""Checks on each block a file stream reads: the ones in-memory data gets, naming file and row.

Used by :class:`lamina.data.file_dataset.FileDataset` on every record batch before it becomes a
batch: missing values, NaN or inf in features, targets and sample weights (named by file, column
and row, as ``as_float32`` names the row of an in-memory array), and a column whose type in a
later file differs from the first file's (a timestamp, text or list column where numbers were).

>>> import numpy as np
>>> from types import SimpleNamespace
>>> ds = SimpleNamespace(_share=None, _block_start=100, _current_path="d.csv", kind="csv")
>>> finite(ds, np.array([1.0, np.inf]), "y", "target column")
Traceback (most recent call last):
...
ValueError: d.csv: target column 'y' holds NaN or inf values: 1 row(s) with inf in this block, the first in row 101 (0-based, header not counted). NaN or inf gives NaN weights in training and NaN metrics or predictions: fill or drop those rows first.
"""

from __future__ import annotations

import numpy as np

from lamina.data.arrow import _is_numeric


def where(ds, index: int) -> str:
    """``row R`` of the current file for row ``index`` of the current block, when exact."""
    if ds._share is not None and ds._share.blocks:  # rows were filtered: not exact
        return "a block of rows"
    return f"row {getattr(ds, '_block_start', 0) + index} (0-based, header not counted)"


def types(ds, rb) -> None:
    """Refuses a column whose type in this file differs in kind from the first file's
    (a timestamp, text or list column where numbers were); checked once per file."""
    if getattr(ds, "_types_checked", None) == ds._current_path:
        return
    import pyarrow as pa  # imported already: the stream is reading

    for name in [*ds.feature_names, ds.sample_weight, ds.target]:
        if name is None:
            continue
        t = rb.schema.field(name).type
        if name == ds.target and ds._string_target:
            if pa.types.is_dictionary(t):
                t = t.value_type
            ok, want = pa.types.is_string(t) or pa.types.is_large_string(t), "text labels"
        else:
            ok, want = _is_numeric(t), "numbers"
        if not ok:
            raise TypeError(
                f"{ds._current_path}: column {name!r} has type {t} in this file, but "
                f"{want} in the first file ({ds.paths[0]}). Every file must have the same "
                "column types: convert it (or leave the file out)."
            )
    ds._types_checked = ds._current_path


def nulls(ds, col, name: str, what: str) -> None:
    """Refuses missing values (nulls) in a column of the block, naming the first row."""
    if not col.null_count:
        return
    first = int(np.argmax(col.is_null().to_numpy(zero_copy_only=False)))
    raise ValueError(
        f"{ds._current_path}: {what} {name!r} has {col.null_count} missing value(s) in a "
        f"{ds.kind} block of {len(col)} rows, the first in {where(ds, first)} (or the "
        "file is damaged). Fill or drop them first."
    )


def finite(ds, values, name: str, what: str) -> None:
    """Refuses NaN or inf in ``values`` (one column of the block), naming the first row."""
    ok = np.isfinite(values)
    if ok.all():
        return
    bad = ~ok.reshape(ok.shape[0], -1).all(axis=1)
    first = int(np.argmax(bad))
    kind = "NaN" if np.isnan(values).any() else "inf"
    raise ValueError(
        f"{ds._current_path}: {what} {name!r} holds NaN or inf values: {int(bad.sum())} "
        f"row(s) with {kind} in this block, the first in {where(ds, first)}. NaN or inf "
        "gives NaN weights in training and NaN metrics or predictions: fill or drop those "
        "rows first."
    )
