"""How the engine runs a compiled training program: how many steps each compiled call covers.

Three strategies, all the same ``lax.scan`` program at a different length (a scan of one step
is simplified by XLA into the plain step, so ``"step"`` is Keras-JAX's per-step dispatch):

* ``"epoch"``: the whole epoch in one call.  Wins when a step costs microseconds (one
  dispatch per epoch) and, measured on a 2-core CPU, also for millisecond conv steps once the
  convolution's gradient is lowered to matrix products (``layers/conv_ops.py``): the
  ``mnist_cnn`` step ran 0.13 s inside a scan against 0.26 s dispatched per step.
* ``"chunk"``: calls of about ``TARGET_CHUNK_SECONDS``, so a live progress bar and batch
  callbacks see the fit move.
* ``"step"``: one step per call, when a single step already exceeds that target.

The choice comes from a cost model (XLA's FLOP count of the forward pass, or the parameter
count when that is unknown), or is forced with ``LAMINA_STRATEGY`` (``auto``, ``epoch``,
``chunk``, ``step`` or a number of steps per call) or the ``requested`` argument.  Whatever the
choice, the steps, their order and their numbers are the same: only the dispatch changes.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

#: Target wall time of one training chunk, for progress and callbacks to stay live.
TARGET_CHUNK_SECONDS = 0.25
#: Rough float32 throughput used to size chunks before anything has run (FLOP/s).
ASSUMED_FLOPS = 3e10
#: Fixed cost of one step inside a scan (optimizer update, metrics), in seconds.
STEP_OVERHEAD = 2e-5
#: Names a strategy may be forced to (besides a positive number of steps per call).
NAMES = ("auto", "epoch", "chunk", "step")
#: Environment variable that forces a strategy for every fit.
ENV = "LAMINA_STRATEGY"


class Plan(NamedTuple):
    """A chosen strategy: its ``name`` and the ``steps_per_call`` that realize it."""

    name: str
    steps_per_call: int

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

    Returns:
        A :class:`Plan`; ``steps_per_call`` is at most ``steps`` and divides the epoch into
        calls of near-equal length.

    >>> plan(100, 32, 10)
    Plan(name='epoch', steps_per_call=10)
    >>> plan(0, 128, 47, flops_per_sample=2.4e7)
    Plan(name='step', steps_per_call=1)
    """
    steps = max(1, int(steps))
    choice = resolve(requested)
    if choice == "epoch" or (choice == "auto" and not live):
        return Plan("epoch", steps)
    if choice == "step":
        return Plan("step", 1)
    if isinstance(choice, int):
        length = min(choice, steps)
    else:
        per_step = step_seconds(n_params, batch_size, flops_per_sample)
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


def forward_flops(fn, *args) -> float | None:
    """XLA's FLOP count of ``fn(*args)`` from the lowered program (nothing is compiled or run).

    Args:
        fn: a pure function, e.g. the model's forward pass on one row.
        *args: its arguments (arrays or ``jax.ShapeDtypeStruct``).

    Returns:
        The FLOPs, or ``None`` when XLA gives no estimate.

    >>> import jax, jax.numpy as jnp
    >>> forward_flops(jnp.matmul, jax.ShapeDtypeStruct((1, 8), jnp.float32),
    ...               jax.ShapeDtypeStruct((8, 4), jnp.float32))
    64.0
    """
    import jax

    try:
        cost = jax.jit(fn).lower(*args).cost_analysis()
    except Exception:  # an estimate only: any lowering problem shows up later, in the fit
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return float(flops) if flops is not None and flops > 0 else None
