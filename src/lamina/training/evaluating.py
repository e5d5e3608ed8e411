"""``evaluate``'s host loop: the evaluation program over an epoch source's chunks, with Keras's
``on_test_*`` hooks; ``fit`` runs the same loop for validation.

A chunk of several batches is one compiled call; the metric state is carried from chunk to
chunk and read back once at the end (or after each chunk when a callback overrides a test batch
hook).  A network that writes its state in inference (a stateful RNN, a user layer assigning in
``call``) carries it from batch to batch and keeps it for the next call, as Keras does.

Its names stay importable from :mod:`lamina.training.loop`.
"""

from __future__ import annotations

import time

from lamina.callbacks import core as _callbacks
from lamina.callbacks import progress as _progress
from lamina.distribution import sharding as _sharding
from lamina.training import guardrails as _guardrails
from lamina.training import inputs as _inputs
from lamina.training.arguments import check_batch_size, check_compiled
from lamina.training.chunk_logs import host_logs
from lamina.training.inference_state import Carried
from lamina.training.metric_writeback import hand_over
from lamina.training.program import with_fresh_key


def _eval_chunk(b, cb, source):
    if cb.overrides("test"):
        return b.steps_per_execution
    return min(_inputs.MAX_EVAL_CHUNK, getattr(source, "total", None) or source.steps or 1)


def run_evaluation(b, source, ts, cb, chunk, steps=None):
    """Runs the evaluation program over ``source`` with Keras's ``on_test_*`` hooks; returns
    the host logs (``None`` when a stream had no batches left)."""
    program = b.program()
    hooks = cb.overrides("test")
    before = b.get_state()
    b.write_metrics(None)  # Keras's evaluate resets the metrics first
    cb.on_test_begin({})
    if b.get_state() is not before:  # a callback swapped the weights in (SwapEMAWeights)
        ts = _sharding.place_state(b.get_state(), b.model)
    mstate = program.init_metrics()
    done = 0
    written = None
    for c in source.eval_chunks(program, chunk, steps):
        if c.real == 0:  # a bucket's padding chunk: nothing to add
            continue
        cb.on_test_batch_begin(c.begin, {})
        at = ts
        if program.inference_rng:  # a layer drawing in inference: a fresh key per call
            at = _sharding.replicate(with_fresh_key(program, ts))
        out = c.run(at, mstate)
        if isinstance(out, Carried):  # written state (stateful RNNs, user layers' assign)
            mstate, written = out
            ts = ts._replace(state=written)  # goes on to the next batch
        else:
            mstate = out
        done = c.begin + c.real
        logs = host_logs(hand_over(b, program.results(mstate))) if hooks else {}
        cb.on_test_batch_end(c.begin + c.real - 1, logs)  # the last real batch of the chunk
    seen = done > 0
    feed = getattr(source, "feed", None)
    if feed is not None:
        seen = feed.evaluated(done, mstate)
    logs = host_logs(hand_over(b, program.results(mstate))) if seen else None
    if written is not None:  # kept for the next call, as Keras keeps them
        b.set_state(b.get_state()._replace(state=ts.state))
    cb.on_test_end(dict(logs or {}))
    return logs


def evaluate(
    b, x, y, *, batch_size, verbose, sample_weight, return_dict, steps=None, callbacks=None
):
    """``model.evaluate``: the loss, ``[loss, *metrics]`` or a dict (``return_dict``)."""
    check_compiled(b, "evaluate")
    batch_size = check_batch_size(batch_size)
    verbose = _progress.resolve_verbose(verbose)
    steps = _inputs.check_steps(steps, "steps")
    b.note_data("test", y is not None, sample_weight is not None)
    if _inputs.is_in_memory(x):
        source, (hx, ys, _) = _inputs.resident_eval(
            b, x, y, sample_weight, batch_size, need_y=b.needs_y
        )
        if not _inputs.is_structure(hx) and len(ys) == 1 and b.needs_y:
            _guardrails.on_evaluate(b.model, hx, ys[0])
        chunk = None
    else:
        source, first = _inputs.stream(
            b, x, y, sample_weight, batch_size=batch_size, steps=steps, steps_name="steps",
            need_y=b.needs_y or y is not None,
        )  # fmt: skip
        b.note_data("test", first[1] is not None, sample_weight is not None)
        chunk = _inputs.stream_chunk(b, source, first, train=False)
    cb = _callbacks.CallbackList(
        list(callbacks or []), b.model, {"verbose": verbose, "epochs": 1, "steps": None}
    )
    counter = _progress.StepCounter()
    cb.append(counter)
    ts = _sharding.place_state(b.get_state(), b.model)
    t0 = time.perf_counter()
    logs = run_evaluation(b, source, ts, cb, chunk or _eval_chunk(b, cb, source), steps)
    if logs is None:
        raise ValueError("evaluate() received no batches: the input is exhausted.")
    if verbose and _sharding.is_main_process():  # the real steps, not the padded bucket
        print(_progress.evaluation_line(counter.steps, time.perf_counter() - t0, logs, verbose))
    if return_dict:
        return logs
    names = b.metrics_names()
    values = [logs[k] for k in names if k in logs]
    values += [logs[k] for k in sorted(logs) if k not in names]
    return values[0] if len(values) == 1 else values
