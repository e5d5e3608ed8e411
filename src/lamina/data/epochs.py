"""Epoch sources: every input kind seen by the engine's one loop as chunks of steps.

Keras's ``EpochIterator`` is the model: the host loop (``lamina.training.loop``) asks a source
for one epoch of :class:`Chunk`\\ s and runs each with the compiled program, calling the
callbacks between them.  Two sources cover every input:

* :class:`ResidentEpochs`: arrays (or pytrees of arrays) put on the devices once.  An epoch is
  one compiled program (``train_epoch``: shuffle, every step and the logs in one dispatch) or,
  when something must run between steps (batch hooks, a live progress bar, a long epoch), a
  few ``train_chunk`` calls over slices of the epoch's batch indices.
* :class:`StreamEpochs`: host chunks (generators, ``PyDataset``, DataLoader-likes, memory maps,
  CSV/Parquet files) stacked into padded ``(steps, batch, ...)`` chunks by an adapter
  (``lamina.data.adapters``) and put on the devices by a background ``Prefetcher`` while the
  previous chunk runs.

Both shuffle from the same key stream (the model's shuffle key, advanced once per epoch) and
give ``shuffle`` Keras's meaning for every kind: ``True`` permutes the rows, ``False`` keeps
them in order, ``"batch"`` keeps each batch's rows (``batch_size`` consecutive rows) and
permutes the order of the batches (Keras 2's "shuffle in batch-sized chunks").

>>> import numpy as np
>>> src = ResidentEpochs((np.zeros((5, 2), "float32"), (np.zeros((5, 1), "float32"),),
...                       np.ones(5, "float32")), batch_size=2, shuffle=False)
>>> src.steps
3
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lamina.data.prefetch import Prefetcher
from lamina.distribution import sharding as _sharding
from lamina.training.shuffle import advance, epoch_index, shuffle_mode
from lamina.training.whole_batch import partial_rows

#: Rows from which each epoch's order is drawn on the host (see ``epoch_index``).
HOST_SHUFFLE_ROWS = 1 << 17
#: Chunks prepared ahead of the one running (streamed inputs).
PREFETCH_DEPTH = 2


class Chunk(NamedTuple):
    """Some consecutive steps of one epoch.

    Attributes:
        begin: the epoch's index of the chunk's first step.
        real: steps holding real rows (the rest are padding the program skips).
        run: ``run(ts, mstate) -> (ts, mstate)`` for training, ``run(ts, mstate) -> mstate``
            for evaluation: the compiled call over the chunk.
    """

    begin: int
    real: int
    run: Callable[..., Any]


_device_epoch_index = jax.jit(epoch_index, static_argnums=(1, 2, 3))
_advance = jax.jit(advance)


def _committed_key(rng):
    """The shuffle key, replicated under a distribution and committed to its device.

    A fit's first key was made outside ``jit`` (uncommitted) while every later one comes out
    of a compiled call (committed); ``jit`` compiles once per argument placement, so the
    epoch program compiled twice per fit (seconds for a mid-size model) without this.
    """
    rng = _sharding.replicate(rng)
    if isinstance(rng, jax.Array) and not rng.committed:
        rng = jax.device_put(rng, rng.sharding)
    return rng


def host_epoch_index(rng, n, batch_size, steps, mode):
    """:func:`epoch_index`, drawn on the host with NumPy from ``HOST_SHUFFLE_ROWS`` rows on.

    Sorting on an XLA CPU device costs ~0.23 s per million rows, several times the epoch of a
    small model over that many rows; NumPy's permutation is ~10x faster.  The key advances as
    on the device, so a seeded fit stays reproducible.
    """
    if n < HOST_SHUFFLE_ROWS:
        return _device_epoch_index(rng, n, batch_size, steps, jnp.asarray(mode, jnp.int32))
    rng, a, b = _advance(rng)
    real_steps = -(-n // batch_size)
    total = real_steps * batch_size
    seed = np.asarray(jax.device_get((a, b)), np.uint32)
    gen = np.random.default_rng(seed)
    idx = np.zeros(total, np.int32)
    idx[:n] = gen.permutation(n) if mode == 1 else np.arange(n, dtype=np.int32)
    mask = (np.arange(total) < n).astype(np.float32).reshape(real_steps, batch_size)
    idx = idx.reshape(real_steps, batch_size)
    if mode == 2:
        perm = gen.permutation(real_steps)
        idx, mask = idx[perm], mask[perm]
    pad = steps - real_steps
    idx = np.concatenate([idx, np.zeros((pad, batch_size), np.int32)])
    mask = np.concatenate([mask, np.zeros((pad, batch_size), np.float32)])
    return rng, idx, mask


class ResidentEpochs:
    """Training rows resident on the devices.

    Args:
        data: ``(x, ys, sample_weight)`` host arrays; ``x`` an array or pytree of arrays,
            ``ys`` a tuple with one target array per output, ``sample_weight`` ``(n,)`` (or
            per timestep), or a tuple with one such array per output.
        batch_size: rows per step.
        shuffle: ``True``, ``False`` or ``"batch"``.
    """

    def __init__(self, data, *, batch_size, shuffle):
        self.n = int(jax.tree_util.tree_leaves(data[0])[0].shape[0])
        self.batch_size = batch_size
        self.steps = math.ceil(self.n / batch_size)
        self.mode = shuffle_mode(shuffle)
        self._mode = jnp.asarray(self.mode, jnp.int32)  # traced: one program for every mode
        self.data = _sharding.put_rows(data)

    def can_fuse(self, chunk) -> bool:
        """Whether one compiled call can run the whole epoch (shuffle included)."""
        return chunk >= self.steps and self.n < HOST_SHUFFLE_ROWS

    def fused_epoch(self, program, ts, rng):
        """Runs the whole epoch as one program; returns ``(ts, rng, raw logs)``."""
        return program.train_epoch(
            ts,
            _committed_key(rng),
            self.data,
            n=self.n,
            batch_size=self.batch_size,
            shuffle=self._mode,
        )

    def train_chunks(self, program, rng, chunk) -> tuple[Any, Iterator[Chunk]]:
        """The epoch's chunks of ``chunk`` steps; returns ``(next rng, chunks)``."""
        n_chunks = math.ceil(self.steps / chunk)
        padded = n_chunks * chunk
        rng, idx, mask = _sharding.replicate(
            host_epoch_index(_committed_key(rng), self.n, self.batch_size, padded, self.mode)
        )
        if _sharding.active() is None and n_chunks > 1:
            # Host slices: slicing a device array per chunk is an operation queued behind the
            # running step, so each call would wait for the one before (no overlap at all).
            idx, mask = np.asarray(idx), np.asarray(mask)
        guard = padded != self.steps
        rest = self.n % self.batch_size
        sized = _partial_kw(program, (rest,) if rest else ())

        def chunks():
            for c in range(n_chunks):
                sl = slice(c * chunk, (c + 1) * chunk)
                real = min((c + 1) * chunk, self.steps) - c * chunk

                def run(ts, mstate, sl=sl):
                    return program.train_chunk(
                        ts, mstate, self.data, idx[sl], mask[sl], guard=guard, **sized
                    )

                yield Chunk(c * chunk, real, run)

        return rng, chunks()

    def steps_done(self, done, real, mstate) -> int:
        return done + real

    def ran_out(self, fed, done, stopped) -> bool:
        return False


