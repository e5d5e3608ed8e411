"""Schedule-Free AdamW, as ``keras.optimizers.ScheduleFreeAdamW`` (Keras 3's update, op for op).

``optax.contrib.schedule_free_adamw`` implements the same idea with other conventions (its
parameters are the averaged sequence, its warmup and weighting differ), so this follows Keras's
formulas directly.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers.base import Optimizer
from lamina.optimizers.state import _find_state, _replace_state


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule needed.

    The weights ``y`` are an interpolation between the sequence ``z`` (the ``momentum`` slot,
    where Adam-scaled gradient steps are taken; it starts as a copy of the weights) and its
    running average ``x``.  Per step ``t`` (from 1)::

        v = v + (g**2 - v) * (1 - beta_2);  z = z - lr * g / (sqrt(v / (1 - beta_2**t)) + eps)
        x = (1 - 1/t) * (y - (1 - beta_1) * z_old) / beta_1 + z / t
        y = (1 - beta_1) * z + beta_1 * x

    with ``lr`` ramped up linearly over ``warmup_steps``.

    Args:
        learning_rate: float or schedule, default 0.0025.
        beta_1: float, default 0.9 (interpolation between ``z`` and ``x``).
        beta_2: float, default 0.999.
        epsilon: float, default 1e-8.
        warmup_steps: int, default 0.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.ScheduleFreeAdamW(learning_rate=0.1).to_optax()
    >>> p = jnp.array([1.0, 2.0])
    >>> u, s = tx.update(jnp.array([1.0, -1.0]), tx.init(p), p)
    >>> [round(x, 3) for x in optax.apply_updates(p, u).tolist()]
    [0.9, 2.1]
    """

    _extra_keys = ("beta_1", "beta_2", "epsilon", "warmup_steps")

    def __init__(
        self,
        learning_rate=0.0025,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        warmup_steps=0,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps

    def _slot_groups(self):
        return [["momentum", "velocity"]]

    def to_optax(self) -> optax.GradientTransformation:
        """As :meth:`Optimizer.to_optax`; the ``momentum`` slot starts as the weights.

        Keras copies the weights when the optimizer is built (at the first step), so the
        copy is taken again at step 0: weights set after ``compile`` are the starting point.
        """
        base = super().to_optax()

        def with_weights(state, params):
            st = _find_state(state)
            first = st.iterations == 0
            momentum = jax.tree_util.tree_map(
                lambda m, p: jnp.where(first, jnp.asarray(p, m.dtype), m),
                st.slots["momentum"],
                params,
            )
            new = dataclasses.replace(st, slots={**st.slots, "momentum": momentum})
            return _replace_state(state, new)

        def init_fn(params):
            return with_weights(base.init(params), params)

        def update_fn(updates, state, params=None):
            if params is not None:
                state = with_weights(state, params)
            return base.update(updates, state, params)

        return optax.GradientTransformation(init_fn, update_fn)

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        g = g.astype(dt)
        step = (iterations + 1).astype(dt)
        beta_1 = jnp.asarray(self.beta_1, dt)
        beta_2 = jnp.asarray(self.beta_2, dt)
        epsilon = jnp.asarray(self.epsilon, dt)
        if self.warmup_steps > 0:
            lr = lr * jnp.minimum(step / jnp.asarray(self.warmup_steps, dt), 1.0)
        momentum_old = slots["momentum"]
        bias_correction_2 = 1 - jnp.power(beta_2, step)
        velocity = slots["velocity"] + (jnp.square(g) - slots["velocity"]) * (1 - beta_2)
        denom = jnp.sqrt(velocity / bias_correction_2) + epsilon
        momentum = momentum_old - (lr * g) / denom
        weight = 1.0 / step
        x_old = (v - (1 - beta_1) * momentum_old) / beta_1
        x_new = (1 - weight) * x_old + weight * momentum
        y_new = (1 - beta_1) * momentum + beta_1 * x_new
        return y_new, {"momentum": momentum, "velocity": velocity}
