"""Streamed inputs (``lamina.data.epochs.StreamEpochs``) under a distribution: which rows each process
feeds, and where each chunk goes.

:func:`feed` returns the :class:`Feed` of one ``fit``/``evaluate``/``predict`` call; without a
distribution it keeps the single-device behaviour.

One process, several devices: the prefetch thread puts each ``(steps, batch, ...)`` chunk on
the devices split along its batch axis (axis 1) over the mesh's batch axis, and the weights are
replicated, so XLA sums the gradients as it does for in-memory arrays.  ``batch_size`` (for a
generator: the size of its batches) must split evenly over the devices.

Several processes: each feeds only its own rows of every batch, and
``jax.make_array_from_process_local_data`` joins them into global arrays, so losses and metrics,
reductions inside the compiled step, are global and the same on every process.  Who feeds what:

* ``from_csv``/``from_parquet``: the dataset splits its files, Parquet row groups or blocks of
  rows between the processes (:mod:`lamina.data.shards`); its ``batch_size`` is the global
  batch, each process feeding ``batch_size // process_count`` rows of it;
* memory-mapped (sliceable) arrays: every process opens the same arrays and feeds its slice of
  each batch, so the batches are those of a single process;
* generators, ``PyDataset``\\ s and iterables: each process passes its own source of local
  batches (global batch = local batch x processes), as with Keras's per-worker datasets.
  Their number per epoch must be known (``steps_per_epoch``/``steps``, or ``len``) and the
  same on every process, and so must the size of their first batch.

Every process runs the same number of steps: a smaller share ends with all-padding (masked)
steps, which the compiled step skips.
"""

from __future__ import annotations

import jax
import numpy as np

from lamina.distribution import sharding as _sharding


class Feed:
    """How the chunks of one streamed input reach the devices.

    Attributes:
        adapter: the input's adapter.
        capacity: rows per batch this process feeds (``None``: the first batch's size).
        steps: batches per epoch when known (``steps``/``steps_per_epoch``, else the
            adapter's ``num_batches``).
        global_batch: rows of one global batch (``None`` without a distribution).
        min_steps: steps every process runs per epoch, padding a shorter share (0: none).
        multi: whether several processes feed the input together.
    """

    def __init__(self, adapter, steps, capacity=None, global_batch=None, multi=False):
        self.adapter = adapter
        self.steps = steps
        self.capacity = capacity
        self.global_batch = global_batch
        self.multi = multi
        self.min_steps = steps if multi else 0

    def chunks(self, chunk_steps, steps=None, rng=None):
        """One epoch of host chunks ``((x, y, sw), mask)`` of this process's rows."""
        return self.adapter.iter_chunks(
            chunk_steps, steps, rng, capacity=self.capacity, min_steps=self.min_steps
        )

    def _put(self, tree):
        if self.global_batch is None:
            return jax.device_put(tree)
        return _sharding.put_local_batches(tree, self.global_batch)

    def put(self, item):
        """Prefetch transform: a host chunk -> ``(batches, mask)`` on the devices, and the
        number of steps with rows of this process."""
        batches, mask = item
        batches, dmask = self._put((batches, mask))
        return batches, dmask, int(np.count_nonzero(mask[:, 0]))

    def put_inputs(self, item):
        """Prefetch transform for ``predict``: ``(x on the devices, mask on the devices or
        None, host mask)``."""
        (xb, _, _), mask = item
        need_global_mask = self.multi and self.adapter.replicated_source
        return self._put(xb), self._put(mask) if need_global_mask else None, mask

    def steps_run(self, done, real, mstate):
        """Training steps run so far in the epoch.  With several processes, the count kept by
        the compiled step (the same on every process) rather than this process's own."""
        if not self.multi:
            return done + real
        return int(_sharding.device_get(mstate[-1][0]))

    def evaluated(self, done, mstate):
        """Whether an evaluation saw any row (on any process)."""
        if not self.multi:
            return done > 0
        return float(_sharding.device_get(mstate[0][1])) > 0

    def ran_out(self, fed, done, steps_per_epoch, stopped):
        """Whether the input ran out of data this epoch; the same answer on every process.

        Processes that pass their own source compare the steps each fed (``fed``) with the
        expected number (one small all-gather); otherwise, as with one process, the steps run
        (``done``) are compared with ``steps_per_epoch``.
        """
        if self.multi and not self.adapter.shared:
            if stopped:  # the same on every process: all skip the all-gather
                return False
            return bool((_allgather([fed])[:, 0] < self.steps).any())
        return steps_per_epoch is not None and done < steps_per_epoch

    def predictions(self, out, dmask, mask):
        """Host predictions of one chunk's real rows: this process's rows, or every row when
        one process feeds every device or every process passed the same arrays.  ``out`` may
        be a pytree (a model with several outputs)."""
        return jax.tree_util.tree_map(lambda o: self._real_rows(o, dmask, mask), out)

    def _real_rows(self, out, dmask, mask):
        if self.global_batch is None:
            return np.asarray(jax.device_get(out))[mask.reshape(-1) > 0]
        out = np.asarray(_sharding.device_get(out))
        if not self.multi:
            return out[mask.reshape(-1) > 0]
        out = out.reshape(mask.shape[0], self.global_batch, *out.shape[1:])
        if dmask is not None:
            return out[np.asarray(_sharding.device_get(dmask)) > 0]
        lo, hi = _sharding.batch_span(self.global_batch)
        return out[:, lo:hi][mask > 0]


