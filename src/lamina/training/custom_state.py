"""The state a custom training step carries, and the objects bound to it during a step.

:class:`Parts` lists a model's stateful objects (the models holding the weights, the metrics,
the optimizers, the seed generators); :func:`read_state` gathers their arrays into the pytree
``S`` that the compiled step carries and :func:`write_state` stores ``S`` back on them.
During one step, :func:`bound` binds the optimizers and seed generators to the traced arrays
(Keras's ``StatelessScope``), and :func:`metric_scope` does the same for metrics, so Keras
code that reads ``optimizer.variables``, draws ``keras.random.normal(seed=generator)`` or calls
``metric.update_state`` stays pure.  Used by :mod:`lamina.training.custom_step`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lamina.models import state_access as _access


class Parts(NamedTuple):
    """The stateful objects of one model the engine threads through a custom step.

    Attributes:
        owners: the models whose ``TrainState`` holds the weights, in Keras's order.
        metrics: ``model.metrics`` (their variables are ``metrics_variables``).
        optimizer: ``model.optimizer`` (its variables are ``optimizer_variables``).
        extra_optimizers: the model's other optimizers (state carried, bound in the step).
        seeds: the seed generators reachable from the model (state carried, bound).
        rng_cell: a one-item list holding the key that random layers draw from in steps.
    """

    owners: tuple
    metrics: tuple
    optimizer: Any
    extra_optimizers: tuple
    seeds: tuple
    rng_cell: list


# ------------------------------------------------------------------ reading and writing
def owner_variables(owner):
    """``(trainable, non_trainable)`` arrays of one owner model, in Keras's order."""
    return _access.variable_arrays(owner)


def counts(parts):
    """Per owner, ``(n_trainable, n_non_trainable)``."""
    return [_access.variable_counts(owner) for owner in parts.owners]


def read_state(parts) -> dict:
    """The carried state ``S`` from the objects (building unbuilt optimizers)."""
    tv, ntv = [], []
    for owner in parts.owners:
        t, nt = owner_variables(owner)
        tv += t
        ntv += nt
    opt = parts.optimizer
    if opt is not None:
        if hasattr(opt, "bind_owners"):  # a MultiOptimizer: the weights' paths pick optimizers
            opt.bind_owners(parts.owners)
        _ensure_built(opt, tv)
        opt.__dict__["_constraints"] = [
            c for owner in parts.owners for c in _access.trained_layer_keys(owner)
        ]
    return {
        "tv": tv,
        "ntv": ntv,
        "opt": [] if opt is None else list(opt.variables),
        "extra": [list(o.variables) for o in parts.extra_optimizers],
        "seeds": [jnp.asarray(g.state) for g in parts.seeds],
        "mv": [v for m in parts.metrics for v in m.variables],
        "rng": parts.rng_cell[0],
    }


def write_state(parts, s) -> None:
    """Stores ``S`` back on the objects (owners' weights, optimizers, generators, metrics)."""
    at_t = at_nt = 0
    for owner, (n_t, n_nt) in zip(parts.owners, counts(parts)):
        _access.write_variable_arrays(
            owner, s["tv"][at_t : at_t + n_t], s["ntv"][at_nt : at_nt + n_nt]
        )
        at_t += n_t
        at_nt += n_nt
    if parts.optimizer is not None:
        parts.optimizer.__dict__["_built_state"] = list(s["opt"])
    for o, v in zip(parts.extra_optimizers, s["extra"]):
        o.__dict__["_built_state"] = list(v) or None
    for g, v in zip(parts.seeds, s["seeds"]):
        g.state = v
    write_metrics(parts.metrics, s["mv"])
    parts.rng_cell[0] = s["rng"]


def write_metrics(metrics, mv) -> None:
    at = 0
    for m in metrics:
        n = len(m.variables)
        m._state = m._state_from(mv[at : at + n])
        at += n


def _ensure_built(opt, tv):
    shapes = [(tuple(a.shape), a.dtype) for a in tv]
    built_for = opt.__dict__.get("_built_for")
    if opt.built and built_for is None:
        # Built by the user (``self.optimizer.build(self.network.trainable_variables)`` in
        # ``compile``: keras.io's diffusion models train part of the weights): kept, as Keras
        # builds only an unbuilt optimizer.
        return
    if built_for != shapes or not opt.built:
        opt.build(tv)
        opt.__dict__["_built_for"] = shapes


# ---------------------------------------------------------------------------- binding
@contextlib.contextmanager
def metric_scope(metrics, mv):
    """Binds each metric's state to its slice of ``mv`` (Keras's ``StatelessScope`` over
    ``metrics_variables``): ``update_state``/``result`` inside read and write the bound
    state.  Yields a function returning the new ``metrics_variables``."""
    saved = [m.__dict__.get("_state") for m in metrics]
    try:
        write_metrics(metrics, list(mv))
        yield lambda: [v for m in metrics for v in m.variables]
    finally:
        for m, s in zip(metrics, saved):
            m._state = s


_LOCAL = threading.local()


def bound_metrics() -> tuple:
    """The metrics of the custom step running now (``()`` outside one): a
    :class:`lamina.StatelessScope` maps their variables to the step's values."""
    parts = getattr(_LOCAL, "parts", None)
    return () if parts is None else tuple(parts.metrics)


def step_key():
    """A fresh key for one random call inside a bound custom step (``None`` outside one):
    ``stateless_call(training=True)`` takes its dropout key from here when given none."""
    cell = getattr(_LOCAL, "key", None)
    if cell is None:
        return None
    cell[1] += 1
    return jax.random.fold_in(cell[0], cell[1])


@contextlib.contextmanager
def bound(parts, s):
    """Binds the optimizers and seed generators to the traced ``S`` during one step; yields a
    function returning their new state ``(opt, extra, seeds)``."""
    opts = ([parts.optimizer] if parts.optimizer is not None else []) + list(parts.extra_optimizers)
    values = ([s["opt"]] if parts.optimizer is not None else []) + list(s["extra"])
    saved_seeds = [g.state for g in parts.seeds]
    try:
        for o, v in zip(opts, values):
            o.__dict__["_bound"] = list(v)
        for g, v in zip(parts.seeds, s["seeds"]):
            g.__dict__["_bound_depth"] = g.__dict__.get("_bound_depth", 0) + 1
            g.state = v
        saved_key = getattr(_LOCAL, "key", None)
        saved_parts = getattr(_LOCAL, "parts", None)
        _LOCAL.key = [s["rng"], 0]
        _LOCAL.parts = parts

        def collect():
            new = [list(o.__dict__["_bound"]) for o in opts]
            main = new.pop(0) if parts.optimizer is not None else []
            seeds = [jnp.asarray(g.state) for g in parts.seeds]
            return main, new, seeds, jax.random.split(s["rng"])[0]

        yield collect
    finally:
        _LOCAL.key = saved_key
        _LOCAL.parts = saved_parts
        for o in opts:
            o.__dict__["_bound"] = None
        for g, v in zip(parts.seeds, saved_seeds):
            g.state = v
            g.__dict__["_bound_depth"] -= 1
