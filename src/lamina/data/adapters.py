"""Adapters: one per kind of streamed input, all with the same small interface.

``get(x, y, sample_weight, ...)`` picks the adapter for ``x``:

* ``ArrayAdapter``: arrays read slice by slice, never whole (``np.load(..., mmap_mode='r')``
  files, h5py datasets, anything with ``shape`` and slicing), plus DataFrames and in-memory
  arrays when they are given next to a streamed input (e.g. as ``validation_data``);
* ``PyDatasetAdapter``: ``lamina.utils.PyDataset`` and anything with ``__len__`` and
  ``__getitem__`` returning batches;
* ``GeneratorAdapter``: Python generators and other iterators (consumed once; with
  ``steps_per_epoch`` one continues across epochs);
* ``IterableAdapter``: re-iterable batch sources such as a PyTorch ``DataLoader`` (duck-typed:
  batches of tensors with ``.numpy()`` or ``__array__``).

A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` with Keras's reading (a
list is a tuple; a dict is ``x`` alone); ``x`` and ``y`` may be a dict or a tuple/list of arrays
(a model with several inputs or outputs), stacked leaf by leaf
(:mod:`lamina.data.structures`).

Every adapter exposes ``num_batches`` (``None`` if unknown), ``peek()`` (the first batch, to
build the model) and ``iter_chunks(chunk_steps, steps=None, rng=None, ...)``, which runs one epoch
and yields ``((x, y, sample_weight), mask)`` with ``x`` of shape ``(chunk_steps, batch, ...)``
and ``mask`` ``(chunk_steps, batch)``: the short last batch is padded and masked, and the last
chunk is padded with all-padding steps (which the compiled step skips).  With several processes,
``shard(index, count)`` makes an adapter feed only this process's rows
(``lamina.training.streaming_dist``).

>>> import numpy as np
>>> from lamina.data import adapters
>>> def batches():
...     for i in range(3):
...         yield np.full((4, 2), i), np.zeros(4)
>>> ad = adapters.get(batches(), None, None, batch_size=None)
>>> [(b[0].shape, float(m.sum())) for b, m in ad.iter_chunks(2)]
[((2, 4, 2), 8.0), ((2, 4, 2), 4.0)]
"""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lamina.data import arrays as _arrays
from lamina.data.base import Adapter, warn_ran_out  # noqa: F401 - re-exported


def get(x, y, sample_weight, *, batch_size, shuffle=False, class_weight=None, need_y=True):
    """Returns the adapter for ``x`` (and checks the arguments that go with it)."""
    if isinstance(x, Adapter):
        adapter = x
        adapter.reset()
    elif isinstance(x, dict | list | tuple):
        raise TypeError(
            f"x is a {type(x).__name__} holding arrays read from disk (memory maps, h5py "
            f"datasets): several inputs stream from a generator, PyDataset or iterable that "
            f"yields (x, y) batches with x a {type(x).__name__} of arrays, or from in-memory "
            f"arrays."
        )
    elif _is_array_like(x):
        return ArrayAdapter(
            x,
            y,
            sample_weight,
            batch_size=batch_size or 32,
            shuffle=shuffle,
            class_weight=class_weight,
            need_y=need_y,
        )
    elif hasattr(x, "__getitem__") and hasattr(x, "__len__") or _has_num_batches(x):
        adapter = PyDatasetAdapter(x)
    elif hasattr(x, "__next__"):
        adapter = GeneratorAdapter(x)
    elif hasattr(x, "__iter__"):
        adapter = IterableAdapter(x)
    else:
        raise TypeError(
            f"Unrecognized input of type {type(x).__name__}. Pass NumPy arrays, a pandas "
            f"DataFrame, a generator or iterable of (x, y) batches, a lamina.utils.PyDataset, "
            f"or lamina.data.from_csv/from_parquet."
        )
    for arg, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(
                f"{arg} must not be passed when x is a {type(x).__name__}: its batches carry "
                f"the targets and weights, as (x, y) or (x, y, sample_weight)."
            )
    adapter.shuffle = shuffle
    adapter.class_weight = class_weight
    adapter.need_y = need_y
    return adapter


def _is_array_like(x) -> bool:
    if isinstance(x, np.ndarray) or hasattr(x, "dtypes"):
        return True
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__")


def _has_num_batches(x) -> bool:
    return hasattr(x, "__getitem__") and hasattr(x, "num_batches")


