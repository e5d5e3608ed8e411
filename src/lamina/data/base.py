"""The adapter base class: the interface shared by every streamed input, the epoch logic
(whole passes, or ``steps_per_epoch`` batches continuing across epochs) and the stacking of
checked batches into padded, masked ``(steps, batch, ...)`` chunks.

Subclasses (``lamina.data.adapters``, ``lamina.data.file_dataset``) only provide
``_pass(rng)``, one pass over their raw batches, and ``num_batches`` when they know it.

>>> import numpy as np
>>> from lamina.data.base import Adapter
>>> class Two(Adapter):
...     def _pass(self, rng):
...         return iter([(np.ones((3, 2)), np.zeros(3)), (np.ones((1, 2)), np.zeros(1))])
>>> [m.tolist() for _, m in Two().iter_chunks(2)]
[[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.data import arrays as _arrays
from lamina.data import structures as _structures
from lamina.training import output_weights as _output_weights

_to_numpy = _structures._convert


class Adapter:
    """The shared interface and epoch logic; subclasses provide ``_pass`` (one pass)."""

    one_shot = False  #: whether a pass consumes the source (a generator)
    trusted = False  #: whether ``_pass`` yields checked float32 (x, y, sw) already
    keep_peeked = False  #: whether the pass started by ``peek`` is kept for the first epoch
    shuffle = False
    class_weight = None
    need_y = True
    #: Several processes training together (see ``shard``): this one's index and their number.
    process_index = 0
    process_count = 1
    #: Rows of one batch this process feeds, set by ``shard``; ``None``: the first batch's size.
    capacity = None
    #: Whether every process reads the same source and the adapter picks this process's rows
    #: (arrays, files), so its ``batch_size`` is the global batch; ``False``: each process
    #: passes its own source (generators, ``PyDataset``, iterables).
    shared = False
    #: Whether every process passes the same arrays: shuffles must then agree between
    #: processes, and ``predict`` returns every row on every process.
    replicated_source = False

    def __init__(self):
        self._current = None
        self._exhausted = False
        self._first = None
        self._spec = None
        self._sw_shape: tuple = ()
        self._pending = None

    def reset(self):
        """Forgets the position of a pass left open by ``steps_per_epoch`` (a new ``fit``)."""
        self._current = None
        self._exhausted = False

    @property
    def num_batches(self):
        """Batches in one pass, or ``None`` when unknown until the pass ends."""
        return None

    def shard(self, index, count):
        """Prepares the passes of process ``index`` of ``count`` processes training together.

        Here it only records them: a generator, ``PyDataset`` or iterable already holds just
        this process's batches (each process passes its own, as with Keras's per-worker
        datasets).  Adapters of shared data (arrays, files) override it to pick this process's
        rows and set ``capacity``.
        """
        self.process_index, self.process_count = int(index), int(count)

    def _local_part(self, batch):
        """This process's rows of one checked batch (all of them unless overridden)."""
        return batch

    def _pass(self, rng):
        raise NotImplementedError

    def on_epoch_begin(self):
        """Called before each epoch's batches."""

    def on_epoch_end(self):
        """Called after each epoch's batches."""

    def peek(self):
        """The first batch as checked float32 ``(x, y, sw)`` (``y``/``sw`` may be ``None``)."""
        if self._first is None:
            it = iter(self._pass(None))
            try:
                raw = next(it)
            except StopIteration:
                raise ValueError(
                    f"The {type(self).__name__[:-7].lower() or 'input'} yielded no batches: "
                    f"there is nothing to train on or evaluate."
                ) from None
            self._first = raw if self.trusted else self._check(raw, 0)
            if self.keep_peeked:
                self._pending = (raw, it)
            elif hasattr(it, "close"):
                it.close()
        return self._first

    def _standardize(self, item, index):
        # Keras's ``unpack_x_y_sample_weight``: a list is a tuple, anything else (a dict of
        # inputs included) is x alone.
        if not isinstance(item, tuple | list):
            item = (item,)
        if not 1 <= len(item) <= 3:
            raise ValueError(
                f"Batch {index} has {len(item)} elements; expected x, (x, y) or "
                f"(x, y, sample_weight)."
            )
        return tuple(item) + (None,) * (3 - len(item))

    def _check(self, item, index):
        """Converts one raw batch to float32 and checks it against the first batch.

        ``x`` and ``y`` may be structures (a tuple or dict of arrays: several inputs or
        outputs), every array with the batch's rows.
        """
        x, y, sw = self._standardize(item, index)
        x = _structures.to_arrays(x, f"x of batch {index}")
        x0 = _structures.leaves(x)[0]
        n = x0.shape[0] if x0.ndim else 0
        if x0.ndim == 0 or n == 0:
            raise ValueError(f"Batch {index} has an empty or scalar x (shape {x0.shape}).")
        for a in _structures.leaves(x)[1:]:
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(
                    f"Batch {index}: every input array needs the same number of samples; the "
                    f"first has {n}, another has shape {a.shape}."
                )
        if y is None and self.need_y:
            raise ValueError(
                f"Batch {index} has no targets: yield (x, y) or (x, y, sample_weight)."
            )
        if y is not None:
            y = _structures.to_arrays(y, f"y of batch {index}")
            for a in _structures.leaves(y):
                if a.ndim == 0 or a.shape[0] != n:
                    raise ValueError(
                        f"Batch {index} has {n} samples in x but y has shape {a.shape}: each "
                        f"batch needs one target per sample."
                    )
        sw = _output_weights.single(sw, y)
        if _output_weights.is_structure(sw):  # one array per output, shaped like y
            sw = _output_weights.per_output(sw, y, n, name=f"sample_weight of batch {index}")
        elif sw is not None:
            sw = _to_numpy(sw, f"sample_weight of batch {index}")
            if sw.ndim not in (1, 2) or sw.shape[0] != n:
                raise ValueError(
                    f"Batch {index}: sample_weight must have shape ({n},), one weight per "
                    f"sample, or ({n}, timesteps), one per timestep; it has shape {sw.shape}."
                )
        if index == 0:  # the first batch fixes the per-sample shape of the weights
            self._sw_shape = () if sw is None else _layout(sw)
        elif sw is not None and _layout(sw) != self._sw_shape:
            raise ValueError(
                f"Batch {index} has sample_weight of shape {_shapes(sw)}, but the first batch's "
                f"weights had per-sample shape {self._sw_shape}: every batch must weigh its "
                f"samples (or timesteps) the same way."
            )
        spec = (_structures.spec(x), _structures.spec(y))
        if self._spec is None:
            self._spec = spec
        elif spec != self._spec:
            what = "x" if spec[0] != self._spec[0] else "y"
            got, had = (spec[0], self._spec[0]) if what == "x" else (spec[1], self._spec[1])
            raise ValueError(
                f"Batch {index} has {what} with per-sample shape {_structures.describe(got)}, "
                f"but the first batch had {_structures.describe(had)}: every batch must have "
                f"the same number of columns (only the number of rows may change)."
            )
        x = _structures.model_inputs(x, f"x of batch {index}")
        y = None if y is None else _structures.float32(y, f"y of batch {index}")
        sw = None if sw is None else _structures.float32(sw, f"sample_weight of batch {index}")
        return x, y, sw

    def _checked_pass(self, rng):
        pending, self._pending = self._pending, None
        if pending is not None:
            first, it = pending
            source = _chain_first(first, it)
        else:
            source = self._pass(rng)
        for i, raw in enumerate(source):
            yield raw if self.trusted else self._check(raw, i)

    def epoch_batches(self, steps=None, rng=None):
        """One epoch of checked batches: a whole pass, or ``steps`` batches (continuing the
        previous epoch's pass, as Keras does with ``steps_per_epoch``)."""
        self.on_epoch_begin()
        try:
            if steps is None and not self.one_shot:
                self._current = None
                yield from self._checked_pass(rng)
                return
            n = 0
            while steps is None or n < steps:
                # A pass that ended exactly at the previous epoch's last step is still open;
                # finding it empty must start a fresh pass, not end this epoch.
                fresh = self._current is None
                if fresh:
                    if self._exhausted:
                        return
                    self._current = self._checked_pass(rng)
                got = False
                for b in self._current:
                    got = True
                    n += 1
                    yield b
                    if steps is not None and n == steps:
                        break
                else:
                    self._current = None
                    self._exhausted = self.one_shot
                    if (fresh and not got) or steps is None:
                        return
        finally:
            self.on_epoch_end()

    def iter_chunks(self, chunk_steps, steps=None, rng=None, *, capacity=None, min_steps=0):
        """Yields ``((x, y, sw), mask)`` stacked ``(chunk_steps, capacity, ...)`` for one epoch.

        Args:
            chunk_steps: batches per chunk (the last chunk is padded with empty steps).
            steps: batches in the epoch (``None``: one whole pass).
            rng: the epoch's ``np.random.Generator`` for shuffling.
            capacity: rows per batch (default: ``self.capacity``, else the first batch's
                size); shorter batches are padded and masked.
            min_steps: the fewest steps to yield: an epoch that ends sooner is padded with
                all-padding steps, so that processes training together run the same number.
        """
        first = self.peek()
        cap = capacity or self.capacity or _structures.rows(first[0])
        x_shape, y_shape = _layout(first[0]), _layout(first[1])
        # Per timestep: (T,); one array per output: their layout, as y's.
        sw_shape = () if first[2] is None else _layout(first[2])
        buf = None
        i = done = 0
        for b, batch in enumerate(self.epoch_batches(steps, rng)):
            x, y, sw = self._local_part(batch)
            if buf is None:
                buf = _alloc(chunk_steps, cap, x_shape, y_shape, sw_shape)
            n = _structures.rows(x)
            if n > cap:
                raise ValueError(
                    f"Batch {b} has {n} samples, more than the first batch's {cap}. Make the "
                    f"first batch the largest (only the last batch of an epoch may be shorter)."
                )
            bx, by, bsw, mask = buf
            for dst, src in zip(_structures.leaves(bx), _structures.leaves(x)):
                dst[i, :n] = src
            if by is not None and y is not None:
                for dst, src in zip(_structures.leaves(by), _structures.leaves(y)):
                    dst[i, :n] = src
            if self.class_weight is not None and y is not None:
                if _structures.is_structure(y):
                    raise ValueError(
                        "class_weight is supported for models with a single output; pass "
                        "sample_weight instead for a model with several outputs."
                    )
                cw = _arrays.class_weight_to_sample_weight(y, self.class_weight)
                sw = cw if sw is None else sw * cw
            if isinstance(bsw, tuple):  # one array per output, in the order of y's
                for k, dst in enumerate(bsw):
                    dst[i, :n] = 1.0 if sw is None else _structures.leaves(sw)[k]
            else:
                bsw[i, :n] = 1.0 if sw is None else sw
            mask[i, :n] = 1.0
            i += 1
            done += 1
            if i == chunk_steps:
                yield _pad_like_first(buf, first)
                buf, i = None, 0
        while done < min_steps:  # all-padding steps (mask 0)
            if buf is None:
                buf = _alloc(chunk_steps, cap, x_shape, y_shape, sw_shape)
            step = min(chunk_steps - i, min_steps - done)
            i += step
            done += step
            if i == chunk_steps:
                yield _pad_like_first(buf, first)
                buf, i = None, 0
        if buf is not None:
            yield _pad_like_first(buf, first)


def _shapes(batch):
    """The shapes of a checked batch's arrays (one shape, or a list or dict of them)."""
    if isinstance(batch, dict):
        return {k: a.shape for k, a in batch.items()}
    return [a.shape for a in batch] if isinstance(batch, tuple | list) else batch.shape


def _layout(batch):
    """Per-sample shapes of a checked batch's ``x`` or ``y``: a shape, a dict or a tuple of
    shapes, or ``None``.  Targets in several arrays become a tuple in output order."""
    if batch is None:
        return None
    if isinstance(batch, dict):
        return {k: a.shape[1:] for k, a in batch.items()}
    if isinstance(batch, tuple | list):
        return [a.shape[1:] for a in batch]  # a list: told apart from one shape (a tuple)
    return batch.shape[1:]


def _zeros(steps, cap, layout, as_tuple=False):
    if layout is None:
        return None
    if isinstance(layout, dict):
        out = {k: np.zeros((steps, cap, *s), np.float32) for k, s in layout.items()}
        return tuple(_structures.leaves(out)) if as_tuple else out
    if isinstance(layout, list):
        return tuple(np.zeros((steps, cap, *s), np.float32) for s in layout)
    return np.zeros((steps, cap, *layout), np.float32)


def _alloc(steps, cap, x_shape, y_shape, sw_shape=()):
    x = _zeros(steps, cap, x_shape)
    y = _zeros(steps, cap, y_shape, as_tuple=True)  # the engine's targets: one per output
    if isinstance(sw_shape, dict | list):  # one array per output
        sw = _zeros(steps, cap, sw_shape, as_tuple=True)
    else:
        sw = np.zeros((steps, cap, *sw_shape), np.float32)
    return x, y, sw, np.zeros((steps, cap), np.float32)


def _pad_like_first(buf, first):
    """``((x, y, sample_weight), mask)`` of a filled buffer, its padding rows (mask 0) holding
    copies of the stream's first row: all-zero rows could make a layer's output NaN (a masked
    average over a fully padded sequence), and NaN times a zero weight is still NaN."""
    bx, by, bsw, mask = buf
    pad = mask == 0
    if pad.any():
        for dst, src in ((bx, first[0]), (by, first[1])):
            if dst is None or src is None:
                continue
            dst_leaves = _structures.leaves(dst) if not isinstance(dst, tuple) else list(dst)
            for d, a in zip(dst_leaves, _structures.leaves(src)):
                d[pad] = np.asarray(a[:1], d.dtype)
    return (bx, by, bsw), mask


def _chain_first(first, it):
    yield first
    yield from it


def warn_ran_out():
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your generator "
        "can generate at least `steps_per_epoch * epochs` batches.",
        stacklevel=3,
    )
