"""All training state as one pytree.

``TrainState`` holds, per layer, the trainable weights (``params``) and the non-trainable ones
(``state``, e.g. batch-norm statistics), the optimizer's state and the random key.  The
``Sequential`` object keeps the latest ``TrainState`` and hands it to the compiled functions;
arrays come to the host only when asked (``get_weights``, ``save``).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class TrainState(NamedTuple):
    params: tuple  # per layer: dict name -> array (trainable weights)
    state: tuple  # per layer: dict name -> array (non-trainable weights)
    opt_state: Any  # the optax state over the trainable layers' params
    rng: Any  # jax PRNG key, split once per step


def split_trainable(params: tuple, trainable: tuple) -> tuple[tuple, tuple]:
    """Splits per-layer params into (trained, frozen), each with ``{}`` in the other's slots."""
    trained = tuple(p if t else {} for p, t in zip(params, trainable))
    frozen = tuple({} if t else p for p, t in zip(params, trainable))
    return trained, frozen


def merge_params(trained: tuple, frozen: tuple, trainable: tuple) -> tuple:
    """Inverse of :func:`split_trainable`."""
    return tuple(a if t else b for a, b, t in zip(trained, frozen, trainable))
