"""The one host loop of ``fit``, ``evaluate`` and ``predict``, for every input kind.

The model hands the engine a :class:`~lamina.training.network.Binding`; the input becomes an
epoch source (:mod:`lamina.data.epochs`, prepared by :mod:`lamina.training.inputs`) that
yields chunks of steps, each one compiled call.  Python runs only between chunks: callbacks
(with Keras 3's hooks and logs), progress, validation, resume, the NaN guard's report and the
compile-time measurement all live here, once.  An epoch of resident data with nothing to run
between its steps is one compiled program (the fast path).  The evaluation loop (also fit's
validation) is :mod:`lamina.training.evaluating`, predict's tiles :mod:`lamina.training.predicting`.

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> model = Sequential([Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> def batches():
...     for _ in range(4):
...         yield np.random.rand(8, 3), np.random.rand(8, 1)
>>> len(model.fit(batches(), epochs=1, verbose=0).history["loss"])
1
"""

from __future__ import annotations

import math
import time

import jax
import numpy as np

from lamina.callbacks import core as _callbacks
from lamina.callbacks import legacy as _legacy_callbacks
from lamina.callbacks import progress as _progress
from lamina.data import epochs as _epochs
from lamina.data.base import warn_ran_out
from lamina.distribution import sharding as _sharding
from lamina.training import guardrails as _guardrails
from lamina.training import inputs as _inputs
from lamina.training import predicting as _predicting
from lamina.training import strategy as _strategy
from lamina.training.arguments import check_batch_size, check_fit_arguments, debug_caps
from lamina.training.chunk_logs import host_logs, read_logs, time_first_calls
from lamina.training.evaluating import _eval_chunk, run_evaluation
from lamina.training.evaluating import evaluate as evaluate  # model.evaluate calls loop.evaluate
from lamina.training.metric_writeback import hand_over
from lamina.training.state import fresh_copy


def _training_source(
    b, x, y, sample_weight, class_weight, *, batch_size, shuffle, validation_split, steps_per_epoch,
    max_rows=None,
):  # fmt: skip
    """``(source, chunk limit for streams or None, validation split arrays or None)``."""
    if not _inputs.is_in_memory(x):
        if validation_split:
            raise ValueError(
                f"validation_split is only supported for in-memory arrays; x is a "
                f"{type(x).__name__}. Pass validation_data=... (any input kind) instead."
            )
        source, first = _inputs.stream(
            b,
            x,
            y,
            sample_weight,
            batch_size=batch_size,
            steps=steps_per_epoch,
            steps_name="steps_per_epoch",
            shuffle=shuffle,
            class_weight=class_weight,
            need_y=b.needs_y or y is not None,
        )
        b.note_data("train", first[1] is not None, sample_weight is not None)
        return source, _inputs.stream_chunk(b, source, first), None
    x, ys, sw = _inputs.prepare(
        b, x, y, sample_weight, class_weight, need_y=b.needs_y or y is not None
    )
    b.note_data("train", bool(ys), sw is not None)
    val = None
    if validation_split:
        n = _inputs.leaves(x)[0].shape[0]
        at = int(math.floor(n * (1.0 - validation_split)))
        if at == 0 or at == n:
            raise ValueError(
                f"Training data contains {n} samples, which is not sufficient to split it into "
                f"a validation and training set as specified by "
                f"validation_split={validation_split}. Provide more data or a different value."
            )
        take = jax.tree_util.tree_map
        val = (
            take(lambda a: a[at:], x),
            take(lambda a: a[at:], ys),
            take(lambda a: a[at:], sw),  # one array, one per output, or None
        )
        x, ys = take(lambda a: a[:at], x), take(lambda a: a[:at], ys)
        sw = take(lambda a: a[:at], sw)
    if max_rows is not None and _inputs.leaves(x)[0].shape[0] > max_rows:  # set_max_steps_...
        cut = jax.tree_util.tree_map
        x, ys = cut(lambda a: a[:max_rows], x), cut(lambda a: a[:max_rows], ys)
        sw = cut(lambda a: a[:max_rows], sw)
    if not _inputs.is_structure(x) and len(ys) == 1 and b.needs_y:
        _guardrails.on_fit(b.model, x, ys[0])  # after the split: only the rows fit trains on
    n = _inputs.leaves(x)[0].shape[0]
    if batch_size > n and _sharding.active() is None:
        batch_size = n  # Keras caps the batch at the rows: a huge batch_size costs nothing
    data = (x, ys, _inputs.ones_if_none(sw, x))
    if steps_per_epoch is not None and steps_per_epoch != math.ceil(n / batch_size):
        # Keras reads arrays steps_per_epoch batches at a time, continuing across epochs.
        source = _epochs.WindowedEpochs(
            data, batch_size=batch_size, shuffle=shuffle, steps_per_epoch=steps_per_epoch
        )
    else:
        source = _epochs.ResidentEpochs(data, batch_size=batch_size, shuffle=shuffle)
    return source, None, val


