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
import re
import sys

import numpy as np

from lamina.data import file_checks as _checks
from lamina.data import shards as _shards
from lamina.data.base import Adapter
from lamina.data.parquet_reader import record_batches as _parquet_batches

_NUMERIC = "biuf"


def _pyarrow():
    loaded = sys.modules.get("pyarrow")
    needed = ("pyarrow.compute", "pyarrow.csv", "pyarrow.parquet")
    if loaded is not None and all(m in sys.modules for m in needed):
        # Already imported: no import at all (at interpreter exit, a stream closed by the garbage
        # collector must not try one: it fails and would blame a missing pyarrow).
        return loaded
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            'lamina.data.from_csv/from_parquet need pyarrow: pip install "lamina[data]".'
        ) from None
    return pyarrow


def _paths(path_or_glob):
    paths = sorted(_glob.glob(os.fspath(path_or_glob)))
    if not paths:
        raise FileNotFoundError(f"No file matches {os.fspath(path_or_glob)!r}.")
    return paths


class FileDataset(Adapter):
    """Rows of one or more files, batched; built by :func:`from_csv` / :func:`from_parquet`.

    Attributes:
        feature_names: the input columns, in order.
        target: the target column's name.
        label_map: ``{label: integer}`` when string labels were mapped, else ``None``.
        num_batches: batches per epoch when the row count is known (Parquet), else ``None``.
    """

    trusted = True
    shared = True
    _share = None  #: this process's part of each pass (see ``shard``); ``None``: every row

    def __init__(
        self,
        kind,
        paths,
        schema,
        *,
        target,
        batch_size,
        columns,
        label_map,
        shuffle_buffer,
        dtype,
        sample_weight,
        seed,
        verbose,
        read_options=None,
    ):
        super().__init__()
        self.kind, self.paths, self.batch_size = kind, paths, int(batch_size)
        self.dtype = np.dtype(dtype)
        self.shuffle_buffer = int(shuffle_buffer)
        self._read_options = read_options
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        try:
            names = list(schema.names)
        except UnicodeDecodeError as e:
            raise _explain(e, paths[0], []) from None
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"{paths[0]}: duplicate column name(s) {dupes}; give every column a unique "
                f"name (or read with header=None and select columns by index)."
            )
        self.target = None if target is None else _column(target, names, "target", paths[0])
        self.sample_weight = (
            None
            if sample_weight is None
            else _column(sample_weight, names, "sample_weight", paths[0])
        )
        exclude = {self.target, self.sample_weight}
        if columns is None:
            self.feature_names = [c for c in names if c not in exclude]
        else:
            self.feature_names = [_column(c, names, "columns", paths[0]) for c in columns]
        types = {n: schema.field(n).type for n in names}
        bad = [
            c
            for c in self.feature_names + [self.sample_weight]
            if c is not None and not _is_numeric(types[c])
        ]
        if bad:
            raise TypeError(
                f"{paths[0]}: column(s) {', '.join(repr(b) for b in bad)} are not numeric "
                f"({', '.join(str(types[b]) for b in bad)}). Drop them with columns=[...] or "
                f"encode them as numbers first."
            )
        self.label_map = None
        self._string_target = self.target is not None and not _is_numeric(types[self.target])
        if self._string_target:
            if label_map is None:
                raise TypeError(
                    f"{paths[0]}: target column {self.target!r} holds strings "
                    f"({types[self.target]}). Pass label_map='auto' to number the labels "
                    f"automatically, or label_map={{'label': 0, ...}}."
                )
            if label_map == "auto":
                labels = sorted(set(self._labels()))
                label_map = {label: i for i, label in enumerate(labels)}
                if verbose:
                    print(
                        f"lamina.data: mapped labels of column {self.target!r} to integers: "
                        f"{label_map}"
                    )
            self.label_map = dict(label_map)
        self.need_y = self.target is not None
        self._num_rows = None

    @property
    def num_batches(self):
        if self._share is not None:
            return self._share.steps
        if self._num_rows is None:
            return None
        return -(-self._num_rows // self.batch_size)

    @property
    def columns(self):
        return [c for c in (*self.feature_names, self.target, self.sample_weight) if c]

    def shard(self, index, count):
        """Makes each pass read only the share of process ``index`` of ``count`` (by file, by
        Parquet row group, else by blocks of rows; see :mod:`lamina.data.shards`), in batches
        of ``batch_size // count`` rows.  With ``seed``, the shuffle seed differs by process.
        """
        if (index, count) == (self.process_index, self.process_count):
            return  # planned already (a CSV file's rows are counted once)
        self._share = _shards.plan(self, index, count)
        super().shard(index, count)
        self.capacity = None if self._share is None else self._share.local_batch
        if count > 1 and self._seed is not None:
            self._rng = np.random.default_rng(
                np.random.SeedSequence(self._seed, spawn_key=(index,))
            )

    # --------------------------------------------------------------------- reading
    def _blocks(self, columns):
        pa = _pyarrow()
        errors = _read_errors()  # once: an except clause is evaluated when the stream closes
        for path in self.paths if self._share is None else self._share.paths:
            self._current_path = path  # for the messages of _convert
            self._block_start = 0  # the file's row of the next block's first row
            try:
                if self.kind == "parquet":
                    groups = None if self._share is None else self._share.row_groups_of(path)
                    for rb in _parquet_batches(pa, path, columns, groups):
                        yield rb
                        self._block_start += rb.num_rows
                else:
                    read, parse = self._read_options
                    types = {c: pa.float64() for c in columns if c != self.target}
                    if self.target is not None:
                        types[self.target] = pa.string() if self._string_target else pa.float64()
                    convert = pa.csv.ConvertOptions(include_columns=columns, column_types=types)
                    for rb in pa.csv.open_csv(
                        path, read_options=read, parse_options=parse, convert_options=convert
                    ):
                        yield rb
                        self._block_start += rb.num_rows
            except errors as e:
                raise _explain(e, path, self.columns) from None

    def _labels(self):
        pa = _pyarrow()
        for rb in self._blocks([self.target]):
            col = rb.column(0)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            yield from col.unique().to_pylist()

    def _convert(self, rb):
        pa = _pyarrow()
        _checks.types(self, rb)
        n = rb.num_rows
        x = np.empty((n, len(self.feature_names)), self.dtype)
        for j, name in enumerate(self.feature_names):
            col = rb.column(name)
            _checks.nulls(self, col, name, "column")
            x[:, j] = col.to_numpy(zero_copy_only=False)  # no copy besides this one
        if not np.isfinite(x).all():  # once per block: contiguous, ~10x faster than per column
            j = int(np.argmin(np.isfinite(x).all(axis=0)))
            _checks.finite(self, x[:, j], self.feature_names[j], "column")
        y = sw = None
        if self.target is not None:
            col = rb.column(self.target)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            if self.label_map is not None:
                idx = pa.compute.index_in(col, value_set=pa.array(list(self.label_map)))
                if idx.null_count:
                    unknown = col.filter(pa.compute.is_null(idx)).unique().to_pylist()[:5]
                    raise ValueError(
                        f"{self._current_path}: target column {self.target!r} holds label(s) "
                        f"{unknown} "
                        f"missing from label_map {self.label_map}."
                    )
                codes = np.array(list(self.label_map.values()), np.float32)
                y = codes[idx.to_numpy(zero_copy_only=False)]
            else:
                _checks.nulls(self, col, self.target, "target column")
                y = col.to_numpy(zero_copy_only=False).astype(np.float32)
                _checks.finite(self, y, self.target, "target column")
        if self.sample_weight is not None:
            col = rb.column(self.sample_weight)
            _checks.nulls(self, col, self.sample_weight, "sample_weight column")
            sw = col.to_numpy(zero_copy_only=False).astype(np.float32)
            _checks.finite(self, sw, self.sample_weight, "sample_weight column")
        return x, y, sw

    def _shuffled(self, blocks, rng):
        cap = self.shuffle_buffer
        buf = None
        for blk in blocks:
            buf = (
                blk
                if buf is None
                else tuple(None if a is None else np.concatenate([a, b]) for a, b in zip(buf, blk))
            )
            n = buf[0].shape[0]
            if n > cap:
                perm = rng.permutation(n)
                out, keep = perm[: n - cap], perm[n - cap :]
                yield tuple(None if a is None else a[out] for a in buf)
                buf = tuple(None if a is None else a[keep] for a in buf)
        if buf is not None and buf[0].shape[0]:
            perm = rng.permutation(buf[0].shape[0])
            yield tuple(None if a is None else a[perm] for a in buf)

    def _pass(self, rng):
        rbs = _shards.own_rows(self._blocks(self.columns), self._share)
        blocks = (self._convert(rb) for rb in rbs if rb.num_rows)
        if self.shuffle_buffer > 1:
            blocks = self._shuffled(
                blocks, self._rng if self._seed is not None or rng is None else rng
            )
        bs, pending, have = self.capacity or self.batch_size, [], 0
        for blk in blocks:
            pending.append(blk)
            have += blk[0].shape[0]
            while have >= bs:
                batch, pending = _take(pending, bs)
                have -= bs
                yield batch
        if have:
            yield _take(pending, have)[0]

    def __iter__(self):
        """Iterates one pass of ``(x, y)`` batches (``(x, y, sw)`` with weights)."""
        for x, y, sw in self._pass(None):
            yield tuple(a for a in (x, y, sw) if a is not None)


def _take(pending, k):
    """Splits ``k`` rows off the front of a list of (x, y, sw) blocks."""
    out, rest, need = [], [], k
    for blk in pending:
        n = blk[0].shape[0]
        if need >= n:
            out.append(blk)
            need -= n
        elif need > 0:
            out.append(tuple(None if a is None else a[:need] for a in blk))
            rest.append(tuple(None if a is None else a[need:] for a in blk))
            need = 0
        else:
            rest.append(blk)
    batch = tuple(
        None
        if out[0][i] is None
        else np.concatenate([b[i] for b in out])
        if len(out) > 1
        else out[0][i]
        for i in range(3)
    )
    return batch, rest


def _is_numeric(t) -> bool:
    try:
        return np.dtype(t.to_pandas_dtype()).kind in _NUMERIC
    except (NotImplementedError, TypeError):
        return False


def _column(spec, names, what, path):
    if isinstance(spec, int | np.integer) and not isinstance(spec, bool):
        if not -len(names) <= spec < len(names):
            raise ValueError(
                f"{path}: {what} column index {spec} is out of range: the file has "
                f"{len(names)} columns."
            )
        return names[spec]
    if spec not in names:
        raise ValueError(f"{path}: {what} column {spec!r} not found. Columns: {names}.")
    return spec


def _read_errors():
    """The exceptions pyarrow raises for unreadable, damaged or undecodable files."""
    pa = _pyarrow()
    return (pa.ArrowException, OSError, UnicodeDecodeError, KeyError, IndexError)


def _explain(e, path, columns):
    msg = str(e)
    m = re.search(r"column #(\d+)", msg)
    if m and "conversion error" in msg.lower():
        return TypeError(f"{path}: CSV column #{m.group(1)} holds a non-numeric value ({msg}).")
    if isinstance(e, OSError):  # pyarrow's damaged-file errors (and missing files)
        return OSError(f"{path}: cannot read the file; it may be damaged or truncated ({msg}).")
    if isinstance(e, UnicodeDecodeError | KeyError | IndexError):
        msg = f"the file is damaged or not UTF-8 text ({type(e).__name__}: {msg})"
    return ValueError(f"{path}: {msg}")


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