class ArrayAdapter(Adapter):
    """Arrays read ``batch_size`` rows at a time: memory maps stay on disk.

    ``shuffle=True`` permutes all rows each epoch (reading them back in sorted blocks);
    ``shuffle='batch'`` permutes the order of the batches.
    """

    trusted = True
    shared = True
    replicated_source = True
    BLOCK_ROWS = 1 << 16

    def __init__(
        self, x, y, sample_weight, *, batch_size, shuffle=False, class_weight=None, need_y=True
    ):
        super().__init__()
        self.x = _frame(x, "x")
        self.y = None if y is None else _frame(y, "y")
        self.sw = None if sample_weight is None else _frame(sample_weight, "sample_weight")
        self.need_y = need_y
        if need_y and self.y is None:
            raise ValueError("y is None: fit and evaluate need targets, one per row of x.")
        n = self.x.shape[0] if len(self.x.shape) else 0
        for name, a in (("y", self.y), ("sample_weight", self.sw)):
            if a is not None and a.shape[0] != n:
                raise ValueError(
                    f"x and {name} have different numbers of samples: x has {n} rows, {name} "
                    f"has {a.shape[0]}."
                )
        if n == 0:
            raise ValueError("x is empty (0 samples). Pass at least one sample.")
        for name, a in (("x", self.x), ("y", self.y), ("sample_weight", self.sw)):
            kind = getattr(getattr(a, "dtype", None), "kind", "f")
            if a is not None and kind not in "biuf":
                _arrays.to_numpy(a[:1], name)  # raises the numeric-dtype TypeError
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.class_weight = class_weight

    @property
    def num_batches(self):
        return math.ceil(self.n / self.batch_size)

    def shard(self, index, count):
        """Every process opens the same arrays and feeds its ``batch_size // count`` rows of
        each batch, so the global batches are the ones a single process would use."""
        if self.batch_size % count:
            raise ValueError(
                f"batch_size={self.batch_size} does not split over {count} processes: use a "
                f"multiple of {count}."
            )
        super().shard(index, count)
        self.capacity = self.batch_size // count if count > 1 else None

    def _local_part(self, batch):
        if self.process_count == 1:
            return batch
        part = slice(self.process_index * self.capacity, (self.process_index + 1) * self.capacity)
        return tuple(None if a is None else a[part] for a in batch)

    def _rows(self, rows, a, name):
        out = np.asarray(a[rows] if isinstance(rows, slice) else a[np.sort(rows)])
        if not isinstance(rows, slice):  # fancy index in sorted order, then restore the order
            out = out[np.argsort(np.argsort(rows))]
        convert = _arrays.as_input if a is self.x else _arrays.as_float32  # ints stay exact
        return convert(out, name)

    def _pass(self, rng):
        bs, n = self.batch_size, self.n
        order = None
        if self.shuffle is True and rng is not None:
            order = rng.permutation(n)
        batches = list(range(self.num_batches))
        if self.shuffle == "batch" and rng is not None:
            rng.shuffle(batches)
        block = max(1, self.BLOCK_ROWS // bs)
        for start in range(0, len(batches), block):
            ids = batches[start : start + block]
            if order is None and ids == list(range(ids[0], ids[0] + len(ids))):
                rows = slice(ids[0] * bs, min(n, (ids[-1] + 1) * bs))
                sizes = [min(n, (i + 1) * bs) - i * bs for i in ids]
            else:
                base = np.arange(n) if order is None else order
                parts = [base[i * bs : (i + 1) * bs] for i in ids]
                rows, sizes = np.concatenate(parts), [len(p) for p in parts]
            name = f"x (rows of batches {ids[0]}..{ids[-1]})"
            x = self._rows(rows, self.x, name)
            y = None if self.y is None else self._rows(rows, self.y, "y")
            sw = None if self.sw is None else self._rows(rows, self.sw, "sample_weight")
            at = 0
            for size in sizes:
                sl = slice(at, at + size)
                at += size
                yield x[sl], None if y is None else y[sl], None if sw is None else sw[sl]


def _frame(a, name):
    if hasattr(a, "dtypes"):  # pandas: small enough to be in memory
        return _arrays.to_numpy(a, name)
    if not hasattr(a, "shape") or not hasattr(a, "__getitem__"):
        return _arrays.to_numpy(a, name)
    return a


class PyDatasetAdapter(Adapter):
    """``PyDataset``-style objects: batch ``i`` is ``ds[i]``; ``shuffle`` permutes the order."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    @property
    def num_batches(self):
        n = getattr(self.dataset, "num_batches", None)
        if n is None and hasattr(self.dataset, "__len__"):
            n = len(self.dataset)
        return None if n is None else int(n)

    def on_epoch_begin(self):
        getattr(self.dataset, "on_epoch_begin", lambda: None)()

    def on_epoch_end(self):
        getattr(self.dataset, "on_epoch_end", lambda: None)()

    def _pass(self, rng):
        n = self.num_batches
        indices = range(n) if n is not None else _count()
        # The stand-ins for Keras's tf.data datasets (``timeseries_dataset_from_array``,
        # ``image_dataset_from_directory``) keep their order: Keras's fit never reorders a
        # tf.data dataset (they shuffle themselves when asked to).
        keep = getattr(self.dataset, "keeps_order", False)
        if self.shuffle and n is not None and rng is not None and not keep:
            indices = list(indices)
            random.Random(int(rng.integers(2**31))).shuffle(indices)
        workers = int(getattr(self.dataset, "workers", 1) or 1)
        if workers <= 1:
            for i in indices:
                yield self.dataset[i]
            return
        ahead = max(workers, int(getattr(self.dataset, "max_queue_size", 10)))
        with ThreadPoolExecutor(workers, thread_name_prefix="lamina-pydataset") as pool:
            futures = []
            it = iter(indices)
            for i in it:
                futures.append(pool.submit(self.dataset.__getitem__, i))
                if len(futures) >= ahead:
                    break
            while futures:
                result = futures.pop(0).result()
                for i in it:
                    futures.append(pool.submit(self.dataset.__getitem__, i))
                    break
                yield result


def _count():
    i = 0
    while True:
        yield i
        i += 1


class GeneratorAdapter(Adapter):
    """A generator or iterator of batches, consumed once over the whole ``fit``."""

    one_shot = True
    keep_peeked = True

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def _pass(self, rng):
        return self.generator


class IterableAdapter(Adapter):
    """A re-iterable source of batches (e.g. a PyTorch ``DataLoader``): one ``iter()`` per
    epoch."""

    keep_peeked = True

    def __init__(self, iterable):
        super().__init__()
        self.iterable = iterable

    @property
    def num_batches(self):
        try:
            return int(len(self.iterable))
        except TypeError:
            return None

    def _pass(self, rng):
        return iter(self.iterable)