def feed(adapter, first, steps=None, steps_name="steps_per_epoch"):
    """The :class:`Feed` of ``adapter`` under the current distribution.

    With several processes it also makes the adapter feed this process's share
    (``adapter.shard``) and checks that the processes agree (one small all-gather).

    Args:
        adapter: the input's adapter.
        first: its first batch (``adapter.peek()``).
        steps: the ``steps``/``steps_per_epoch`` argument, or ``None``.
        steps_name: that argument's name, for messages.

    Raises:
        ValueError: the batch size does not split over the devices; with several processes,
            they feed different batch sizes or numbers of batches, or a generator's number of
            batches is unknown.
    """
    dist = _sharding.active()
    if dist is None:
        return Feed(adapter, steps or adapter.num_batches)
    count = jax.process_count()
    if adapter.shared:
        batch, name = adapter.batch_size, "batch_size"
    else:  # the source's own batches: local ones when each process passes its own
        batch = jax.tree_util.tree_leaves(first[0])[0].shape[0] * count
        name = "the batch size (of the first batch)"
        if count > 1:
            name = f"the global batch size ({count} processes x their first batch's size)"
    if count == 1:
        _sharding.global_batch_check(batch, name)
        return Feed(adapter, steps or adapter.num_batches, batch, batch)
    local_steps = -1 if adapter.shared else (steps or adapter.num_batches or -1)
    _agree({"batch size": batch, steps_name: steps or -1, "batches per epoch": local_steps})
    _sharding.global_batch_check(batch, name)
    adapter.shard(jax.process_index(), count)
    known = steps or adapter.num_batches
    if known is None:
        raise ValueError(
            f"With {count} processes, every process must run the same number of steps, so the "
            f"number of batches per epoch of a {type(adapter).__name__[:-7] or 'streamed'} "
            f"input must be known: pass {steps_name}=..., or give the input a __len__."
        )
    capacity = adapter.capacity if adapter.shared else batch // count
    return Feed(adapter, known, capacity, batch, multi=True)


def _allgather(values):
    """``values`` (ints) of every process, as a ``(process_count, len(values))`` array."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(values, np.int32)))


def _agree(values):
    """Raises ``ValueError`` on every process when the processes' ``values`` differ."""
    table = _allgather(list(values.values()))
    bad = [
        f"{name}: {[None if v < 0 else int(v) for v in table[:, j]]}"
        for j, name in enumerate(values)
        if (table[:, j] != table[0, j]).any()
    ]
    if bad:
        raise ValueError(
            "The processes feed this input differently; they must agree on "
            + "; ".join(bad)
            + " (by process). Give every process the same batch size and number of batches."
        )