def fit(
    b,
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
    """``model.fit`` for a model bound by ``b`` (see the module docstring)."""
    batch_size, verbose = check_fit_arguments(
        b, batch_size, epochs, initial_epoch, verbose, shuffle
    )
    batch_size = _sharding.global_batch_check(batch_size)
    steps_per_epoch = _inputs.check_steps(steps_per_epoch, "steps_per_epoch")
    epochs, steps_per_epoch, capped = debug_caps(epochs, steps_per_epoch)
    validation_steps = _inputs.check_steps(validation_steps, "validation_steps")
    if not isinstance(validation_split, int | float) or not 0 <= validation_split < 1:
        raise ValueError(
            f"validation_split must be a fraction in [0, 1), e.g. 0.2. Received: "
            f"validation_split={validation_split!r}."
        )
    source, stream_chunk, split = _training_source(
        b,
        x,
        y,
        sample_weight,
        class_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        validation_split=validation_split,
        steps_per_epoch=steps_per_epoch,
        max_rows=None if capped is None else capped * batch_size,
    )
    vbs = check_batch_size(validation_batch_size or batch_size, "validation_batch_size")
    val, val_chunk = None, None
    if validation_data is not None:
        val, val_chunk = _inputs.validation_source(b, validation_data, vbs, validation_steps)
        if isinstance(validation_data, tuple | list):
            vd = (*validation_data, None, None)
            b.note_data("test", vd[1] is not None, vd[2] is not None)
    elif split is not None:
        b.note_data("test", bool(split[1]), split[2] is not None)
        batches, mask, real = _epochs.batched(
            (split[0], split[1], _inputs.ones_if_none(split[2], split[0])), vbs
        )
        val = _epochs.ResidentBatches(batches, mask, real)

    user = list(callbacks or [])
    probe = _callbacks.CallbackList(user, b.model, {})
    hooks = probe.overrides("train")
    steps = source.steps
    plan, live = None, False
    if hooks:  # Keras: the batch hooks run every ``steps_per_execution`` steps
        chunk = b.steps_per_execution
    elif stream_chunk is not None:
        chunk = stream_chunk
    else:  # without a live bar the strategy's automatic choice is the whole epoch
        live = verbose == 1 and _progress.is_live()
        plan = _inputs.train_plan(
            b, source.batch_size, steps, live=live, epochs=epochs - initial_epoch, source=source
        )
        chunk = plan.steps_per_call
    trial = _strategy.Trial(chunk) if plan is not None and plan.name == "trial" else None
    # A History among the user's callbacks is the one fit returns (Keras adds none then).
    history = next((c for c in probe.callbacks if isinstance(c, _callbacks.History)), None)
    own = [] if history is not None else [history := _callbacks.History()]
    cbs = user + ([_progress.ProgbarLogger(verbose=verbose)] if verbose else []) + own
    params = {"verbose": verbose, "epochs": epochs, "steps": steps}
    if plan is not None:
        params.update(plan.history_params())
    cb = _callbacks.CallbackList(cbs, b.model, params)
    model = b.model
    model.stop_training = False
    model.history = history
    # Compile settings resolved (and the optimizer state made) before the copy; one program
    # per fit, as Keras makes its train function once (a changed compile needs a new fit).
    program = b.program()
    if plan is not None and program.hints is not None:
        program.hints.setdefault("compile_bound", plan.compile_bound)  # read at the 1st call
        program.hints.setdefault("forward_kind", plan.forward_kind)
    # A copy: the compiled step donates its input, and a failed fit restores the original.
    b.set_state(fresh_copy(b.get_state()))
    resume = cb.on_train_begin({})
    legacy_val = _legacy_validation(validation_data, split)
    if legacy_val is not None:  # Keras 2 set it after on_train_begin
        _legacy_callbacks.set_validation_data(user, _legacy_callbacks.validation_arrays(*legacy_val))
    if resume is not None:  # BackupAndRestore restored the state of an interrupted fit
        initial_epoch = resume
    epoch_logs: dict = {}
    first_calls: list | None = [] if b.compile_seconds is None else None
    for epoch in range(initial_epoch, epochs):
        if trial is not None:
            chunk = trial.chunk()
        b.write_metrics(None)  # Keras resets the metrics before ``on_epoch_begin``
        cb.on_epoch_begin(epoch, {})
        ts = _sharding.place_state(b.get_state(), b.model)
        b.set_state(ts)
        out_of_data = False
        if source.can_fuse(chunk):
            cb.on_train_batch_begin(0, {})
            t0 = time.perf_counter()
            ts, rng, raw = source.fused_epoch(program, ts, b.get_rng())
            b.set_state(ts)
            b.set_rng(rng)
            logs = host_logs(hand_over(b, raw), model, epoch)
            time_first_calls(first_calls, t0)
            cb.on_train_batch_end(steps - 1, dict(logs))
        else:
            rng, chunks = source.train_chunks(program, b.get_rng(), chunk)
            b.set_rng(rng)
            mstate = program.init_metrics()
            done = fed = 0
            logs = {}
            unread = False
            try:
                for c in chunks:
                    cb.on_train_batch_begin(c.begin, {})
                    if hooks:  # a batch hook may have changed the model (its learning rate)
                        ts = b.get_state()
                    t0 = time.perf_counter()
                    ts, mstate = c.run(ts, mstate)
                    b.set_state(ts)
                    fed += c.real
                    done = source.steps_done(done, c.real, mstate)
                    if read_logs(hooks or live, trial, first_calls, c, params["steps"]):
                        # the metric objects too: a callback may look (Keras syncs then)
                        raw = hand_over(b, program.results(mstate))
                        logs = host_logs(raw, model, epoch)
                        time_first_calls(first_calls, t0)
                        if trial is not None:
                            trial.synced(chunk, c.begin, c.real, time.perf_counter())
                        unread = False
                    else:
                        unread = True
                    # Keras names the last step of the execution (``begin + spe - 1``).
                    end = c.begin + (chunk if hooks else max(c.real, 1)) - 1
                    cb.on_train_batch_end(end, dict(logs))
                    if model.stop_training:
                        break
            finally:
                chunks.close()
            if unread and done:  # the epoch ended before its last step (the input ran out)
                logs = host_logs(hand_over(b, program.results(mstate)), model, epoch)
            if done == 0:
                warn_ran_out()
                break
            if params["steps"] is None:
                params["steps"] = done
            out_of_data = source.ran_out(fed, done, model.stop_training)
        epoch_logs = dict(logs)
        if trial is not None and trial.end_epoch():
            params.update(trial.history_params())
        if val is not None and _should_validate(epoch, validation_freq):
            val_logs = run_evaluation(
                b, val, ts, cb, val_chunk or _eval_chunk(b, cb, val), validation_steps
            )
            if val_logs is not None:
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if out_of_data:
            warn_ran_out()
            break
        if model.stop_training:
            break
    if first_calls:
        measured = first_calls[0] - (first_calls[1] if len(first_calls) > 1 else 0.0)
        b.compile_seconds = max(measured, 0.0)
    history.params["compile_time"] = b.compile_seconds
    if _sharding.active() is not None:  # the layouts at rest (XLA may have chosen others)
        b.set_state(_sharding.place_state(b.get_state(), b.model))
    b.finalize(epochs)  # use_ema: the averaged weights
    cb.on_train_end(dict(epoch_logs))
    return history


def _legacy_validation(validation_data, split):
    """``(x, y, sample_weight)`` of in-memory validation data, for Keras 2's
    ``callback.validation_data``; None for streamed validation data (Keras 2 set none)."""
    if split is not None and validation_data is None:
        return split
    if isinstance(validation_data, tuple | list) and _inputs.is_in_memory(validation_data[0]):
        return (*validation_data, None, None)[:3]
    return None


def predict(b, x, *, batch_size, verbose, steps=None, callbacks=None):
    """``model.predict``: the outputs of every row (see :mod:`lamina.training.predicting`)."""
    batch_size = check_batch_size(batch_size)
    auto = isinstance(verbose, str)
    verbose = _progress.resolve_verbose(verbose)
    steps = _inputs.check_steps(steps, "steps")
    cb = _callbacks.CallbackList(
        list(callbacks or []), b.model, {"verbose": verbose, "epochs": 1, "steps": None}
    )
    t0 = time.perf_counter()
    out = _predicting.predict(b, x, batch_size=batch_size, steps=steps, cb=cb)
    if verbose and _sharding.is_main_process():
        leaves = jax.tree_util.tree_leaves(out)
        n = int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 0
        n_steps = max(1, -(-n // batch_size))
        # Keras's last progress line; "auto" stays quiet for one batch (a row at a time).
        if not (auto and n_steps == 1):
            print(_progress.evaluation_line(n_steps, time.perf_counter() - t0, {}, verbose))
    return out


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq
