"""How the engine runs a compiled program: how many steps each compiled call covers.

The fused whole-epoch ``lax.scan`` wins when a step costs microseconds (one dispatch per epoch);
where a step costs milliseconds, shorter chunks (down to one step per call) keep progress and
callbacks live and avoid XLA CPU loop bodies that compile slowly.  The host loop asks this
module, and only this module, for the number of steps per call.
"""

from __future__ import annotations

import math

#: Target wall time of one training chunk, for progress and callbacks to stay live.
TARGET_CHUNK_SECONDS = 0.25
#: Rough float32 throughput used to size chunks before anything has run (FLOP/s).
ASSUMED_FLOPS = 3e10


def chunk_length(n_params: int, batch_size: int, steps: int) -> int:
    """Steps per compiled call: whole epochs when they are quick, ~0.25 s chunks otherwise.

    Args:
        n_params: the model's parameter count (a proxy for the cost of one step).
        batch_size: rows per step.
        steps: steps in one epoch.

    Returns:
        The number of steps one compiled call runs, at most ``steps``.

    >>> chunk_length(100, 32, 10)
    10
    """
    flops = 6.0 * max(n_params, 1) * batch_size
    per_step = flops / ASSUMED_FLOPS + 2e-5
    length = max(1, int(TARGET_CHUNK_SECONDS / per_step))
    if length >= steps:
        return steps
    n_chunks = math.ceil(steps / length)
    return math.ceil(steps / n_chunks)