class WindowedEpochs(ResidentEpochs):
    """Resident rows read ``steps_per_epoch`` batches at a time, as Keras reads arrays given
    ``steps_per_epoch``: an epoch continues the pass over the data where the last one stopped;
    a pass ending inside an epoch ends that epoch early (Keras warns that the input ran out)
    and the next epoch starts a new pass (shuffled anew).

    Args:
        data, batch_size, shuffle: as :class:`ResidentEpochs`.
        steps_per_epoch: batches per epoch.

    >>> import numpy as np
    >>> x = np.arange(10, dtype="float32")[:, None]
    >>> src = WindowedEpochs((x, (x,), np.ones(10, "float32")), batch_size=4, shuffle=False,
    ...                      steps_per_epoch=2)
    >>> [src._take(2) for _ in range(3)]
    [(0, 2), (2, 1), (0, 2)]
    """

    def __init__(self, data, *, batch_size, shuffle, steps_per_epoch):
        super().__init__(data, batch_size=batch_size, shuffle=shuffle)
        self.pass_steps = self.steps
        self.steps = int(steps_per_epoch)
        self._seen = 0
        self._plan = None

    def can_fuse(self, chunk) -> bool:
        return False

    def _take(self, wanted):
        """``(first step of the pass, steps)`` of this epoch's window; advances the pass."""
        start = self._seen
        k = min(wanted, self.pass_steps - start)
        if k < wanted:
            from lamina.data.base import warn_ran_out

            warn_ran_out()
        self._seen = start + k
        if self._seen >= self.pass_steps:
            self._seen = 0
        return start, k

    def train_chunks(self, program, rng, chunk) -> tuple[Any, Iterator[Chunk]]:
        if self._seen == 0:  # a new pass: a new order of the rows
            rng, idx, mask = host_epoch_index(
                _committed_key(rng), self.n, self.batch_size, self.pass_steps, self.mode
            )
            self._plan = (np.asarray(idx), np.asarray(mask))
        start, k = self._take(self.steps)
        n_chunks = max(1, math.ceil(k / chunk))
        padded = n_chunks * chunk
        idx, mask = (a[start : start + k] for a in self._plan)
        pad = padded - k
        idx = np.concatenate([idx, np.zeros((pad, self.batch_size), np.int32)])
        mask = np.concatenate([mask, np.zeros((pad, self.batch_size), np.float32)])
        idx, mask = _sharding.replicate((idx, mask))
        rest = self.n % self.batch_size
        sized = _partial_kw(program, (rest,) if rest else ())

        def chunks():
            for c in range(n_chunks):
                sl = slice(c * chunk, (c + 1) * chunk)
                real = min((c + 1) * chunk, k) - c * chunk

                def run(ts, mstate, sl=sl):
                    return program.train_chunk(
                        ts, mstate, self.data, idx[sl], mask[sl], guard=True, **sized
                    )

                yield Chunk(c * chunk, real, run)

        return rng, chunks()


