"""Keras 2's ``keras.utils.io_utils``: :class:`HDF5Matrix`, an HDF5 dataset used as an array.

Keras 2 trained on data larger than memory by passing ``HDF5Matrix(path, "features")`` as
``x``; ``fit`` reads it a batch at a time, as it reads a memory map (Keras 2 needed
``shuffle="batch"``; Lamina also shuffles whole rows, reading them back in sorted blocks).

>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "data.h5")
>>> with h5py.File(path, "w") as f:
...     _ = f.create_dataset("x", data=np.arange(20, dtype="float32").reshape(10, 2))
>>> x = HDF5Matrix(path, "x", start=2, end=8, normalizer=lambda a: a / 2)
>>> x.shape, len(x), x[0].tolist(), x[1:3].tolist()
((6, 2), 6, [2.0, 2.5], [[3.0, 3.5], [4.0, 4.5]])
>>> x.close()
"""

from __future__ import annotations

import numpy as np

__all__ = ["HDF5Matrix"]


class HDF5Matrix:
    """Rows ``start:end`` of an HDF5 dataset, read on indexing (Keras 2's ``HDF5Matrix``).

    Args:
        datapath: path of the HDF5 file (opened read-only; one open file per path).
        dataset: name of the dataset in the file.
        start: first row (default 0).
        end: row after the last one (default: the dataset's length).
        normalizer: a function applied to every block of rows read.

    Raises:
        ValueError: ``start``/``end`` outside the dataset, or ``dataset`` not a dataset.
        IndexError: indexing past ``end``.
    """

    #: Files opened by path, shared by the matrices of one file (as Keras 2 shared them).
    refs: dict = {}

    def __init__(self, datapath, dataset, start=0, end=None, normalizer=None):
        import h5py

        f = self.refs.get(datapath)
        if f is None or not f.id.valid:
            f = h5py.File(datapath, "r")
            self.refs[datapath] = f
        data = f.get(dataset)
        if not isinstance(data, h5py.Dataset):
            raise ValueError(
                f"HDF5Matrix: {dataset!r} is not a dataset of {datapath!r} "
                f"(it holds: {sorted(f.keys())[:20]})."
            )
        self.data = data
        n = data.shape[0]
        self.start = int(start)
        self.end = n if end is None else int(end)
        if not 0 <= self.start <= self.end <= n:
            raise ValueError(
                f"HDF5Matrix: start={start!r}, end={end!r} must satisfy 0 <= start <= end <= "
                f"{n} (the dataset's length)."
            )
        self.normalizer = normalizer
        first = data[self.start : self.start + 1] if self.end > self.start else data[0:0]
        if normalizer is not None:
            first = np.asarray(normalizer(first))
        self._base_shape = tuple(first.shape[1:])
        self._base_dtype = first.dtype

    def __len__(self):
        return self.end - self.start

    def __getitem__(self, key):
        n = len(self)
        if isinstance(key, slice):
            begin, stop, step = key.indices(n)
            if step != 1:
                idx = [self.start + i for i in range(begin, stop, step)]
            else:
                idx = slice(self.start + begin, self.start + max(begin, stop))
        elif isinstance(key, int | np.integer):
            k = int(key) + (n if key < 0 else 0)
            if not 0 <= k < n:
                raise IndexError(f"HDF5Matrix index {key} is out of range for {n} rows.")
            idx = self.start + k
        else:
            rows = np.asarray(key, dtype=np.int64).ravel()
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise IndexError(f"HDF5Matrix indices must lie in [0, {n}). Received {key!r}.")
            idx = (rows + self.start).tolist()
        if isinstance(idx, list):
            # h5py reads increasing, unique indices: read those, then put the rows in order.
            order = sorted(set(idx))
            block = self.data[order] if order else self.data[0:0]
            where = {r: i for i, r in enumerate(order)}
            out = block[[where[r] for r in idx]]
        else:
            out = self.data[idx]
        return self.normalizer(out) if self.normalizer is not None else out

    @property
    def shape(self):
        """``(rows, ...)``: the rows of the slice, then the (normalized) row shape."""
        return (len(self), *self._base_shape)

    @property
    def dtype(self):
        """The (normalized) rows' dtype."""
        return self._base_dtype

    @property
    def ndim(self):
        """The number of axes."""
        return len(self.shape)

    @property
    def size(self):
        """The number of elements."""
        return int(np.prod(self.shape))

    def close(self):
        """Closes the file (the other matrices of the same file too)."""
        f = self.refs.pop(self.data.file.filename, None)
        for path, other in list(self.refs.items()):
            if other is self.data.file:
                self.refs.pop(path)
        (f or self.data.file).close()
