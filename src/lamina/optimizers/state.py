"""The optimizer state and its accessors: ``iterations`` and ``learning_rate`` as scalar arrays
that training loops and callbacks read and change without recompiling.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp


@dataclasses.dataclass
class OptimizerState:
    """State of a lamina optimizer transform (a JAX pytree).

    Attributes:
        iterations: int32 scalar, Keras's ``optimizer.iterations`` (0 before the first step;
            counts every call, including gradient-accumulation micro-steps).
        learning_rate: float32 scalar, the current learning rate.  For a schedule it is the
            schedule's value at ``iterations`` (read-only, recomputed every step).
        slots: ``{slot_name: tree}``, per-variable slots shaped like the params
            (e.g. ``{"momentum": ..., "velocity": ...}`` for Adam).
        extra: ``{name: scalar}``, optimizer-wide scalars (Nadam's ``u_product``).
        ema: moving average of the params (tree) when ``use_ema=True``, else None.
        accumulators: gradient accumulators (tree) when ``gradient_accumulation_steps``
            is set, else None.
        lr_is_schedule: static flag; True when the learning rate comes from a schedule.
    """

    iterations: Any
    learning_rate: Any
    slots: Any
    extra: Any
    ema: Any
    accumulators: Any
    lr_is_schedule: bool = False


jax.tree_util.register_dataclass(
    OptimizerState,
    data_fields=["iterations", "learning_rate", "slots", "extra", "ema", "accumulators"],
    meta_fields=["lr_is_schedule"],
)


def _find_state(opt_state) -> OptimizerState:
    if isinstance(opt_state, OptimizerState):
        return opt_state
    if isinstance(opt_state, (tuple, list)):
        for s in opt_state:
            try:
                return _find_state(s)
            except TypeError:
                pass
    raise TypeError(
        "Expected the state of a lamina optimizer (an `OptimizerState`, as returned by "
        f"`optimizer.to_optax().init(params)`). Received: {type(opt_state).__name__}"
    )


def _replace_state(opt_state, new: OptimizerState):
    if isinstance(opt_state, OptimizerState):
        return new
    if isinstance(opt_state, (tuple, list)):
        items = list(opt_state)
        for i, s in enumerate(items):
            try:
                _find_state(s)
            except TypeError:
                continue
            items[i] = _replace_state(s, new)
            return (
                type(opt_state)(*items) if hasattr(opt_state, "_fields") else type(opt_state)(items)
            )
    raise TypeError(f"No lamina OptimizerState found in {type(opt_state).__name__}.")


def get_iterations(opt_state) -> jax.Array:
    """Returns the iteration counter (int32 scalar array), like Keras's ``optimizer.iterations``.

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> tx = optimizers.SGD().to_optax()
    >>> state = tx.init({"w": jnp.zeros(2)})
    >>> int(optimizers.get_iterations(state))
    0
    """
    return _find_state(opt_state).iterations


def get_learning_rate(opt_state) -> jax.Array:
    """Returns the current learning rate (float32 scalar array).

    For a schedule this is the schedule's value at the current iteration, like Keras's
    ``optimizer.learning_rate``.

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> state = optimizers.Adam(0.01).to_optax().init({"w": jnp.zeros(2)})
    >>> round(float(optimizers.get_learning_rate(state)), 6)
    0.01
    """
    return _find_state(opt_state).learning_rate


def set_learning_rate(opt_state, value):
    """Returns ``opt_state`` with a new learning rate (like ``optimizer.learning_rate = x``).

    Works inside or outside ``jit`` and does not trigger recompilation (the learning rate is
    an array leaf of the state).

    Raises:
        TypeError: the optimizer uses a ``LearningRateSchedule`` (as Keras raises).

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> state = optimizers.SGD(0.1).to_optax().init({"w": jnp.zeros(2)})
    >>> state = optimizers.set_learning_rate(state, 0.5)
    >>> float(optimizers.get_learning_rate(state))
    0.5
    """
    st = _find_state(opt_state)
    if st.lr_is_schedule:
        raise TypeError(
            "This optimizer was created with a `LearningRateSchedule` object as its "
            "`learning_rate` constructor argument, hence its learning rate is not settable. "
            "If you need the learning rate to be settable, you should instantiate the "
            "optimizer with a float `learning_rate` argument."
        )
    new = dataclasses.replace(st, learning_rate=jnp.asarray(value, dtype=jnp.float32))
    return _replace_state(opt_state, new)


def get_ema_params(opt_state):
    """Returns the moving average of the params (``use_ema=True``), or None.

    This is what Keras's ``optimizer.finalize_variable_values`` writes into the model at the
    end of ``fit``.
    """
    return _find_state(opt_state).ema