class StreamEpochs:
    """Host chunks from an adapter, prefetched onto the devices.

    Args:
        feed: the input's ``lamina.training.streaming_dist.Feed``.
        steps_per_epoch: the ``steps_per_epoch``/``steps`` argument, or ``None``.
    """

    def __init__(self, feed, steps_per_epoch=None):
        self.feed = feed
        self.steps = feed.steps
        self.steps_per_epoch = steps_per_epoch

    def can_fuse(self, chunk) -> bool:
        return False

    def _generator(self, rng):
        """The epoch's ``np.random.Generator`` for shuffling, drawn from the shuffle key.

        With several processes the key is process 0's; processes that read their own share
        (files, generators) mix in their index, so each shuffles its share differently but
        reproducibly, while those reading the same arrays draw the same order.
        """
        feed = self.feed
        if feed.multi:
            rng = _sharding.replicate(rng)
        rng, key = jax.random.split(rng)
        seed = np.asarray(jax.random.key_data(key))
        if feed.multi and not feed.adapter.replicated_source:
            seed = np.append(seed.ravel(), np.uint32(jax.process_index()))
        return rng, np.random.default_rng(seed)

    def train_chunks(self, program, rng, chunk):
        rng, gen = self._generator(rng)
        source = self.feed.chunks(chunk, self.steps_per_epoch, gen)

        def chunks():
            begin = 0
            with Prefetcher(source, transform=self._put(program), depth=PREFETCH_DEPTH) as pf:
                for batches, mask, real, kw in pf:

                    def run(ts, mstate, batches=batches, mask=mask, kw=kw):
                        return program.train_batches(ts, mstate, batches, mask, **kw)

                    yield Chunk(begin, real, run)
                    begin += real

        return rng, chunks()

    def eval_chunks(self, program, chunk, steps=None) -> Iterator[Chunk]:
        source = self.feed.chunks(chunk, steps)
        begin = 0
        with Prefetcher(source, transform=self._put(program), depth=PREFETCH_DEPTH) as pf:
            for batches, mask, real, kw in pf:

                def run(ts, mstate, batches=batches, mask=mask, kw=kw):
                    return program.eval_chunk(ts, mstate, batches, mask, **kw)

                yield Chunk(begin, real, run)
                begin += real

    def _put(self, program):
        """The prefetch transform: ``feed.put``, plus the chunk's ``partial`` keyword (the
        partial batches' row counts, read from the host mask) for a whole-batch loss."""

        def put(item):
            return (*self.feed.put(item), _partial_kw(program, partial_rows(item[1])))

        return put

    def steps_done(self, done, real, mstate) -> int:
        return self.feed.steps_run(done, real, mstate)

    def ran_out(self, fed, done, stopped) -> bool:
        return self.feed.ran_out(fed, done, self.steps_per_epoch, stopped)


