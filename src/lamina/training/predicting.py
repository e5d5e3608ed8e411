"""``predict``'s host loop: tiles of resident rows, or chunks of a stream, with Keras's
``on_predict_*`` hooks.

Inference gives every row the same output whatever its batch (a network whose user code
mixes the rows runs Keras's batches instead: :mod:`lamina.training.row_mixing`), so resident
inputs run in power-of-two tiles (:func:`predict_tile_rows`): bigger than ``batch_size`` when
the layers' outputs are small (fewer, larger matmuls), never bigger than the power of two
that holds the rows (one row costs one row, and ``batch_size=10**9`` costs nothing), and
shared between calls of any row count and batch size, so a few compiled shapes serve them
all.  When a callback overrides a predict batch hook, tiles are ``batch_size`` rows and the
hooks run after each, with ``{"outputs": ...}`` as Keras passes them.

>>> predict_tile_rows(1, 1, 32), predict_tile_rows(8, 100, 32), predict_tile_rows(8, 64, 10**9)
(1, 128, 64)
"""

from __future__ import annotations

import jax
import numpy as np

from lamina.data.epochs import bucket_rows
from lamina.data.prefetch import Prefetcher
from lamina.data.structures import dtype_tree, shape_tree
from lamina.distribution import sharding as _sharding
from lamina.training import inputs as _inputs
from lamina.training import row_mixing as _row_mixing

#: Largest number of activation values one predict tile holds (rows x widest layer output):
#: 4 MiB of float32, about a core's share of cache.  XLA's CPU convolutions slow down per row
#: past it (the keras.io Conv1D autoencoder, 512 rows: 256-row tiles 0.19-0.22 s, 64-row tiles
#: 0.03-0.14 s; ``imdb_cnn``: 128-row tiles 2.4x slower than 32-row ones), while dense layers
#: lose nothing (a 784-512-256-10 MLP, 100k rows: 1,024-row tiles as fast as 4,096-row ones).
PREDICT_TILE_VALUES = 1 << 20


def predict_tile_rows(width, n, batch_size) -> int:
    """Rows run per compiled call by ``predict``: a power of two.

    Args:
        width: values per row of the widest layer output (activation memory per row).
        n: the rows to predict.
        batch_size: the ``batch_size`` argument (the starting tile, rounded to a power of 2).

    Returns:
        The tile: at least the power of two holding ``min(batch_size, n)`` rows, doubled
        while the activations stay under ``PREDICT_TILE_VALUES`` and the tile is below ``n``.
    """
    tile = bucket_rows(min(batch_size, n))
    limit = max(tile, PREDICT_TILE_VALUES // max(1, width))
    while tile * 2 <= limit and tile < n:
        tile *= 2
    return tile


def _tiles(x, n, tile):
    """Yields ``(start, rows, (1, tile, ...) tile)``: views of ``x`` (no copy) and a padded
    last tile."""
    for start in range(0, n, tile):
        rows = min(tile, n - start)

        def cut(a, start=start, rows=rows):
            part = a[start : start + rows]
            if rows < tile:
                part = np.concatenate([part, np.zeros((tile - rows, *a.shape[1:]), a.dtype)])
            return part.reshape(1, tile, *a.shape[1:])

        yield start, rows, jax.tree_util.tree_map(cut, x)


def _put(part):
    """A tile on the device(s): without a distribution, the host memory itself where the
    backend can read it in place (a CPU reads the caller's rows without copying them)."""
    if _sharding.active() is None:
        try:
            return jax.device_put(part, may_alias=True)
        except TypeError:  # an older JAX whose device_put has no ``may_alias``: a copy
            return jax.device_put(part)
    return _sharding.shard_batches(part)


def _fresh(program, ts):
    """``ts`` with a fresh key for a program drawing random numbers in inference."""
    from lamina.training.step import with_fresh_key

    return _sharding.replicate(with_fresh_key(program, ts)) if program.inference_rng else ts


def _host(out, rows):
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:rows], _sharding.device_get(out))


def _concat(outs):
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outs)


def predict(b, x, *, batch_size, steps, cb):
    """The outputs of every row of ``x`` (an array or pytree of arrays, as the model's)."""
    hooks = cb.overrides("predict")
    if not _inputs.is_in_memory(x):
        return _predict_stream(b, x, batch_size, steps, cb, hooks)
    x, hosted = _inputs.host_inputs(b, x)  # string inputs: their layers run here, on the host
    x = _inputs.to_arrays(x, "x")
    first = _inputs.leaves(x)[0]
    from lamina.data import arrays as _arrays

    _arrays.check_samples(first, None, None)
    b.build(shape_tree(x), dtype_tree(x))
    if not hosted:
        b.check_x(x)
    x = jax.tree_util.tree_map(lambda a: _arrays.as_input(a, "x", check=False), x)
    program = b.program()
    n = first.shape[0]
    cb.on_predict_begin({})  # first: a callback may swap the weights in (SwapEMAWeights)
    ts = _sharding.place_state(b.get_state(), b.model)
    carry = _writes_state(program, ts, x, min(batch_size, n))
    # NaN in the input shows in the output, a few values to check where the input has many
    # (a predict of 100k MNIST rows spent 5% of its time checking them): the inputs are
    # checked first only where callbacks see outputs or the model keeps state.
    late_check = not (hooks or carry)
    if not late_check:
        _check_inputs(x)
    if carry:  # Keras's batches, in order: each sees the state the one before wrote
        per_call = (
            1
            if hooks
            else max(1, predict_tile_rows(b.predict_width(), n, batch_size) // batch_size)
        )
        tiles = _batches(x, n, batch_size, per_call)
    else:
        tile = (
            bucket_rows(min(batch_size, n))
            if hooks
            else predict_tile_rows(b.predict_width(), n, batch_size)
        )
        if _row_mixing.mixes_rows(program, ts, x, n, batch_size, tile):
            per_call = 1 if hooks else max(1, tile // batch_size)
            tiles = _batches(x, n, batch_size, per_call)  # Keras's batches, none padded
        else:
            tiles = _tiles(x, n, tile)
    outs, group = [], []
    spe = b.steps_per_execution
    for step, (start, rows, part) in enumerate(tiles):
        # One tile per call: one compiled shape, a plain forward pass (XLA's big matmuls run
        # fastest outside while loops), and the next tile's dispatch overlaps this one.
        if hooks and step % spe == 0:
            cb.on_predict_batch_begin(step, {})
        part = _put(part)
        if carry:
            out, state = program.predict_chunk(_fresh(program, ts), part, carry=True)
            ts = ts._replace(state=state)
        else:
            out = program.predict_chunk(_fresh(program, ts), part)
        if not hooks:
            outs.append((out, rows))
            continue
        group.append(_host(out, rows))
        if len(group) == spe or start + rows >= n:  # Keras: once per steps_per_execution
            out = _concat(group)
            cb.on_predict_batch_end(step - step % spe + spe - 1, {"outputs": out})
            outs.append((out, None))
            group = []
    result = _concat([o if hooks else _host(o, r) for o, r in outs])
    if late_check and not all(
        _arrays.all_finite(a) for a in _inputs.leaves(result) if a.dtype.kind == "f"
    ):
        _check_inputs(x)  # the error names the input; a model's own NaN stays its output
    if carry:  # kept, as Keras writes the variables back after predict
        b.set_state(b.get_state()._replace(state=ts.state))
    cb.on_predict_end({})
    return result


def _check_inputs(x):
    """Raises naming the first non-finite row of the (already converted) inputs ``x``."""
    from lamina.data import arrays as _arrays

    jax.tree_util.tree_map(lambda a: _arrays.check_finite(a, "x", "predict"), x)


def _writes_state(program, ts, x, rows) -> bool:
    """Whether the model writes its state in inference for ``rows``-row batches of ``x``
    (``Program.writes_state``; a program without the probe never does)."""
    probe = getattr(program, "writes_state", None)
    if probe is None:
        return False
    spec = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((rows, *a.shape[1:]), a.dtype), x)
    return probe(ts, spec)


def _batches(x, n, batch, per_call):
    """Yields ``(start, rows, (steps, batch, ...) part)``: Keras's batches of ``x``, up to
    ``per_call`` whole ones per part, then the short last one at its real size (no padding:
    a layer writing its state sees only real rows)."""
    whole = n // batch
    start = 0
    while start < whole * batch:
        steps = min(per_call, whole - start // batch)
        end = start + steps * batch

        def cut(a, start=start, end=end, steps=steps):
            return a[start:end].reshape(steps, batch, *a.shape[1:])

        yield start, end - start, jax.tree_util.tree_map(cut, x)
        start = end
    if start < n:
        yield start, n - start, jax.tree_util.tree_map(lambda a: a[start:n][None], x)


def _predict_stream(b, x, batch_size, steps, cb, hooks):
    """Streamed ``predict``: the outputs of every real row, in order.

    With several processes, each gets the outputs of the rows it fed (its share of the files,
    or its own generator's rows); of every row when they all passed the same arrays.
    """
    source, first = _inputs.stream(
        b, x, None, None, batch_size=batch_size, steps=steps, steps_name="steps", need_y=False
    )
    feed = source.feed
    program = b.program()
    cb.on_predict_begin({})  # first: a callback may swap the weights in (SwapEMAWeights)
    ts = _sharding.place_state(b.get_state(), b.model)
    carry = _writes_state(program, ts, first[0], _inputs.leaves(first[0])[0].shape[0])
    one = hooks or carry  # a model writing its state runs one batch per call, in order
    chunk = 1 if one else _inputs.stream_chunk(b, source, (first[0], None), train=False)
    outs = []
    step = 0
    with Prefetcher(feed.chunks(chunk, steps), transform=feed.put_inputs) as pf:
        for xb, dmask, mask in pf:
            if hooks:
                cb.on_predict_batch_begin(step, {})
            if carry:
                out, ts = _predict_batch(program, ts, xb, mask)
            else:
                out = program.predict_chunk(_fresh(program, ts), xb)
                out = _row_mixing.real_partial_rows(program, ts, xb, mask, out)
            out = feed.predictions(out, dmask, mask)
            outs.append(out)
            real = int(np.count_nonzero(mask[:, 0])) if mask.ndim > 1 else 1
            if hooks:
                cb.on_predict_batch_end(step, {"outputs": out})
            step += max(real, 1)
    if not outs:
        raise ValueError("predict() received no batches: the input is exhausted.")
    if carry:
        b.set_state(b.get_state()._replace(state=ts.state))
    cb.on_predict_end({})
    return _concat(outs)


def _predict_batch(program, ts, xb, mask):
    """One streamed ``(1, batch, ...)`` batch of a model writing its state: run at its real
    rows (the padding of a short batch cut off, its outputs padded back for the feed).
    Returns ``(outputs, ts)``, ``ts`` holding the state the batch wrote."""
    rows = int(np.count_nonzero(np.asarray(mask).reshape(-1) > 0))
    full = np.asarray(mask).size
    if rows == 0:  # padding only: its outputs are dropped, and it writes nothing
        return program.predict_chunk(_fresh(program, ts), xb), ts
    if rows < full:
        xb = jax.tree_util.tree_map(lambda a: a[:, :rows], xb)
    out, state = program.predict_chunk(_fresh(program, ts), xb, carry=True)
    if rows < full:
        out = jax.tree_util.tree_map(
            lambda o: jax.numpy.concatenate(
                [o, jax.numpy.zeros((full - rows, *o.shape[1:]), o.dtype)]
            ),
            out,
        )
    return out, ts._replace(state=state)
