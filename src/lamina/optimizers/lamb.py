"""LAMB, as ``keras.optimizers.Lamb`` (Keras 3's update rule, op for op)."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


class Lamb(Optimizer):
    """LAMB: Adam's bias-corrected step scaled per variable by ``||w|| / ||step||``.

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_1: float, default 0.9.
        beta_2: float, default 0.999.
        epsilon: float, default 1e-7.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Lamb(learning_rate=0.1).to_optax()
    >>> p = jnp.array([3.0, 4.0])
    >>> u, s = tx.update(jnp.array([1.0, 1.0]), tx.init(p), p)
    >>> [round(x, 3) for x in optax.apply_updates(p, u).tolist()]
    [2.646, 3.646]
    """

    _extra_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _slot_groups(self):
        return [["momentum", "velocity"]]

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        g = g.astype(dt)
        step = (iterations + 1).astype(dt)
        b1_power = jnp.power(jnp.asarray(self.beta_1, dt), step)
        b2_power = jnp.power(jnp.asarray(self.beta_2, dt), step)
        m = slots["momentum"] + (g - slots["momentum"]) * (1 - self.beta_1)
        vel = slots["velocity"] + (jnp.square(g) - slots["velocity"]) * (1 - self.beta_2)
        m_hat = m / (1.0 - b1_power)
        v_sqrt = jnp.sqrt(vel / (1.0 - b2_power)) + self.epsilon
        update = m_hat / v_sqrt
        w_norm = jnp.sqrt(jnp.sum(jnp.power(v, 2)))
        g_norm = jnp.sqrt(jnp.sum(jnp.power(update, 2)))
        ratio = jnp.where(w_norm > 0, jnp.where(g_norm > 0, w_norm / g_norm, 1.0), 1.0)
        return v - ratio * lr * update, {"momentum": m, "velocity": vel}
