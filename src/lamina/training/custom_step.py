"""The engine side of custom training logic: a :class:`~lamina.training.step.Program` built
from a model's own ``train_step``/``test_step``/``predict_step`` (Keras 3's JAX style), run by
the same host loop (:mod:`lamina.training.loop`) as every other model.

A step is ``step(state, data) -> (logs, state)``: the state is Keras's tuple of flat lists of
arrays, ``(trainable_variables, non_trainable_variables, optimizer_variables,
metrics_variables)`` (``test_step`` drops the optimizer's; ``predict_step`` takes
``(trainable_variables, non_trainable_variables)`` and returns ``(outputs,
non_trainable_variables)``).  The engine carries, between steps, one pytree ``S``::

    {"tv": [...], "ntv": [...], "opt": [...], "extra": [[...], ...], "seeds": [...], "mv": [...]}

where ``extra`` holds the state of every other optimizer the model holds (a GAN's two) and
``seeds`` the state of every ``SeedGenerator`` reachable from the model.  During a step those
objects are *bound* to the traced arrays (``optimizer.variables``, ``stateless_apply`` and
``keras.random.*(seed=generator)`` read and advance them), so a step may use them the way
Keras code does and still be one pure, compiled function.

Whole epochs of resident data run in one compiled ``lax.scan`` (the fast path); a last short
batch runs as one more step with its real shape, as Keras runs it (a custom loss sees only real
rows).  Chunked and streamed epochs run the full steps of each chunk in one scan and any short
batch alone.  ``run_eagerly`` runs every step without ``jit``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lamina.training.custom_state import (  # noqa: F401  (re-exported: the engine's API)
    Parts,
    bound,
    metric_scope,
    read_state,
    step_key,
    write_metrics,
    write_state,
)
from lamina.training.shuffle import epoch_index
from lamina.training.step import NONFINITE_KEY, NONFINITE_WHAT_KEY, Program, _eager


def flat_logs(logs) -> dict:
    """Step logs as a flat ``{name: float32 scalar}`` (nested dicts merged, as Keras's
    ``pythonify_logs`` does), sorted by name."""
    if not isinstance(logs, dict):
        raise TypeError(
            f"A custom train_step/test_step must return (logs, state) with logs a dict of "
            f"scalars, e.g. {{'loss': loss}}. Received logs of type {type(logs).__name__}."
        )
    out: dict = {}
    for k, v in logs.items():
        if isinstance(v, dict):
            out.update(flat_logs(v))
            continue
        v = jnp.asarray(getattr(v, "value", v), jnp.float32)
        if v.ndim:
            raise ValueError(
                f"Log {k!r} returned by the custom step has shape {tuple(v.shape)}; logs must "
                f"be scalars (reduce it, e.g. ops.mean(...))."
            )
        out[str(k)] = v
    return dict(sorted(out.items()))


def _check_state(kind, got, expected):
    if not isinstance(got, list | tuple) or len(got) != len(expected):
        n = len(got) if isinstance(got, list | tuple) else type(got).__name__
        raise ValueError(
            f"A custom {kind} must return (logs, state) with state a tuple of "
            f"{len(expected)} lists: {', '.join(expected)}. Received a state of {n} parts."
        )


# ----------------------------------------------------------------------------- steps
def user_data(x, ys, sw, spec):
    """The ``data`` a Keras step receives: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    has_y, has_sw = spec
    if not has_y or not ys:
        return _packed_x(x)
    y = ys[0] if len(ys) == 1 else list(ys)
    return (x, y, sw) if has_sw else (x, y)


def _packed_x(x):
    """``x`` alone as Keras's ``pack_x_y_sample_weight`` gives it: several inputs (a tuple or
    list) wrapped as ``(x,)``, so ``unpack_x_y_sample_weight(data)`` and ``data[0]`` read the
    inputs, not the first input as ``x`` and the second as ``y``."""
    return (x,) if isinstance(x, tuple | list) else x


