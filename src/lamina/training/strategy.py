"""How the engine runs a compiled training program: how many steps each compiled call covers.

The strategies run the same steps in the same order with the same numbers; only the dispatch
changes:

* ``"epoch"``: the whole epoch in one call (a ``lax.scan`` over its steps).  Wins when a step
  costs microseconds (one dispatch per epoch) and for most millisecond steps too: the
  ``mnist_cnn`` epoch ran 0.55 s as one scan against 0.67 s dispatched per step.
* ``"chunk"``: scans of about ``TARGET_CHUNK_SECONDS``, so a live progress bar and batch
  callbacks see the fit move.
* ``"step"``: one step per call, traced without a loop.  XLA's CPU backend runs some
  convolutions much slower inside a loop than in straight code (a Conv2D(64, 3, 'same') layer
  on 32x32x32 inputs: 25 ms per step in a scan, 15.7 ms per call with XLA's own gradient), so a
  program with convolutions can be faster step by step.
* ``"trial"``: for programs with convolutions whose steps cost milliseconds, in fits of
  several epochs, the first epoch runs step by step and the second in scans; each call is timed
  (compilation left out) and the faster dispatch runs the rest of the fit (:class:`Trial`).
  ``History.params`` records the winner and both timings.  Forcing ``"trial"`` runs one in
  any fit of at least 3 epochs of 3 steps.

The choice comes from a cost model (XLA's FLOP count of the forward pass, or the parameter
count when that is unknown), or is forced with ``LAMINA_STRATEGY`` (``auto``, ``epoch``,
``chunk``, ``step``, ``trial`` or a number of steps per call) or the ``requested`` argument.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

# What a forward pass costs lives in forward_cost; ``name as name`` keeps it importable here.
from lamina.training.forward_cost import Profile as Profile
from lamina.training.forward_cost import _equations as _equations
from lamina.training.forward_cost import _uses as _uses
from lamina.training.forward_cost import forward_flops as forward_flops
from lamina.training.forward_cost import forward_profile as forward_profile

#: Target wall time of one training chunk, for progress and callbacks to stay live.
TARGET_CHUNK_SECONDS = 0.25
#: Rough float32 throughput used to size chunks before anything has run (FLOP/s).
ASSUMED_FLOPS = 3e10
#: Fixed cost of one step inside a scan (optimizer update, metrics), in seconds.
STEP_OVERHEAD = 2e-5
#: A trial of both dispatches is worth its second compilation (and an epoch run the slower
#: way) for steps of at least this estimated time, in fits estimated at least
#: ``TRIAL_MIN_FIT_SECONDS`` long (the cost model's estimates run several times high on
#: convolutions: a real fit of a few hundred milliseconds qualifies).
TRIAL_MIN_STEP_SECONDS = 2e-3
TRIAL_MIN_FIT_SECONDS = 0.25
#: Epochs an automatic trial needs: two on trial, and enough after them to gain back its cost.
TRIAL_MIN_EPOCHS = 5
#: Fits of a convolutional model estimated at most this long (seconds of steps, from the
#: FLOP count) are compile-bound: their training program takes the options that compile
#: faster (classic emitters at LLVM level 2: ~1-2 s less to compile, steps within their
#: noise), longer ones XLA's defaults.
COMPILE_BOUND_FIT_SECONDS = 20.0
#: The same bound for a profiled model without convolutions (estimated from its weight
#: count, 4-5x high for MLPs): their lighter options (LLVM optimization level 2) save
#: 20-30% of the compile time at the same measured step times, but LLVM's lighter pipeline
#: may leave elementwise-heavy steps slower, so long fits keep XLA's defaults.
DENSE_COMPILE_BOUND_FIT_SECONDS = 5.0
#: Names a strategy may be forced to (besides a positive number of steps per call).
NAMES = ("auto", "epoch", "chunk", "step", "trial")
#: Environment variable that forces a strategy for every fit.
ENV = "LAMINA_STRATEGY"


class Plan(NamedTuple):
    """A chosen strategy: its ``name`` and the ``steps_per_call`` that realize it."""

    name: str
    steps_per_call: int
    #: Whether the fit is estimated short enough (``COMPILE_BOUND_FIT_SECONDS``) that its
    #: compile time dominates: its training program may then take the XLA options that
    #: compile faster (:func:`lamina.training.compilation.train_compiler_options`).
    compile_bound: bool = False
    #: What the forward pass computes (:func:`lamina.training.compilation.forward_kind`) when
    #: the engine profiled it, so that the options' choice need not trace it again.
    forward_kind: str | None = None

    def history_params(self) -> dict:
        """The entries ``fit`` records in ``History.params``.

        >>> Plan("epoch", 10).history_params()
        {'strategy': 'epoch', 'steps_per_call': 10}
        """
        return {"strategy": self.name, "steps_per_call": self.steps_per_call}


def resolve(requested=None):
    """The strategy asked for: ``requested``, else ``$LAMINA_STRATEGY``, else ``"auto"``.

    Args:
        requested: ``None``, one of :data:`NAMES`, or a positive int (steps per call).

    Returns:
        A name from :data:`NAMES` or a positive int.

    Raises:
        ValueError: for anything else.

    >>> resolve("step"), resolve(4)
    ('step', 4)
    """
    source = "strategy"
    if requested is None:
        requested, source = os.environ.get(ENV, "auto"), ENV
    if isinstance(requested, str) and requested.strip().isdigit():
        requested = int(requested)
    if isinstance(requested, int) and not isinstance(requested, bool) and requested >= 1:
        return int(requested)
    if isinstance(requested, str) and requested.strip().lower() in NAMES:
        return requested.strip().lower()
    raise ValueError(
        f"{source} must be one of {', '.join(map(repr, NAMES))} or a positive number of steps "
        f"per compiled call. Received: {source}={requested!r}."
    )


def step_seconds(n_params: int, batch_size: int, flops_per_sample=None) -> float:
    """Estimated seconds of one training step (forward + gradient ~ 3 forward passes).

    >>> round(step_seconds(0, 128, flops_per_sample=1e6), 4)
    0.0128
    """
    if flops_per_sample is not None and math.isfinite(flops_per_sample) and flops_per_sample > 0:
        flops = 3.0 * flops_per_sample * batch_size
    else:
        flops = 6.0 * max(n_params, 1) * batch_size  # 2 FLOPs per weight, forward + backward
    return flops / ASSUMED_FLOPS + STEP_OVERHEAD


def plan(
    n_params: int,
    batch_size: int,
    steps: int,
    *,
    flops_per_sample=None,
    live: bool = True,
    requested=None,
    loop_sensitive: bool = False,
    epochs: int = 1,
    profiled: bool = False,
) -> Plan:
    """The strategy for one fit of one compiled program.

    Args:
        n_params: the model's parameter count (the cost proxy when FLOPs are unknown).
        batch_size: rows per step.
        steps: steps in one epoch.
        flops_per_sample: XLA's FLOP count of the forward pass of one row
            (:func:`forward_flops`), or ``None``.
        live: whether anything runs between steps (a live progress bar, batch callbacks).
            Without it the automatic choice is the whole epoch: nothing is gained by
            returning to Python, and the scan was measured fastest for every model kind.
        requested: a forced strategy (see :func:`resolve`); ``None`` reads ``LAMINA_STRATEGY``.
        loop_sensitive: whether the program has operations XLA may run slower inside a loop
            (convolutions, :func:`forward_profile`): with ``auto``, ``TRIAL_MIN_EPOCHS``
            epochs of at least 3 steps, millisecond steps and a fit estimated at least
            ``TRIAL_MIN_FIT_SECONDS`` long, the plan is a ``"trial"`` of per-step calls
            against scans of ``steps_per_call`` steps (:class:`Trial`).
        epochs: the epochs this fit runs (a trial needs two before the rest).
        profiled: whether the forward pass was profiled (:func:`forward_profile`), so that a
            model without convolutions may be marked compile-bound too (by
            ``DENSE_COMPILE_BOUND_FIT_SECONDS``); only profiled convolutional models are
            otherwise (by ``COMPILE_BOUND_FIT_SECONDS``).

    Returns:
        A :class:`Plan`; ``steps_per_call`` is at most ``steps`` and divides the epoch into
        calls of near-equal length.

    >>> plan(100, 32, 10)
    Plan(name='epoch', steps_per_call=10, compile_bound=False, forward_kind=None)
    >>> plan(0, 128, 47, flops_per_sample=2.4e7)
    Plan(name='step', steps_per_call=1, compile_bound=False, forward_kind=None)
    >>> plan(0, 32, 469, flops_per_sample=2e7, live=False, loop_sensitive=True, epochs=12)
    Plan(name='trial', steps_per_call=235, compile_bound=False, forward_kind=None)
    >>> plan(0, 128, 4, flops_per_sample=2e7, live=False, loop_sensitive=True, epochs=3)
    Plan(name='epoch', steps_per_call=4, compile_bound=True, forward_kind=None)
    >>> plan(85_000, 64, 64, epochs=4, profiled=True).compile_bound
    True
    """
    chosen = _choose(
        n_params,
        batch_size,
        steps,
        flops_per_sample=flops_per_sample,
        live=live,
        requested=requested,
        loop_sensitive=loop_sensitive,
        epochs=epochs,
    )
    fit_seconds = step_seconds(n_params, batch_size, flops_per_sample) * steps * epochs
    if loop_sensitive:
        bound = flops_per_sample is not None and fit_seconds <= COMPILE_BOUND_FIT_SECONDS
    else:
        bound = profiled and fit_seconds <= DENSE_COMPILE_BOUND_FIT_SECONDS
    return chosen._replace(compile_bound=bool(bound))


def _choose(
    n_params, batch_size, steps, *, flops_per_sample, live, requested, loop_sensitive, epochs
) -> Plan:
    """:func:`plan`'s strategy and steps per call."""
    steps = max(1, int(steps))
    choice = resolve(requested)
    per_step = step_seconds(n_params, batch_size, flops_per_sample)
    worth_it = (
        loop_sensitive
        and epochs >= TRIAL_MIN_EPOCHS
        and per_step >= TRIAL_MIN_STEP_SECONDS
        and per_step * steps * epochs >= TRIAL_MIN_FIT_SECONDS
    )
    if epochs >= 3 and steps >= 3 and (choice == "trial" or (choice == "auto" and worth_it)):
        live_plan = _choose(
            n_params,
            batch_size,
            steps,
            flops_per_sample=flops_per_sample,
            live=True,
            requested="auto",
            loop_sensitive=False,
            epochs=1,
        )
        if not live or live_plan.name == "epoch":  # scans of half an epoch: two timed calls
            return Plan("trial", math.ceil(steps / 2))
        return Plan("trial", max(2, live_plan.steps_per_call))
    if choice == "epoch" or (choice in ("auto", "trial") and not live):
        return Plan("epoch", steps)
    if choice == "step":
        return Plan("step", 1)
    if isinstance(choice, int):
        length = min(choice, steps)
    else:
        length = max(1, int(TARGET_CHUNK_SECONDS / per_step))
    if length >= steps:
        return Plan("epoch", steps)
    if length == 1:
        return Plan("step", 1)
    n_chunks = math.ceil(steps / length)
    return Plan("chunk", math.ceil(steps / n_chunks))


