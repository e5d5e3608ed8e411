"""``FileDataset``: the adapter that streams the rows of CSV or Parquet files as batches.

Built by :func:`lamina.data.from_csv` / :func:`lamina.data.from_parquet` (in
:mod:`lamina.data.files`): each pass reads the files block by block, checks and converts each
block to arrays (:mod:`lamina.data.file_checks`), mixes rows through a bounded shuffle buffer
and cuts batches; :meth:`FileDataset.shard` splits the passes between processes
(:mod:`lamina.data.shards`).
"""

from __future__ import annotations

import numpy as np

from lamina.data import file_checks as _checks
from lamina.data import shards as _shards
from lamina.data.arrow import _explain, _is_numeric, _pyarrow, _read_errors
from lamina.data.base import Adapter
from lamina.data.parquet_reader import record_batches as _parquet_batches


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