def _train_one(model, parts, s, mv, batch, spec):
    x, ys, sw = batch
    # The metrics read the step's state (``self.metrics_variables`` lists ``mv``), so an
    # in-place update_state inside the step cannot leak a tracer into the metric.
    with bound(parts, s) as collect, metric_scope(parts.metrics, mv):
        state = (list(s["tv"]), list(s["ntv"]), list(s["opt"]), list(mv))
        out = model.train_step(state, user_data(x, ys, sw, spec))
        opt, extra, seeds, rng = collect()
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            "A custom train_step(self, state, data) must return (logs, state). Received "
            f"{type(out).__name__}."
        )
    logs, new = out
    names = ("trainable_variables", "non_trainable_variables", "optimizer_variables",
             "metrics_variables")  # fmt: skip
    _check_state("train_step", new, names)
    tv, ntv, ov, mv = (list(p) for p in new)
    if parts.optimizer is not None and len(ov) == len(s["opt"]):
        opt = ov
    new_s = {"tv": tv, "ntv": ntv, "opt": opt, "extra": extra, "seeds": seeds, "mv": mv,
             "rng": rng}
    return _same_types(s, new_s), mv, flat_logs(logs)


def _test_one(model, parts, s, mv, batch, spec):
    x, ys, sw = batch
    with bound(parts, s) as collect, metric_scope(parts.metrics, mv):
        state = (list(s["tv"]), list(s["ntv"]), list(mv))
        out = model.test_step(state, user_data(x, ys, sw, spec))
        collect()
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            "A custom test_step(self, state, data) must return (logs, state). Received "
            f"{type(out).__name__}."
        )
    logs, new = out
    _check_state("test_step", new, ("trainable_variables", "non_trainable_variables",
                                    "metrics_variables"))  # fmt: skip
    return list(new[2]), flat_logs(logs)


def _predict_one(model, parts, s, x):
    with bound(parts, s):
        out = model.predict_step((list(s["tv"]), list(s["ntv"])), _packed_x(x))
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(
            "A custom predict_step(self, state, data) must return (outputs, "
            f"non_trainable_variables). Received {type(out).__name__}."
        )
    return out[0]


def _same_types(old, new):
    """New state arrays cast to the old dtypes (a step must not change the carry's types)."""
    def cast(a, b):
        b = jnp.asarray(getattr(b, "value", b))
        return b.astype(a.dtype) if hasattr(a, "dtype") and b.dtype != a.dtype else b

    out = {"rng": new["rng"]}
    for k in old:
        if k == "rng":
            continue
        if k == "extra":
            out[k] = [[cast(a, b) for a, b in zip(o, n)] if len(o) == len(n) else list(n)
                      for o, n in zip(old[k], new[k])]  # fmt: skip
        elif len(old[k]) == len(new[k]):
            out[k] = [cast(a, b) for a, b in zip(old[k], new[k])]
        else:
            out[k] = list(new[k])
    return out


def _zeros_like_tree(tree):
    return jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), tree)


def _take(tree, bidx):
    return jax.tree_util.tree_map(lambda a: jnp.take(a, bidx, axis=0), tree)


def _as_outputs(ys):
    return tuple(ys) if isinstance(ys, tuple | list) else (ys,)


# --------------------------------------------------------------------------- program
class _Spec:
    """What the user gave (``y``, ``sample_weight``) for training and for evaluation."""

    def __init__(self):
        self.train = (True, False)
        self.test = (True, False)


