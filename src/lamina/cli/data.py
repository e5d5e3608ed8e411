"""CSV tables for the command line: read, pick the target, infer the task, encode labels.

pandas reads the file when installed, else the ``csv`` module.  A header row is detected (a first
row with text where the next row has numbers; ``sonar.csv`` has none); ``--target`` is a column name or, for
files without a header, a column index (``--target 60``).

>>> from lamina.datasets import path
>>> table = read_table(path("iris"))
>>> table.names[-1], len(table.columns[0])
('variety', 150)
>>> infer_task(table.column("variety"))[0]
'multiclass'
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

#: A numeric target with at most this many distinct integers is read as class labels.
MAX_CLASSES = 10


class DataError(Exception):
    """A problem with the data or the model files: reported in one line, exit status 1."""


@dataclass
class Table:
    """Columns of a CSV file: ``names`` and one NumPy array per column (float or str)."""

    names: list
    columns: list
    header: bool

    def index(self, target) -> int:
        """The position of ``target``: a column name, or an integer index (negative allowed)."""
        target = str(target)
        if target in self.names:
            return self.names.index(target)
        try:
            i = int(target)
        except ValueError:
            shown = ", ".join(map(str, self.names[:12])) + (" ..." if len(self.names) > 12 else "")
            raise DataError(f"target column {target!r} not found; columns are: {shown}") from None
        if not -len(self.names) <= i < len(self.names):
            raise DataError(
                f"target index {i} out of range: the file has {len(self.names)} columns"
            )
        return i % len(self.names)

    def column(self, target):
        return self.columns[self.index(target)]

    def features(self, exclude=(), names=None) -> np.ndarray:
        """The float32 input matrix: all columns but ``exclude``, or the columns ``names``."""
        if names is not None:
            idx = [self.index(n) for n in names]
        else:
            idx = [i for i in range(len(self.names)) if i not in set(exclude)]
        bad = [self.names[i] for i in idx if self.columns[i].dtype.kind not in "fiub"]
        if bad:
            raise DataError(
                f"input column(s) {', '.join(map(str, bad[:5]))} are not numeric; encode them "
                f"as numbers or drop them"
            )
        if not idx:
            raise DataError("no input columns left besides the target")
        X = np.stack([self.columns[i].astype(np.float32) for i in idx], axis=1)
        if np.isnan(X).any():
            raise DataError(
                "the input columns hold missing values (empty cells); fill or drop them"
            )
        return X


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_header(path) -> bool:
    """A first row is a header when some column is text there but a number in the next row."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        first = next(reader, None)
        second = next(reader, None)
    if not first:
        raise DataError(f"{path} is empty")
    if second is None:
        return not all(_is_number(c.strip()) for c in first if c.strip())
    return any(not _is_number(a.strip()) and _is_number(b.strip()) for a, b in zip(first, second))


def _as_column(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    cells = [str(v).strip() for v in values]
    try:
        return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=object)


def read_table(path, header=None) -> Table:
    """Reads a CSV file into a :class:`Table`.

    Args:
        path: the CSV file.
        header: ``True``/``False``, or ``None`` to detect it from the first row.

    Raises:
        DataError: the file is missing, empty or not rectangular.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"no such file: {path}")
    if header is None:
        header = _sniff_header(path)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    try:
        if pd is not None:
            df = pd.read_csv(path, header=0 if header else None)
            names = [str(c) for c in df.columns] if header else [str(i) for i in range(df.shape[1])]
            columns = [_as_column(df.iloc[:, i].to_numpy()) for i in range(df.shape[1])]
        else:
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f) if r]
            names = rows.pop(0) if header else [str(i) for i in range(len(rows[0]))]
            if any(len(r) != len(names) for r in rows):
                raise DataError(f"{path}: rows have different numbers of fields")
            columns = [_as_column([r[i] for r in rows]) for i in range(len(names))]
    except DataError:
        raise
    except Exception as e:  # a parser error of pandas or csv
        raise DataError(f"could not read {path} as CSV: {str(e).splitlines()[0]}") from e
    if not columns or len(columns[0]) == 0:
        raise DataError(f"{path} holds no data rows")
    return Table([n.strip() for n in names], columns, bool(header))


def infer_task(y) -> tuple[str, list | None]:
    """The task a target column asks for, and its class names (``None`` for regression).

    Strings are classes; numbers are classes when they are at most ``MAX_CLASSES`` distinct
    integers; otherwise the task is regression.

    >>> infer_task(np.array([0.0, 1.0, 1.0]))
    ('binary', [0, 1])
    >>> infer_task(np.array([0.5, 1.7, 2.2]))[0]
    'regression'
    """
    if y.dtype.kind == "O":
        classes = sorted(set(y.tolist()))
    else:
        y = y[~np.isnan(y)]
        if not np.all(y == np.round(y)) or len(np.unique(y)) > MAX_CLASSES:
            return "regression", None
        classes = [int(v) for v in np.unique(y)]
    if len(classes) < 2:
        raise DataError(f"the target holds a single value ({classes[0]!r}); nothing to learn")
    return ("binary" if len(classes) == 2 else "multiclass"), classes


def encode_labels(y, classes) -> np.ndarray:
    """Class indices 0..k-1 of the labels ``y`` in the order of ``classes``."""
    lookup = {c: i for i, c in enumerate(classes)}
    keys = y.tolist() if y.dtype.kind == "O" else [int(v) if v == int(v) else v for v in y]
    unknown = sorted({str(k) for k in keys if k not in lookup})
    if unknown:
        raise DataError(
            f"labels {', '.join(unknown[:5])} are not among the model's classes "
            f"{', '.join(map(str, classes))}"
        )
    return np.array([lookup[k] for k in keys], dtype=np.int64)


def target_values(y, task, classes) -> np.ndarray:
    """The target as the model trains on it: class indices, or float32 numbers."""
    if task == "regression":
        if y.dtype.kind == "O":
            raise DataError("a regression target must be numeric; use --task auto for labels")
        if np.isnan(y).any():
            raise DataError("the target column holds missing values; fill or drop those rows")
        return y.astype(np.float32)
    return encode_labels(y, classes)
