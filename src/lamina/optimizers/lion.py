"""Lion and Ftrl, as ``keras.optimizers.*``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


class Lion(Optimizer):
    """Lion (sign of an interpolated momentum), Keras 3 formulas.

    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``; ``m = beta_2 * m + (1 - beta_2) * g``.

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_1: float in (0, 1], default 0.9.
        beta_2: float, default 0.99.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Lion(learning_rate=0.1).to_optax()
    >>> p = jnp.array([1.0])
    >>> u, s = tx.update(jnp.array([3.0]), tx.init(p), p)
    >>> round(optax.apply_updates(p, u).tolist()[0], 4)
    0.9
    """

    _extra_keys = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def _slot_groups(self):
        return [["momentum"]]

    def _update_one(self, g, v, slots, lr, iterations, extra):
        beta_1 = jnp.asarray(self.beta_1, v.dtype)
        beta_2 = jnp.asarray(self.beta_2, v.dtype)
        m = slots["momentum"]
        new_v = v - lr * jnp.sign(m * beta_1 + g * (1.0 - beta_1))
        m = m * beta_2 + g * (1.0 - beta_2)
        return new_v, {"momentum": m}


class Ftrl(Optimizer):
    """FTRL-Proximal, Keras 3 formulas (with L1, L2 and L2-shrinkage regularization).

    Args:
        learning_rate: float or schedule, default 0.001.
        learning_rate_power: float <= 0, default -0.5.
        initial_accumulator_value: float >= 0, default 0.1.
        l1_regularization_strength: float >= 0.
        l2_regularization_strength: float >= 0.
        l2_shrinkage_regularization_strength: float >= 0.
        beta: float, default 0.0.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.Ftrl(l1_regularization_strength=0.01).get_config()["learning_rate_power"]
    -0.5
    """

    _extra_keys = (
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
    )

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if initial_accumulator_value < 0.0:
            raise ValueError(
                "`initial_accumulator_value` needs to be positive or zero. Received: "
                f"initial_accumulator_value={initial_accumulator_value}."
            )
        if learning_rate_power > 0.0:
            raise ValueError(
                "`learning_rate_power` needs to be negative or zero. Received: "
                f"learning_rate_power={learning_rate_power}."
            )
        for arg, val in (
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
        ):
            if val < 0.0:
                raise ValueError(f"`{arg}` needs to be positive or zero. Received: {arg}={val}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _slot_groups(self):
        return [["accumulator", "linear"]]

    def _slot_init_values(self):
        return {"accumulator": self.initial_accumulator_value}

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        accum, linear = slots["accumulator"], slots["linear"]
        power = jnp.asarray(-self.learning_rate_power, dt)
        l2_reg = self.l2_regularization_strength + self.beta / (2.0 * lr)
        grad_to_use = g + (2 * self.l2_shrinkage_regularization_strength) * v
        new_accum = accum + jnp.square(g)
        linear = linear + (
            grad_to_use - ((jnp.power(new_accum, power) - jnp.power(accum, power)) / lr) * v
        )
        quadratic = jnp.power(new_accum, power) / lr + 2 * l2_reg
        l1 = self.l1_regularization_strength
        linear_clipped = jnp.clip(linear, -l1, l1)
        new_v = (linear_clipped - linear) / quadratic
        return new_v, {"accumulator": new_accum, "linear": linear}
