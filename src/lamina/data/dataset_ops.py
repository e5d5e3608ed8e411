"""The ``tf.data.Dataset`` methods tutorials chain on Keras's dataset utilities.

Keras's ``image_dataset_from_directory``, ``text_dataset_from_directory``,
``timeseries_dataset_from_array`` and ``split_dataset`` return ``tf.data`` datasets, and the
code around them chains ``tf.data`` methods: TensorFlow's image classification tutorial runs
``train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)`` and
``train_ds.map(lambda x, y: (normalization_layer(x), y), num_parallel_calls=AUTOTUNE)``.
Lamina's datasets are ``PyDataset`` objects (batch ``i`` by index, so ``fit`` reads them in
order); :class:`DatasetOps` gives them those methods, each returning another such dataset:

- ``shuffle(buffer_size, seed=None, reshuffle_each_iteration=True)``: ``tf.data``'s buffered
  shuffle of the elements (batches, for a batched dataset), drawn afresh every epoch;
- ``map(fn, num_parallel_calls=None, ...)``: ``fn(*element)`` for tuple elements;
- ``batch(batch_size, drop_remainder=False)``: consecutive elements stacked;
- ``take(count)``, ``skip(count)``: the first ``count`` elements, or all but them
  (``count=-1``: all, or none);
- ``cache``, ``prefetch``: the dataset itself (``fit`` reads ahead on its own);
- ``cardinality()``, ``as_numpy_iterator()``.

>>> import numpy as np
>>> from lamina.utils.dataset_utils import Batches
>>> ds = Batches(np.arange(10), 2)
>>> [b.tolist() for b in ds.skip(1).take(2)]
[[2, 3], [4, 5]]
>>> ds = ds.map(lambda x: x * 10, num_parallel_calls=-1).shuffle(100, seed=0)
>>> sorted(int(b[0]) for b in ds)
[0, 20, 40, 60, 80]
"""

from __future__ import annotations

import numpy as np

from lamina import tree
from lamina.data.pydataset import PyDataset

__all__ = ["DatasetOps", "GroupedBatches", "MappedBatches", "ShuffledBatches", "SlicedBatches"]


def _count(count, name: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int | np.integer):
        raise TypeError(f"`{name}` expects an integer count. Received: {name}({count!r}).")
    return int(count)


def buffered_order(n: int, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """The order ``tf.data``'s ``shuffle(buffer_size)`` gives ``n`` elements: fill a buffer
    with the first ``buffer_size``, emit a random one, put the next element in its place.

    >>> buffered_order(5, 1, np.random.default_rng(0)).tolist()
    [0, 1, 2, 3, 4]
    >>> sorted(buffered_order(5, 3, np.random.default_rng(0)).tolist())
    [0, 1, 2, 3, 4]
    """
    if buffer_size >= n:
        return rng.permutation(n)
    buffer = list(range(buffer_size))
    nxt, out = buffer_size, []
    while buffer:
        j = int(rng.integers(len(buffer)))
        out.append(buffer[j])
        if nxt < n:
            buffer[j] = nxt
            nxt += 1
        else:
            buffer[j] = buffer[-1]
            buffer.pop()
    return np.asarray(out, dtype=np.int64)


class DatasetOps:
    """``tf.data.Dataset``'s pipeline methods for a ``PyDataset`` of elements by index.

    The class using it defines ``__len__`` (the number of elements) and ``__getitem__``.
    """

    #: ``fit`` does not reorder the elements: the order is the pipeline's (``tf.data``'s rule).
    keeps_order = True

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def take(self, count: int) -> SlicedBatches:
        """The first ``count`` elements (all of them for ``-1``), as ``Dataset.take``."""
        count = _count(count, "take")
        n = len(self)
        return SlicedBatches(self, 0, n if count < 0 else min(count, n))

    def skip(self, count: int) -> SlicedBatches:
        """All but the first ``count`` elements (none for ``-1``), as ``Dataset.skip``."""
        count = _count(count, "skip")
        n = len(self)
        return SlicedBatches(self, n if count < 0 else min(count, n), n)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None, name=None):
        """The elements in ``tf.data``'s buffered-shuffle order (``Dataset.shuffle``).

        Args:
            buffer_size: elements in the shuffle buffer; ``-1`` or at least the dataset's
                length shuffles all of them uniformly.
            seed: seeds the order.
            reshuffle_each_iteration: draw a new order every epoch (default, as in
                ``tf.data``).
            name: ignored (``tf.data``'s op name).

        Returns:
            A :class:`ShuffledBatches`.

        Raises:
            ValueError: ``buffer_size`` is 0 or below -1.
        """
        size = _count(buffer_size, "shuffle")
        if size == 0 or size < -1:
            raise ValueError(
                "`shuffle` expects a positive buffer_size (or -1 for the whole dataset). "
                f"Received: buffer_size={buffer_size}."
            )
        reshuffle = True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration)
        return ShuffledBatches(self, size, seed, reshuffle)

    def map(self, fn, num_parallel_calls=None, deterministic=None, name=None) -> MappedBatches:
        """Each element passed through ``fn`` (``fn(*element)`` for tuples), as
        ``Dataset.map``; ``num_parallel_calls``, ``deterministic`` and ``name`` are accepted
        for ``tf.data`` code and change nothing (elements are mapped when read)."""
        if not callable(fn):
            raise TypeError(f"`map` expects a function. Received: {fn!r}.")
        return MappedBatches(self, fn)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None) -> GroupedBatches:  # fmt: skip
        """Consecutive elements stacked into batches of ``batch_size`` (``Dataset.batch``):
        ``image_dataset_from_directory(..., batch_size=None).shuffle(n).batch(32)``."""
        size = _count(batch_size, "batch")
        if size < 1:
            raise ValueError(f"`batch` expects a positive batch_size. Received: {batch_size}.")
        return GroupedBatches(self, size, bool(drop_remainder))

    def cache(self, *args, **kwargs):
        """The dataset itself, for ``tf.data`` pipeline code."""
        return self

    def prefetch(self, *args, **kwargs):
        """The dataset itself, for ``tf.data`` pipeline code (``fit`` reads ahead itself)."""
        return self

    def cardinality(self) -> int:
        """The number of elements (``Dataset.cardinality``)."""
        return len(self)

    def as_numpy_iterator(self):
        """The elements with plain NumPy arrays (``Dataset.as_numpy_iterator``)."""
        for element in self:
            yield tree.map_structure(
                lambda a: a.view(np.ndarray) if isinstance(a, np.ndarray) else a, element
            )


