"""Adam family (Adam, AdamW, Adamax, Nadam), as ``keras.optimizers.*``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


def _step_f32(iterations, offset, dtype):
    return (iterations + offset).astype(dtype)


class Adam(Optimizer):
    """Adam, Keras 3 formulas (epsilon added to ``sqrt(v)``, bias correction in the rate).

    ``m += (g - m) * (1 - beta_1)``; ``v += (g**2 - v) * (1 - beta_2)``;
    ``w -= m * lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) / (sqrt(v) + epsilon)`` with
    ``t = iterations + 1``; ``amsgrad`` uses ``max`` of past ``v``.

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_1: float, default 0.9.
        beta_2: float, default 0.999.
        epsilon: float, default 1e-7.
        amsgrad: bool, default False.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Adam(learning_rate=0.1).to_optax()
    >>> params = jnp.array([1.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jnp.array([0.5]), state, params)
    >>> round(optax.apply_updates(params, updates).tolist()[0], 4)
    0.9
    """

    _extra_keys = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()
        self.amsgrad = bool(amsgrad)

    def _slot_groups(self):
        groups = [["momentum", "velocity"]]
        if self.amsgrad:
            groups.append(["velocity_hat"])
        return groups

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        local_step = _step_f32(iterations, 1, dt)
        beta_1_power = jnp.power(jnp.asarray(self.beta_1, dt), local_step)
        beta_2_power = jnp.power(jnp.asarray(self.beta_2, dt), local_step)
        m, vel = slots["momentum"], slots["velocity"]
        alpha = lr * jnp.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m = m + (g - m) * (1 - self.beta_1)
        vel = vel + (jnp.square(g) - vel) * (1 - self.beta_2)
        new = {"momentum": m, "velocity": vel}
        denom_v = vel
        if self.amsgrad:
            v_hat = jnp.maximum(slots["velocity_hat"], vel)
            new["velocity_hat"] = v_hat
            denom_v = v_hat
        return v - (m * alpha) / (jnp.sqrt(denom_v) + self.epsilon), new


class AdamW(Adam):
    """Adam with decoupled weight decay (``w -= w * weight_decay * lr`` before each update).

    Args:
        learning_rate: float or schedule, default 0.001.
        weight_decay: float, default 0.004 (required).
        beta_1: float, default 0.9.
        beta_2: float, default 0.999.
        epsilon: float, default 1e-7.
        amsgrad: bool, default False.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.AdamW(weight_decay=0.01).get_config()["weight_decay"]
    0.01
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm), Keras 3 formulas.

    ``m += (g - m) * (1 - beta_1)``; ``u = max(beta_2 * u, |g|)``;
    ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``.

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_1: float, default 0.9.
        beta_2: float, default 0.999.
        epsilon: float, default 1e-7.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Adamax(learning_rate=0.1).to_optax()
    >>> p = jnp.array([1.0])
    >>> u, s = tx.update(jnp.array([2.0]), tx.init(p), p)
    >>> round(optax.apply_updates(p, u).tolist()[0], 4)
    0.9
    """

    _extra_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()

    def _slot_groups(self):
        return [["momentum", "norm"]]

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        local_step = _step_f32(iterations, 1, dt)
        beta_1_power = jnp.power(jnp.asarray(self.beta_1, dt), local_step)
        m, u = slots["momentum"], slots["norm"]
        m = m + (g - m) * (1 - self.beta_1)
        u = jnp.maximum(self.beta_2 * u, jnp.abs(g))
        new_v = v - (lr * m) / ((1 - beta_1_power) * (u + self.epsilon))
        return new_v, {"momentum": m, "norm": u}


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum and Keras's momentum-cache schedule).

    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``; the product of the ``u_t`` is kept in the state
    (``state.extra["variable"]``, Keras's unnamed ``_u_product`` variable).

    Args:
        learning_rate: float or schedule, default 0.001.
        beta_1: float, default 0.9.
        beta_2: float, default 0.999.
        epsilon: float, default 1e-7.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.Nadam().get_config()["beta_2"]
    0.999
    """

    _extra_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()

    def _slot_groups(self):
        return [["momentum", "velocity"]]

    def _init_extra(self):
        return {"variable": jnp.ones((), jnp.float32)}

    def _pre_step(self, extra, iterations):
        u = extra["variable"]
        t = _step_f32(iterations, 1, u.dtype)
        u = u * self.beta_1 * (1.0 - 0.5 * jnp.power(jnp.asarray(0.96, u.dtype), t))
        return {"variable": u}

    def _update_one(self, g, v, slots, lr, iterations, extra):
        dt = v.dtype
        local_step = _step_f32(iterations, 1, dt)
        next_step = _step_f32(iterations, 2, dt)
        decay = jnp.asarray(0.96, dt)
        beta_1 = jnp.asarray(self.beta_1, dt)
        beta_2 = jnp.asarray(self.beta_2, dt)
        u_t = beta_1 * (1.0 - 0.5 * jnp.power(decay, local_step))
        u_t_1 = beta_1 * (1.0 - 0.5 * jnp.power(decay, next_step))
        u_product_t = extra["variable"].astype(dt)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = jnp.power(beta_2, local_step)
        m, vel = slots["momentum"], slots["velocity"]
        m = m + (g - m) * (1 - beta_1)
        vel = vel + (jnp.square(g) - vel) * (1 - beta_2)
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
        v_hat = vel / (1 - beta_2_power)
        new_v = v - (m_hat * lr) / (jnp.sqrt(v_hat) + self.epsilon)
        return new_v, {"momentum": m, "velocity": vel}
