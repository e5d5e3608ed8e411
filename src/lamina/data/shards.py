"""Which rows of a ``from_csv``/``from_parquet`` dataset each process reads when several
processes train together (``FileDataset.shard``).

``plan(dataset, index, count)`` splits the work of one pass by process, from the metadata:

* at least as many files as processes: whole files, dealt round robin (file ``i`` to process
  ``i % count``);
* else, Parquet files with at least as many row groups (all files together) as processes:
  row groups, dealt round robin the same way, each process reading only its own;
* else (a single CSV file, or fewer row groups than processes): blocks of
  ``batch_size // count`` rows dealt round robin, so each global batch holds the rows, in the
  order, that one process reading the file would use; every process reads the whole file and
  keeps its blocks.

Each process then feeds ``batch_size // count`` rows per batch.  All run the same number of
steps, that of the largest share; shorter shares end with padded (masked) steps, and the
compiled step skips only steps with no real row on any process.

>>> from lamina.data.shards import deal
>>> deal([10, 10, 10, 4], count=2, local_batch=5)  # unit rows -> units per process, steps
([[0, 2], [1, 3]], 4)
>>> deal([2, 10, 2], count=2, local_batch=5)
([[0, 2], [1]], 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.data import arrow as _arrow


@dataclass(frozen=True)
class Share:
    """One process's part of a pass over a ``FileDataset``.

    Attributes:
        index: the process.
        count: the number of processes.
        local_batch: rows per batch this process feeds (``batch_size // count``).
        paths: the files this process reads, in order.
        row_groups: ``{path: [row group, ...]}`` when split by Parquet row group, else ``None``.
        blocks: whether the rows are split in blocks of ``local_batch`` rows (block ``b`` of the
            whole pass to process ``b % count``) rather than by file or row group.
        rows: the rows this process feeds in one pass.
        steps: the batches every process runs in one pass (those of the largest share).
    """

    index: int
    count: int
    local_batch: int
    paths: tuple
    row_groups: dict | None
    blocks: bool
    rows: int
    steps: int

    def row_groups_of(self, path):
        """The row groups of ``path`` to read (``None``: all of them)."""
        return None if self.row_groups is None else self.row_groups[path]


def deal(unit_rows, count, local_batch):
    """Deals units (files or row groups) of ``unit_rows`` rows round robin to ``count``
    processes: unit ``i`` to process ``i % count``.

    Returns ``(units per process, batches per process per pass)``.
    """
    bins = [list(range(r, len(unit_rows), count)) for r in range(count)]
    steps = [-(-sum(unit_rows[i] for i in b) // local_batch) for b in bins]
    return bins, max(steps)


def plan(ds, index, count):
    """The :class:`Share` of process ``index`` of ``count`` (``None`` for a single process)."""
    if count == 1:
        return None
    if ds.batch_size % count:
        raise ValueError(
            f"batch_size={ds.batch_size} does not split over {count} processes: each feeds "
            f"batch_size // {count} rows of every batch. Use a multiple of {count}."
        )
    lb = ds.batch_size // count
    paths = list(ds.paths)
    if len(paths) >= count:
        units = [(p, None) for p in paths]
        rows = [_file_rows(ds, p) for p in paths]
    elif ds.kind == "parquet":
        units, rows = [], []
        for p in paths:
            for g, n in enumerate(_row_group_rows(p)):
                units.append((p, g))
                rows.append(n)
    else:
        units = []
    if len(units) < count:  # too few files and row groups: blocks of rows
        total = sum(_file_rows(ds, p) for p in paths)
        n_blocks = -(-total // lb)
        mine = len(range(index, n_blocks, count))
        last = n_blocks - 1
        short = total - last * lb if total else 0
        rows_mine = mine * lb - (lb - short if total and last % count == index else 0)
        steps = -(-n_blocks // count)
        return Share(index, count, lb, tuple(paths), None, True, rows_mine, steps)
    per_process, steps = deal(rows, count, lb)
    own = per_process[index]
    own_paths = tuple(dict.fromkeys(units[i][0] for i in own))
    groups = None
    if units[0][1] is not None:  # split by row group
        groups = {}
        for i in own:
            groups.setdefault(units[i][0], []).append(units[i][1])
    return Share(index, count, lb, own_paths, groups, False, sum(rows[i] for i in own), steps)


def own_rows(record_batches, share):
    """Keeps this process's blocks of rows from a pass's record batches (``Share.blocks``);
    passes them through otherwise."""
    if share is None or not share.blocks:
        yield from record_batches
        return
    import pyarrow as pa

    lb, count, index = share.local_batch, share.count, share.index
    at = 0
    for rb in record_batches:
        n = rb.num_rows
        keep = (np.arange(at, at + n) // lb) % count == index
        at += n
        if keep.all():
            yield rb
        elif keep.any():
            yield rb.filter(pa.array(keep))


def _row_group_rows(path):
    pa = _arrow._pyarrow()
    try:
        meta = pa.parquet.ParquetFile(path).metadata
        return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    except _arrow._read_errors() as e:
        raise _arrow._explain(e, path, []) from None


def _file_rows(ds, path):
    """Rows of one file: Parquet metadata, or one pass over a CSV file (cached)."""
    cache = ds.__dict__.setdefault("_file_rows", {})
    if path in cache:
        return cache[path]
    pa = _arrow._pyarrow()
    try:
        if ds.kind == "parquet":
            n = pa.parquet.ParquetFile(path).metadata.num_rows
        else:
            read, parse = ds._read_options
            col = ds.columns[0]
            convert = pa.csv.ConvertOptions(include_columns=[col], column_types={col: pa.string()})
            reader = pa.csv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
            try:
                n = sum(rb.num_rows for rb in reader)
            finally:
                reader.close()
    except _arrow._read_errors() as e:
        raise _arrow._explain(e, path, ds.columns) from None
    cache[path] = n
    return n