class _Derived(DatasetOps, PyDataset):
    """A dataset over another one: epoch ends reach the source (it may reshuffle)."""

    def __init__(self, source):
        PyDataset.__init__(self)
        self._source = source
        self.batch_size = getattr(source, "batch_size", None)
        self.class_names = getattr(source, "class_names", None)

    def _check(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(f"Batch index {i} is out of range for {len(self)} batches.")
        return i

    def on_epoch_end(self):
        self._source.on_epoch_end()


class MappedBatches(_Derived):
    """``map``: each element passed through a function (``fn(*element)`` for tuples)."""

    def __init__(self, source, fn):  # noqa: D107 - documented on the class
        super().__init__(source)
        self._fn = fn

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, i):
        element = self._source[i]
        return self._fn(*element) if isinstance(element, tuple) else self._fn(element)


class SlicedBatches(_Derived):
    """``take``/``skip``: elements ``start`` to ``stop`` of another dataset."""

    def __init__(self, source, start: int, stop: int):  # noqa: D107 - documented on the class
        super().__init__(source)
        self._start, self._stop = start, max(start, stop)

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, i):
        return self._source[self._start + self._check(i)]


class ShuffledBatches(_Derived):
    """``shuffle``: another dataset's elements in ``tf.data``'s buffered-shuffle order."""

    def __init__(self, source, buffer_size: int, seed, reshuffle: bool):  # noqa: D107
        super().__init__(source)
        self._buffer = len(source) if buffer_size == -1 else buffer_size
        self._rng = np.random.default_rng(seed)
        self._reshuffle = reshuffle
        self._order = buffered_order(len(source), self._buffer, self._rng)

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i):
        return self._source[int(self._order[self._check(i)])]

    def on_epoch_end(self):
        super().on_epoch_end()
        if self._reshuffle:
            self._order = buffered_order(len(self._source), self._buffer, self._rng)


class GroupedBatches(_Derived):
    """``batch``: consecutive elements of another dataset stacked along a new first axis."""

    def __init__(self, source, batch_size: int, drop_remainder: bool):  # noqa: D107
        super().__init__(source)
        self.batch_size, self._drop = batch_size, drop_remainder

    def __len__(self) -> int:
        n = len(self._source)
        return n // self.batch_size if self._drop else -(-n // self.batch_size)

    def __getitem__(self, i):
        start = self._check(i) * self.batch_size
        stop = min(start + self.batch_size, len(self._source))
        elements = [self._source[j] for j in range(start, stop)]
        from lamina.utils.dataset_utils import with_numpy  # (it imports this module)

        return with_numpy(tree.map_structure(lambda *leaves: np.stack(leaves), *elements))