class ResidentBatches:
    """Pre-batched evaluation data on the devices: ``(x, ys, sample_weight)`` leaves of shape
    ``(steps, batch, ...)`` and the ``(steps, batch)`` mask (validation data is put once and
    reused every epoch).

    Args:
        batches: the host batches, as :func:`batched` returns them.
        mask: the host mask.
        real_steps: the steps holding real rows (the rest are a bucket's padding).
    """

    def __init__(self, batches, mask, real_steps):
        self.steps = real_steps
        self.partial = partial_rows(mask)
        self.batches, self.mask = _sharding.shard_batches((batches, mask))
        self.total = mask.shape[0]

    def eval_chunks(self, program, chunk, steps=None) -> Iterator[Chunk]:
        for start in range(0, self.total, chunk):
            sl = slice(start, start + chunk)
            real = max(0, min(start + chunk, self.steps) - start)

            def run(ts, mstate, sl=sl):
                part = jax.tree_util.tree_map(lambda a: a[sl], self.batches)
                return program.eval_chunk(
                    ts, mstate, part, self.mask[sl], **_partial_kw(program, self.partial)
                )

            yield Chunk(start, real, run)


def _partial_kw(program, sizes) -> dict:
    """``{"partial": sizes}`` for a program whose loss may reduce the whole batch (it runs
    those partial batches at their real shape, :mod:`lamina.training.whole_batch`), else
    ``{}`` (one compiled shape, whatever the partial batches)."""
    return {"partial": tuple(sizes)} if getattr(program, "needs_partial_rows", False) else {}


def bucket_rows(n: int) -> int:
    """The smallest power of two at least ``n`` (shapes of padded batches and tiles).

    >>> bucket_rows(1), bucket_rows(5), bucket_rows(64)
    (1, 8, 64)
    """
    return 1 << max(0, int(n) - 1).bit_length()


def batched(arrays, batch_size, bucket=True, max_steps=1024):
    """Pads rows to whole batches (copies of the first row, masked out) and reshapes to
    (steps, batch, ...); returns ``(batches, mask, real_steps)``.  ``arrays`` is a pytree of
    ``(n, ...)`` arrays.

    With ``bucket`` the number of steps is rounded up to a power of two (at most
    ``max_steps`` per chunk), and a batch larger than the data shrinks to the power of two
    that holds every row, so inputs of many sizes share a few compiled shapes and a huge
    ``batch_size`` never allocates more than twice the data.
    """
    n = int(jax.tree_util.tree_leaves(arrays)[0].shape[0])
    if bucket and batch_size > n:
        batch_size = bucket_rows(n)
    steps = max(1, math.ceil(n / batch_size))
    real = steps
    if bucket:
        chunk = min(max_steps, bucket_rows(steps))
        steps = math.ceil(steps / chunk) * chunk
    total = steps * batch_size

    def pad(a):
        # Padding rows repeat the first real row (weight 0 in every reduction): all-zero rows
        # could make a layer's output NaN (a masked average over a fully padded sequence is
        # 0/0), and NaN times a zero weight is still NaN.
        if n:
            fill = np.broadcast_to(a[:1], (total - n, *a.shape[1:]))
        else:
            fill = np.zeros((total - n, *a.shape[1:]), a.dtype)
        return np.concatenate([a, fill]).reshape(steps, batch_size, *a.shape[1:])

    out = jax.tree_util.tree_map(pad, arrays)
    mask = (np.arange(total) < n).astype(np.float32).reshape(steps, batch_size)
    return out, mask, real