def chunk_length(n_params: int, batch_size: int, steps: int, **kwargs) -> int:
    """Steps per compiled call (``plan(...).steps_per_call``; same arguments).

    >>> chunk_length(100, 32, 10)
    10
    """
    return plan(n_params, batch_size, steps, **kwargs).steps_per_call


class Trial:
    """Times per-step calls against scans of ``length`` steps, then keeps the faster.

    The first epoch runs step by step, the second in scans of ``length``.  Each is timed as it
    runs in a fit, calls dispatched while the previous one runs: from the end of its first call
    (which may compile) to the end of its last, per step.  From the third epoch on, the
    dispatch with the lower time per step runs alone.  The steps and their numbers are the
    same either way (up to float32 rounding: see :func:`lamina.layers.conv_ops.xla_gradients`).

    >>> t = Trial(4)
    >>> t.chunk(), t.synced(1, 0, 1, 10.0), t.synced(1, 11, 1, 10.33), t.end_epoch()
    (1, None, None, False)
    >>> t.chunk(), t.synced(4, 0, 4, 20.0), t.synced(4, 8, 4, 20.16), t.end_epoch()
    (4, None, None, True)
    >>> t.chunk(), t.history_params()["strategy"], t.seconds_per_step()
    (4, 'chunk', {1: 0.03, 4: 0.02})
    """

    def __init__(self, length: int):
        self.candidates = (1, int(length))
        self._epochs = 0
        self._start: tuple[float, int] | None = None
        self._per_step: dict[int, float] = {}
        self.winner: int | None = None

    def chunk(self) -> int:
        """Steps per call for the coming epoch."""
        if self.winner is not None:
            return self.winner
        return self.candidates[min(self._epochs, 1)]

    def wants_sync(self, begin: int) -> bool:
        """Whether the call starting at step ``begin`` must be waited for (the first of an
        epoch on trial: the timing starts when it ends)."""
        return self.winner is None and begin == 0

    def synced(self, chunk: int, begin: int, real: int, now: float) -> None:
        """Records that the call of ``chunk`` steps per call starting at step ``begin`` (with
        ``real`` real steps) had finished at time ``now``."""
        if self.winner is not None or chunk != self.chunk():
            return
        if begin == 0:
            self._start = (now, real)
        elif self._start is not None:
            t0, first = self._start
            steps = begin + real - first
            if steps > 0:
                self._per_step[chunk] = (now - t0) / steps

    def end_epoch(self) -> bool:
        """Ends an epoch; returns whether the choice was made now."""
        self._epochs += 1
        self._start = None
        if self.winner is not None or self._epochs < 2:
            return False
        times = self.seconds_per_step()
        if len(times) == 2:
            self.winner = min(self.candidates, key=lambda c: (times[c], -c))
        else:  # an epoch too short to time (a stop, an early end): keep the scans
            self.winner = self.candidates[1]
        return True

    def seconds_per_step(self) -> dict[int, float]:
        """The seconds per step measured for each dispatch timed so far."""
        return {c: round(t, 9) for c, t in self._per_step.items()}

    def history_params(self) -> dict:
        """``History.params`` entries: the winner as a strategy, and the trial's timings."""
        if self.winner is None:
            return {"strategy": "trial", "steps_per_call": self.candidates[1]}
        times = self.seconds_per_step()
        return {
            "strategy": "step" if self.winner == 1 else "chunk",
            "steps_per_call": self.winner,
            "strategy_trial": {
                "step" if c == 1 else "chunk": round(t, 6) for c, t in times.items()
            },
        }
