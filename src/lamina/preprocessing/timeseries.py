"""``timeseries_dataset_from_array``: sliding windows over a series, as a ``PyDataset``.

Keras returns a ``tf.data.Dataset``; Lamina returns a ``PyDataset`` with the same windows and
targets (``len()``, indexing, iteration, and ``fit``/``evaluate``/``predict`` accept it), and
the ``tf.data`` methods scripts use on it: ``take``, ``map``, ``cardinality``, ``cache`` and
``prefetch``; its arrays have ``.numpy()``.

>>> import numpy as np
>>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3,
...                                    batch_size=4)
>>> len(ds), ds[0][0].tolist(), ds[0][1].tolist()
(2, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])
"""

from __future__ import annotations

import numpy as np

from lamina.data.dataset_ops import DatasetOps
from lamina.data.pydataset import PyDataset

__all__ = ["timeseries_dataset_from_array"]


class _WindowDataset(DatasetOps, PyDataset):
    """Batches of windows ``data[start + i * sampling_rate]`` with ``targets[start]``.

    It stands for Keras's ``tf.data`` dataset, which ``fit`` never reorders (``shuffle=True``
    in ``timeseries_dataset_from_array`` shuffles the windows once, as Keras's does)."""

    #: ``fit`` does not reorder the batches (see the class docstring).
    keeps_order = True

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches.")
        index %= len(self)
        size = self.batch_size or 1
        starts = self.starts[index * size : (index + 1) * size]
        rows = starts[:, None] + np.arange(self.sequence_length) * self.sampling_rate
        x = np.asarray(self.data[rows.ravel()]).reshape(rows.shape + np.shape(self.data)[1:])
        y = None if self.targets is None else np.asarray(self.targets[starts])
        if self.batch_size is None:
            x, y = x[0], None if y is None else y[0]
        from lamina.utils.dataset_utils import with_numpy  # lamina.utils imports this module

        return with_numpy(x if y is None else (x, y))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
):
    """Windows of ``sequence_length`` steps over ``data``, each with the target at its start.

    Window ``i`` holds ``data[start_index + p + k * sampling_rate]`` for ``k < sequence_length``
    and ``p = i * sequence_stride``; its target is ``targets[start_index + p]`` (so pass
    ``targets = data[length:]`` to predict the step after a window).

    Args:
        data: an array (or indexable) with time on axis 0.
        targets: per-step targets, or ``None`` for windows only.
        sequence_length: steps per window.
        sequence_stride: steps between window starts.
        sampling_rate: steps between the rows of one window.
        batch_size: windows per batch (``None``: one window per item, unbatched).
        shuffle: shuffle the windows (once, with ``seed``).
        seed: the shuffle's seed.
        start_index, end_index: use only ``data[start_index:end_index]``.

    Returns:
        A ``PyDataset`` of ``(windows, targets)`` batches (or windows when ``targets`` is
        ``None``).

    Raises:
        ValueError: for indices, rates or strides out of range.
    """
    data = np.asarray(data)
    n = len(data)
    if start_index is not None and not 0 <= start_index < n:
        raise ValueError(f"start_index must be in [0, {n}). Received: start_index={start_index}.")
    if end_index is not None and not (0 < end_index <= n and end_index > (start_index or 0)):
        raise ValueError(
            f"end_index must be greater than start_index and at most len(data)={n}. Received: "
            f"start_index={start_index}, end_index={end_index}."
        )
    for name, v in (
        ("sampling_rate", sampling_rate),
        ("sequence_stride", sequence_stride),
        ("sequence_length", sequence_length),
    ):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={v!r}.")
    if sampling_rate >= n or sequence_stride >= n:
        raise ValueError(
            f"sampling_rate and sequence_stride must be lower than len(data)={n}. Received: "
            f"sampling_rate={sampling_rate}, sequence_stride={sequence_stride}."
        )
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None. Received: {batch_size}.")
    start = start_index or 0
    stop = n if end_index is None else end_index
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets) - start)
    starts = np.arange(0, max(count, 0), sequence_stride) + start
    if shuffle:
        rs = np.random.RandomState(np.random.randint(1_000_000) if seed is None else seed)
        rs.shuffle(starts)
    return _WindowDataset(data, targets, starts, sequence_length, sampling_rate, batch_size)
