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


def finalize_weights(model, epochs) -> None:
    """Keras's ``optimizer.finalize_variable_values`` at the end of ``fit``: with
    ``use_ema=True`` the trainable weights become their moving average (after any fit that
    asked for at least one epoch, as Keras does)."""
    optimizer = getattr(model, "optimizer", None)
    ts = model._train_state
    if not epochs or not getattr(optimizer, "use_ema", False) or ts is None:
        return
    from lamina.optimizers import get_ema_params

    ema = get_ema_params(ts.opt_state)
    if ema is None:
        return
    trainable = model._trainable_mask()
    _, frozen = split_trainable(ts.params, trainable)
    model._train_state = ts._replace(params=merge_params(tuple(ema), frozen, trainable))
