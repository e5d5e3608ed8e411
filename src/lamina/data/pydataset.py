"""``PyDataset``: Keras's batch-by-index dataset protocol (also known as ``Sequence``).

Subclass it, implement ``__len__`` (the number of batches) and ``__getitem__(i)`` (batch ``i``
as ``x``, ``(x, y)`` or ``(x, y, sample_weight)``), and pass the object to ``fit``,
``evaluate`` or ``predict``.  ``fit(shuffle=True)`` shuffles the order of the batches each
epoch; ``on_epoch_begin``/``on_epoch_end`` run around every pass; ``workers > 1`` fetches
batches on that many threads (in order), keeping at most ``max_queue_size`` batches ahead.

>>> import math
>>> import numpy as np
>>> from lamina.utils import PyDataset
>>> class Batches(PyDataset):
...     def __init__(self, x, y, batch_size, **kwargs):
...         super().__init__(**kwargs)
...         self.x, self.y, self.batch_size = x, y, batch_size
...     def __len__(self):
...         return math.ceil(len(self.x) / self.batch_size)
...     def __getitem__(self, i):
...         sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
...         return self.x[sl], self.y[sl]
>>> ds = Batches(np.zeros((10, 3)), np.zeros(10), batch_size=4)
>>> len(ds), ds.num_batches, ds[2][0].shape
(3, 3, (2, 3))
"""

from __future__ import annotations


class PyDataset:
    """Base class for datasets that return whole batches by index.

    Args:
        workers: threads fetching batches in parallel during ``fit`` (1: fetched by the
            prefetch thread itself).
        use_multiprocessing: accepted for Keras compatibility; Lamina uses threads, which suit
            I/O-bound loading (NumPy and file reads release the GIL).
        max_queue_size: the most batches fetched ahead of training when ``workers > 1``.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer. Received: workers={workers!r}.")
        if not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(
                f"max_queue_size must be a positive integer. Received: {max_queue_size!r}."
            )
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    # Subclasses that skip ``super().__init__()`` still get the defaults.
    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Returns batch ``index``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or ``None`` for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self):
        """Called before each pass over the batches."""

    def on_epoch_end(self):
        """Called after each pass over the batches (e.g. to reshuffle the samples)."""


#: Keras 2's name for the same protocol.
Sequence = PyDataset