def build_custom_program(model, parts_fn, *, run_eagerly=False, trace_counter=None):
    """The :class:`~lamina.training.step.Program` of a model with custom steps.

    Args:
        model: the model (its ``train_step``, ``test_step`` and ``predict_step`` run).
        parts_fn: ``() -> Parts``: the stateful objects (read at every call).
        run_eagerly: run the steps without ``jit``.
        trace_counter: optional dict counting traces per function (tests use it).

    Returns:
        ``(program, spec)``: the program, and the :class:`_Spec` the binding updates with
        what the user passed.
    """
    spec = _Spec()
    jit = _eager if run_eagerly else jax.jit

    def count(name):
        if trace_counter is not None:
            trace_counter[name] = trace_counter.get(name, 0) + 1

    def each(batches):
        n = jax.tree_util.tree_leaves(batches)[0].shape[0]
        return (jax.tree_util.tree_map(lambda a, i=i: a[i], batches) for i in range(n))

    def train_scan(s, mv, logs, batches, dspec):
        if run_eagerly:  # the user's Python at every step, on concrete arrays
            for batch in each(batches):
                s, mv, logs = _train_one(model, parts_fn(), s, mv, batch, dspec)
            return s, mv, logs

        def body(carry, batch):
            s, mv, _ = carry
            s, mv, logs = _train_one(model, parts_fn(), s, mv, batch, dspec)
            return (s, mv, logs), None

        (s, mv, logs), _ = jax.lax.scan(body, (s, mv, logs), batches)
        return s, mv, logs

    def first_logs(s, mv, batch, dspec):
        if run_eagerly:
            return None
        one = jax.tree_util.tree_map(lambda a: a[0], batch)
        shapes = jax.eval_shape(lambda s, mv, b: _train_one(model, parts_fn(), s, mv, b, dspec),
                                s, mv, one)  # fmt: skip
        return _zeros_like_tree(shapes[2])

    @functools.partial(jit, static_argnames=("n", "batch_size", "dspec"))
    def epoch(s, rng, data, n, batch_size, shuffle, dspec):
        count("train")
        steps = -(-n // batch_size)
        full, rem = divmod(n, batch_size)
        rng, idx, mask = epoch_index(rng, n, batch_size, steps, shuffle)
        if rem:  # the short batch last (it may be anywhere after a "batch" shuffle)
            idx = idx[jnp.argsort(jnp.sum(mask, axis=1) < batch_size, stable=True)]
        mv = [jnp.asarray(v) for v in _initial_metrics()]
        logs = None
        x, ys, sw = data
        if full:
            batches = _take((x, _as_outputs(ys), sw), idx[:full])
            logs = first_logs(s, mv, batches, dspec)
            s, mv, logs = train_scan(s, mv, logs, batches, dspec)
        if rem:
            s, mv, logs = _train_one(model, parts_fn(), s, mv,
                                     _take((x, _as_outputs(ys), sw), idx[full, :rem]), dspec)
        s = {**s, "mv": mv}
        return s, rng, _raw(logs)

    @functools.partial(jit, static_argnames=("dspec",))
    def scan_batches(s, mv, batches, dspec):
        count("train_chunk")
        logs = first_logs(s, mv, batches, dspec)
        s, mv, logs = train_scan(s, mv, logs, batches, dspec)
        return {**s, "mv": mv}, mv, logs

    @functools.partial(jit, static_argnames=("dspec",))
    def one_batch(s, mv, batch, dspec):
        s, mv, logs = _train_one(model, parts_fn(), s, mv, batch, dspec)
        return {**s, "mv": mv}, mv, logs

    @functools.partial(jit, static_argnames=("dspec",))
    def eval_batches(s, mv, batches, dspec):
        count("eval")
        if run_eagerly:
            logs = None
            for batch in each(batches):
                mv, logs = _test_one(model, parts_fn(), s, mv, batch, dspec)
            return mv, logs
        one = jax.tree_util.tree_map(lambda a: a[0], batches)
        shapes = jax.eval_shape(lambda mv, b: _test_one(model, parts_fn(), s, mv, b, dspec),
                                mv, one)  # fmt: skip

        def body(carry, batch):
            mv, _ = carry
            return _test_one(model, parts_fn(), s, mv, batch, dspec), None

        (mv, logs), _ = jax.lax.scan(body, (mv, _zeros_like_tree(shapes[1])), batches)
        return mv, logs

    @functools.partial(jit, static_argnames=("dspec",))
    def eval_one(s, mv, batch, dspec):
        return _test_one(model, parts_fn(), s, mv, batch, dspec)

    @jit
    def predict_tiles(s, xb):
        count("predict")
        if run_eagerly:
            outs = [_predict_one(model, parts_fn(), s, x) for x in each(xb)]
            return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *outs)

        def body(_, x):
            return None, _predict_one(model, parts_fn(), s, x)

        _, ys = jax.lax.scan(body, None, xb)
        return jax.tree_util.tree_map(lambda a: jnp.reshape(a, (-1, *a.shape[2:])), ys)

    def _initial_metrics():
        return [v for m in parts_fn().metrics for v in m.stateless_reset_state()]

    def discover(s, batch):
        """Builds optimizers first used inside the step (a GAN's two), from one traced step."""
        parts = parts_fn()
        pending = [o for o in parts.extra_optimizers if not o.built]
        if not pending:
            return s
        for o in pending:
            o.__dict__.pop("_seen_shapes", None)
        one = jax.tree_util.tree_map(lambda a: a[:1], batch)
        jax.eval_shape(lambda s, b: _train_one(model, parts, s, s["mv"], b, spec.train), s, one)
        for o in pending:
            seen = o.__dict__.pop("_seen_shapes", None)
            if seen is not None:
                o.build([jnp.zeros(shape, dtype) for shape, dtype in seen])
        return {**s, "extra": [list(o.variables) for o in parts.extra_optimizers]}

    # ----------------------------------------------------- the Program's functions (host)
    def train_epoch(s, rng, data, n, batch_size, shuffle):
        x, ys, sw = data
        s = discover(s, (x, _as_outputs(ys), sw))
        return epoch(s, rng, data, n=n, batch_size=batch_size, shuffle=shuffle,
                     dspec=spec.train)  # fmt: skip

    def run_segments(s, mstate, real, full_fn, part_fn, b):
        mv, logs = mstate["mv"], mstate["logs"]
        i = 0
        steps = len(real)
        while i < steps:
            if real[i] == 0:
                i += 1
                continue
            if real[i] == b:
                j = i
                while j < steps and real[j] == b:
                    j += 1
                s, mv, logs = full_fn(s, mv, i, j)
                i = j
            else:
                s, mv, logs = part_fn(s, mv, i, int(real[i]))
                i += 1
        return s, {"mv": mv, "logs": logs}

    def train_chunk(s, mstate, data, idx, mask, guard=False):
        x, ys, sw = data
        full_data = (x, _as_outputs(ys), sw)
        s = discover(s, full_data)
        real = np.asarray(jax.device_get(mask)).sum(axis=1).astype(int)
        b = mask.shape[1]
        return run_segments(
            s, mstate, real,
            lambda s, mv, i, j: scan_batches(s, mv, _take(full_data, idx[i:j]), spec.train),
            lambda s, mv, i, r: one_batch(s, mv, _take(full_data, idx[i, :r]), spec.train),
            b,
        )  # fmt: skip

    def train_batches(s, mstate, batches, mask):
        x, ys, sw = batches
        full_data = (x, _as_outputs(ys), sw)
        s = discover(s, jax.tree_util.tree_map(lambda a: a[0], full_data))
        real = np.asarray(jax.device_get(mask)).sum(axis=1).astype(int)
        b = mask.shape[1]

        def seg(i, j):
            return jax.tree_util.tree_map(lambda a: a[i:j], full_data)

        return run_segments(
            s, mstate, real,
            lambda s, mv, i, j: scan_batches(s, mv, seg(i, j), spec.train),
            lambda s, mv, i, r: one_batch(
                s, mv, jax.tree_util.tree_map(lambda a: a[i, :r], full_data), spec.train),
            b,
        )  # fmt: skip

    def eval_chunk(s, mstate, batches, mask):
        x, ys, sw = batches
        full_data = (x, _as_outputs(ys), sw)
        real = np.asarray(jax.device_get(mask)).sum(axis=1).astype(int)
        b = mask.shape[1]

        def full(s, mv, i, j):
            part = jax.tree_util.tree_map(lambda a: a[i:j], full_data)
            mv, logs = eval_batches(s, mv, part, spec.test)
            return s, mv, logs

        def part(s, mv, i, r):
            one = jax.tree_util.tree_map(lambda a: a[i, :r], full_data)
            mv, logs = eval_one(s, mv, one, spec.test)
            return s, mv, logs

        return run_segments(s, mstate, real, full, part, b)[1]

    def predict_chunk(s, xb):
        return predict_tiles(s, xb)

    def init_metrics():
        return {"mv": _initial_metrics(), "logs": None}

    def results(mstate):
        write_metrics(parts_fn().metrics, mstate["mv"])
        return _raw(mstate["logs"])

    program = Program(
        train_epoch=train_epoch,
        train_chunk=train_chunk,
        train_batches=train_batches,
        eval_chunk=eval_chunk,
        predict_chunk=predict_chunk,
        results=results,
        init_metrics=init_metrics,
    )
    return program, spec


def _raw(logs):
    out = dict(logs or {})
    out[NONFINITE_KEY] = jnp.full((), -1, jnp.int32)
    out[NONFINITE_WHAT_KEY] = jnp.zeros((), jnp.int32)
    return out
