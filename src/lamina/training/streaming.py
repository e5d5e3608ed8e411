"""fit/evaluate/predict for inputs that are not in memory: generators, ``PyDataset``s,
DataLoader-like iterables, memory-mapped arrays and ``lamina.data.from_csv``/``from_parquet``.

The data arrive chunk by chunk: an adapter (``lamina.data.adapters``) stacks batches into
``(steps, batch, ...)`` chunks with the short last batch padded and masked, a background
``Prefetcher`` converts and ``device_put``\\ s chunk ``k + 1`` while chunk ``k`` runs in the
compiled ``program.train_batches`` / ``eval_chunk`` / ``predict_chunk``, and Python fires the
callbacks between chunks exactly as ``lamina.training.loop.fit`` does.  With ``shuffle=False``
the weights equal those of ``fit`` on the same rows as NumPy arrays.  Under a distribution the
chunks are split over the devices, and with several processes each feeds its own share
(``lamina.training.streaming_dist``).

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> def batches():
...     for _ in range(4):
...         yield np.random.rand(8, 3), np.random.rand(8, 1)
>>> model = Sequential([Dense(1)])
>>> model.compile(optimizer='sgd', loss='mse')
>>> len(model.fit(batches(), epochs=1, verbose=0).history['loss'])
1
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from lamina.data import adapters as _adapters
from lamina.data import arrays as _arrays
from lamina.data.prefetch import Prefetcher
from lamina.distribution import sharding as _sharding
from lamina.training import callbacks as _callbacks
from lamina.training import loop as _loop
from lamina.training import progress as _progress
from lamina.training import state as _state
from lamina.training import streaming_dist as _dist

#: Upper bound on the host bytes of one chunk (x, y and weights) in flight.
MAX_CHUNK_BYTES = 32 << 20
#: Steps per chunk when the epoch length is unknown (generators, CSV files).
UNKNOWN_LENGTH_CHUNK = 256
#: Chunks prepared ahead of the one running.
PREFETCH_DEPTH = 2


def _check_steps(value, name):
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer or None. Received: {name}={value!r}.")
    return None if value is None else int(value)


def _first_batch(model, adapter, need_y=True):
    """Builds the model from the first batch and checks it against the model."""
    x, y, _ = adapter.peek()
    model._ensure_built(x.shape)
    try:
        model._check_input_shape(x.shape)
    except ValueError as e:
        raise ValueError(f"Batch 0: {e}") from None
    if need_y:
        if y is None:
            raise ValueError(
                "The input"
                " gives no targets: fit and evaluate need (x, y) batches (for a file, "
                "pass target=...)."
            )
        model._check_targets(y)
    return x, y


def _chunk_steps(model, first, steps, *, train=True, cap=None):
    x, y = first
    cap = cap or x.shape[0]
    row_bytes = 4 * (x[0].size + (0 if y is None else y[0].size) + 2)
    if train:
        length = _loop.chunk_length(model, cap, steps or (1 << 30))
    else:
        length = _loop.eval_chunks(steps or (1 << 30))
    if steps is None:
        length = min(length, UNKNOWN_LENGTH_CHUNK)
    return max(1, min(length, MAX_CHUNK_BYTES // (cap * row_bytes)))


def _results(program, mstate, model=None, epoch=None):
    return _loop.host_logs(program.results(mstate), model, epoch)


def evaluate_adapter(model, ts, feed, chunk, steps=None, callbacks=None):
    """Runs the eval program over one epoch of ``feed``'s input; returns host logs (``None``
    when the input had no batches left)."""
    program = model._get_program()
    mstate = program.init_metrics()
    done = 0
    with Prefetcher(feed.chunks(chunk, steps), transform=feed.put, depth=PREFETCH_DEPTH) as pf:
        for batches, mask, real in pf:
            mstate = program.eval_chunk(ts, mstate, batches, mask)
            done += real
            if callbacks is not None:
                callbacks.on_test_batch_end(done - 1, None)
    return _results(program, mstate) if feed.evaluated(done, mstate) else None


def _validation(model, validation_data, batch_size, steps):
    """Returns a function ``ts -> val logs`` for any kind of ``validation_data``."""
    if (
        isinstance(validation_data, tuple | list)
        and 2 <= len(validation_data) <= 3
        and (_arrays.is_in_memory(validation_data[0]))
    ):
        vx, vy, vsw = _loop._unpack_validation(model, validation_data)
        vsw = vsw if vsw is not None else np.ones((vx.shape[0],), np.float32)
        batches, mask = _loop.batched([vx, vy, vsw], batch_size)
        dev = _sharding.shard_batches((batches, mask))
        return lambda ts: _loop.run_evaluation(model, ts, dev[0], dev[1])
    if isinstance(validation_data, tuple | list) and 2 <= len(validation_data) <= 3:
        vx, vy, *rest = validation_data
        adapter = _adapters.ArrayAdapter(vx, vy, rest[0] if rest else None, batch_size=batch_size)
    else:
        adapter = _adapters.get(validation_data, None, None, batch_size=batch_size)
    first = _first_batch(model, adapter)
    feed = _dist.feed(adapter, first, steps, "validation_steps")
    chunk = _chunk_steps(model, first, feed.steps, train=False, cap=feed.capacity)
    return lambda ts: evaluate_adapter(model, ts, feed, chunk, steps)


def fit(
    model,
    x,
    y,
    *,
    batch_size,
    epochs,
    verbose,
    callbacks,
    validation_split,
    validation_data,
    shuffle,
    class_weight,
    sample_weight,
    initial_epoch,
    validation_batch_size,
    validation_freq,
    steps_per_epoch=None,
    validation_steps=None,
):
    """``Sequential.fit`` for streamed inputs (see the module docstring)."""
    batch_size, verbose = _loop.check_fit_arguments(
        model, batch_size, epochs, initial_epoch, verbose, shuffle
    )
    steps_per_epoch = _check_steps(steps_per_epoch, "steps_per_epoch")
    validation_steps = _check_steps(validation_steps, "validation_steps")
    if validation_split:
        raise ValueError(
            f"validation_split is only supported for in-memory arrays; x is a "
            f"{type(x).__name__}. Pass validation_data=... (any input kind) instead."
        )
    adapter = _adapters.get(
        x, y, sample_weight, batch_size=batch_size, shuffle=shuffle, class_weight=class_weight
    )
    first = _first_batch(model, adapter)
    feed = _dist.feed(adapter, first, steps_per_epoch, "steps_per_epoch")
    steps = feed.steps
    program = model._get_program()
    chunk = _chunk_steps(model, first, steps, cap=feed.capacity)
    validate = None
    if validation_data is not None:
        vbs = _loop.check_batch_size(validation_batch_size or batch_size, "validation_batch_size")
        validate = _validation(model, validation_data, vbs, validation_steps)

    history = _callbacks.History()
    cbs = list(callbacks or [])
    if verbose:
        cbs.append(_progress.ProgbarLogger(verbose=verbose))
    cbs.append(history)
    params = {"verbose": verbose, "epochs": epochs, "steps": steps}
    cb = _callbacks.CallbackList(cbs, model, params)
    model.stop_training = False
    model.history = history
    compile_time = model._compile_seconds
    # A copy: the compiled step donates its input, and a failed fit restores the original.
    model._train_state = jax.tree_util.tree_map(jnp.copy, model._train_state)
    ts = model._train_state
    cb.on_train_begin()
    epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        cb.on_epoch_begin(epoch)
        # Callbacks may set the state (e.g. a new learning rate); one copy per device.
        ts = model._train_state = _sharding.replicate(model._train_state)
        rng = feed.epoch_rng(model)
        mstate = program.init_metrics()
        done = fed = 0
        chunks = feed.chunks(chunk, steps_per_epoch, rng)
        with Prefetcher(chunks, transform=feed.put, depth=PREFETCH_DEPTH) as pf:
            for batches, mask, real in pf:
                t0 = time.perf_counter()
                ts, mstate = program.train_batches(ts, mstate, batches, mask)
                model._train_state = ts
                if compile_time is None:
                    jax.block_until_ready(mstate)
                    compile_time = time.perf_counter() - t0
                fed += real
                done = feed.steps_run(done, real, mstate)
                cb.on_train_batch_end(done - 1, _results(program, mstate, model, epoch))
                if model.stop_training:
                    break
        if done == 0:
            _adapters.warn_ran_out()
            break
        if params["steps"] is None:
            params["steps"] = done
        out_of_data = feed.ran_out(fed, done, steps_per_epoch, model.stop_training)
        epoch_logs = _results(program, mstate, model, epoch)
        if validate is not None and _loop._should_validate(epoch, validation_freq):
            val_logs = validate(ts)
            if val_logs is not None:
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if out_of_data:
            _adapters.warn_ran_out()
            break
        if model.stop_training:
            break
    model._train_state = ts
    model._compile_seconds = compile_time
    history.params["compile_time"] = compile_time
    _state.finalize_weights(model, epochs)  # use_ema: the averaged weights
    cb.on_train_end(epoch_logs)
    return history


def evaluate(model, x, y, *, batch_size, verbose, sample_weight, return_dict, steps=None):
    """``Sequential.evaluate`` for streamed inputs."""
    model._check_compiled("evaluate")
    batch_size = _loop.check_batch_size(batch_size)
    _progress.resolve_verbose(verbose)
    steps = _check_steps(steps, "steps")
    adapter = _adapters.get(x, y, sample_weight, batch_size=batch_size)
    first = _first_batch(model, adapter)
    feed = _dist.feed(adapter, first, steps, "steps")
    chunk = _chunk_steps(model, first, feed.steps, train=False, cap=feed.capacity)
    ts = _sharding.replicate(model._train_state)
    logs = evaluate_adapter(model, ts, feed, chunk, steps)
    if logs is None:
        raise ValueError("evaluate() received no batches: the input is exhausted.")
    if verbose and _sharding.is_main_process():
        print("evaluated - " + _progress.format_logs(logs))
    if return_dict:
        return logs
    values = [logs[k] for k in model.metrics_names if k in logs]
    return values[0] if len(values) == 1 else values


def predict(model, x, *, batch_size, verbose, steps=None):
    """``Sequential.predict`` for streamed inputs: the outputs of every real row, in order.

    With several processes, each gets the outputs of the rows it fed (its share of the files,
    or its own generator's rows); of every row when they all passed the same arrays.
    """
    batch_size = _loop.check_batch_size(batch_size)
    _progress.resolve_verbose(verbose)
    steps = _check_steps(steps, "steps")
    adapter = _adapters.get(x, None, None, batch_size=batch_size, need_y=False)
    first = _first_batch(model, adapter, need_y=False)
    feed = _dist.feed(adapter, first, steps, "steps")
    chunk = _chunk_steps(model, (first[0], None), feed.steps, train=False, cap=feed.capacity)
    program = model._get_program()
    ts = _sharding.replicate(model._train_state)
    outs = []
    with Prefetcher(feed.chunks(chunk, steps), transform=feed.put_inputs) as pf:
        for xb, dmask, mask in pf:
            outs.append(feed.predictions(program.predict_chunk(ts, xb), dmask, mask))
    if not outs:
        raise ValueError("predict() received no batches: the input is exhausted.")
    return np.concatenate(outs)
