"""Adafactor, as ``keras.optimizers.Adafactor`` (Keras 3's update rule, op for op)."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


class Adafactor(Optimizer):
    """Adafactor: second moments factored into row and column averages for matrices.

    Per step ``t`` (from 1), with ``rho = min(lr, 1/sqrt(t))``,
    ``alpha = max(epsilon_2, rms(w)) * rho`` and ``beta = 1 - t**beta_2_decay``: rank >= 2
    variables keep row (``r``) and column (``c``) averages of ``g**2 + epsilon_1`` and use
    ``v = r / mean(r) (outer) c``; others keep ``v`` itself. The update ``u = g / sqrt(v)`` is
    divided by ``max(1, rms(u) / clip_threshold)`` and ``w -= alpha * u``.

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_2_decay: float, default -0.8.
        epsilon_1: float, default 1e-30 (added to the squared gradients).
        epsilon_2: float, default 1e-3 (floor of the variable's RMS).
        clip_threshold: float, default 1.0.
        relative_step: bool, default True (as Keras: the step is ``min(lr, 1/sqrt(t))``).
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Adafactor(learning_rate=0.5).to_optax()
    >>> p = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    >>> u, s = tx.update({"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, tx.init(p), p)
    >>> [round(v, 4) for v in optax.apply_updates(p, u)["b"].tolist()]
    [0.5, 0.5, 0.5]
    """

    _extra_keys = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    def __init__(
        self,
        learning_rate=0.001,
        beta_2_decay=-0.8,
        epsilon_1=1e-30,
        epsilon_2=1e-3,
        clip_threshold=1.0,
        relative_step=True,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def _slot_groups(self):
        return [["r", "c", "velocity"]]

    def _slot_variable_name(self, flat_name, short_name, slot, value):
        """Keras's names: the factored ``r``/``c`` are named as their variable (``kernel``);
        a variable of rank < 2 has scalar placeholders made outside the name scope."""
        if slot not in ("r", "c"):  # velocity, and the EMA and accumulator slots
            return f"{flat_name}_{slot}"
        from lamina.optimizers.slots import Unscoped

        return short_name if jnp.ndim(value) else Unscoped(short_name)

    def _slot_shape(self, name, shape):
        shape = tuple(shape)
        if name == "velocity":
            return shape
        if len(shape) < 2:
            return ()  # unused: Keras keeps a scalar placeholder
        return shape[:-1] if name == "r" else shape[:-2] + shape[-1:]

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        g = g.astype(dt)
        one = jnp.asarray(1.0, dt)
        step = (iterations + 1).astype(dt)
        rho = jnp.minimum(lr, 1 / jnp.sqrt(step))
        alpha = jnp.maximum(jnp.asarray(self.epsilon_2, dt), _rms(v)) * rho
        grad_sq = jnp.square(g) + self.epsilon_1
        beta = 1 - jnp.power(step, self.beta_2_decay)
        r, c, vel = slots["r"], slots["c"], slots["velocity"]
        if v.ndim >= 2:
            r = beta * r + (1 - beta) * jnp.mean(grad_sq, axis=-1)
            c = beta * c + (1 - beta) * jnp.mean(grad_sq, axis=-2)
            vel = jnp.expand_dims(r / jnp.mean(r, axis=-1, keepdims=True), -1) * jnp.expand_dims(
                c, -2
            )
        else:
            vel = beta * vel + (1 - beta) * grad_sq
        u = g / jnp.sqrt(vel)
        u_hat = u / jnp.maximum(one, _rms(u) / self.clip_threshold)
        return v - alpha * u_hat, {"r": r, "c": c, "velocity": vel}
