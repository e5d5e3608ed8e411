"""Tables streamed from CSV and Parquet files in bounded memory (needs ``pyarrow``:
``pip install "lamina[data]"``).

``from_csv``/``from_parquet`` return a ``FileDataset``: pass it to ``fit``, ``evaluate`` or
``predict`` as ``x``.  Each epoch reads the files once, block by block (CSV blocks or Parquet
record batches), so memory stays bounded whatever the file size; ``shuffle_buffer`` mixes rows
through a bounded buffer.  A string label column is mapped to integers, by ``label_map`` or
automatically (``label_map='auto'``: sorted labels, reported once and kept in ``.label_map``).

>>> import lamina
>>> ds = lamina.data.from_csv(lamina.datasets.path('pima'), target='Outcome', batch_size=32)
>>> ds.feature_names[:2], ds.num_batches is None
(['Pregnancies', 'Glucose'], True)
"""

from __future__ import annotations

import glob as _glob
import os

import numpy as np

from lamina.data.arrow import _explain, _pyarrow, _read_errors
from lamina.data.file_dataset import FileDataset


def _paths(path_or_glob):
    paths = sorted(_glob.glob(os.fspath(path_or_glob)))
    if not paths:
        raise FileNotFoundError(f"No file matches {os.fspath(path_or_glob)!r}.")
    return paths


def from_csv(
    path_or_glob,
    target=None,
    batch_size=32,
    columns=None,
    header="infer",
    label_map=None,
    shuffle_buffer=0,
    dtype=np.float32,
    sample_weight=None,
    seed=None,
    delimiter=",",
    verbose=True,
):
    """Streams the rows of CSV file(s) as ``(x, y)`` batches for ``fit``/``evaluate``/``predict``.

    Args:
        path_or_glob: a file, or a glob such as ``'data/part-*.csv'`` (files read in sorted
            order, one pass per epoch).
        target: the label column, by name or index (``-1``: the last); ``None`` for
            ``predict``.
        batch_size: rows per batch.
        columns: the feature columns (names or indices); default: all but target/weights.
        header: ``'infer'`` (first row holds names) or ``None`` (names ``'0'``, ``'1'``, ...).
        label_map: for a string target: ``{label: int}``, or ``'auto'`` (sorted labels).
        shuffle_buffer: rows held for shuffling (0: file order).
        dtype: the feature dtype.
        sample_weight: an optional column of per-row weights.
        seed: the shuffle seed (default: from ``lamina.utils.set_random_seed``).

    >>> import lamina
    >>> ds = lamina.data.from_csv(lamina.datasets.path('sonar'), target=-1, header=None,
    ...                           label_map='auto', verbose=False)
    >>> ds.label_map
    {'M': 0, 'R': 1}
    """
    pa = _pyarrow()
    paths = _paths(path_or_glob)
    if header not in ("infer", None):
        raise ValueError(f"header must be 'infer' or None. Received: {header!r}.")
    read = pa.csv.ReadOptions(block_size=1 << 22, autogenerate_column_names=header is None)
    parse = pa.csv.ParseOptions(delimiter=delimiter)
    try:
        reader = pa.csv.open_csv(paths[0], read_options=read, parse_options=parse)
        schema = reader.schema
    except _read_errors() as e:
        raise _explain(e, paths[0], []) from None
    if header is None:  # pyarrow names them f0, f1, ...; use the indices as names
        read = pa.csv.ReadOptions(
            block_size=1 << 22, column_names=[str(i) for i in range(len(schema.names))]
        )
        schema = pa.schema([pa.field(str(i), f.type) for i, f in enumerate(schema)])
    reader.close()
    target = str(target) if header is None and isinstance(target, str) else target
    return FileDataset(
        "csv",
        paths,
        schema,
        target=target,
        batch_size=batch_size,
        columns=columns,
        label_map=label_map,
        shuffle_buffer=shuffle_buffer,
        dtype=dtype,
        sample_weight=sample_weight,
        seed=seed,
        verbose=verbose,
        read_options=(read, parse),
    )


def from_parquet(
    path_or_glob,
    target=None,
    batch_size=32,
    columns=None,
    label_map=None,
    shuffle_buffer=0,
    dtype=np.float32,
    sample_weight=None,
    seed=None,
    verbose=True,
):
    """Streams the rows of Parquet file(s), one record batch at a time (see :func:`from_csv`).

    The row count comes from the file metadata, so ``num_batches`` is known.
    """
    pa = _pyarrow()
    paths = _paths(path_or_glob)
    try:
        schema = pa.parquet.ParquetFile(paths[0]).schema_arrow
    except _read_errors() as e:
        raise _explain(e, paths[0], []) from None
    ds = FileDataset(
        "parquet",
        paths,
        schema,
        target=target,
        batch_size=batch_size,
        columns=columns,
        label_map=label_map,
        shuffle_buffer=shuffle_buffer,
        dtype=dtype,
        sample_weight=sample_weight,
        seed=seed,
        verbose=verbose,
    )
    ds._num_rows = 0
    for p in paths:
        try:
            ds._num_rows += pa.parquet.ParquetFile(p).metadata.num_rows
        except _read_errors() as e:
            raise _explain(e, p, []) from None
    return ds
