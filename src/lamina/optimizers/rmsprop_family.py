"""RMSprop, Adagrad and Adadelta, as ``keras.optimizers.*``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop, Keras 3 formulas (epsilon inside the square root).

    ``v = rho * v + (1 - rho) * g**2``; ``step = lr * g / sqrt(v + epsilon)`` (centered:
    ``sqrt(v - mg**2 + epsilon)`` with ``mg`` the moving mean gradient); with momentum
    ``mom = momentum * mom + step; w -= mom``, else ``w -= step``.

    Args:
        learning_rate: float or schedule, default 0.001.
        rho: float, default 0.9.
        momentum: float, default 0.0.
        epsilon: float, default 1e-7.
        centered: bool, default False.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.RMSprop(learning_rate=0.01).to_optax()
    >>> p = jnp.array([1.0])
    >>> u, s = tx.update(jnp.array([1.0]), tx.init(p), p)
    >>> round(optax.apply_updates(p, u).tolist()[0], 4)
    0.9684
    """

    _extra_keys = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if momentum < 0 or momentum > 1:
            raise ValueError(
                f"`momentum` must be in the range [0, 1]. Received: momentum={momentum}"
            )
        self.rho = rho
        self.momentum = momentum
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()
        self.centered = bool(centered)

    def _slot_groups(self):
        groups = [["velocity"]]
        if self.momentum > 0:
            groups.append(["momentum"])
        if self.centered:
            groups.append(["average_gradient"])
        return groups

    def _update_one(self, g, v, slots, lr, iterations, extra):
        rho = self.rho
        velocity = rho * slots["velocity"] + (1 - rho) * jnp.square(g)
        new = {"velocity": velocity}
        if self.centered:
            average_grad = rho * slots["average_gradient"] + (1 - rho) * g
            new["average_gradient"] = average_grad
            denominator = velocity - jnp.square(average_grad) + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = (lr * g) / jnp.sqrt(denominator)
        if self.momentum > 0:
            mom = self.momentum * slots["momentum"] + increment
            new["momentum"] = mom
            return v - mom, new
        return v - increment, new


class Adagrad(Optimizer):
    """Adagrad, Keras 3 formulas: ``acc += g**2``; ``w -= lr * g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: float or schedule, default 0.001.
        initial_accumulator_value: float, default 0.1.
        epsilon: float, default 1e-7.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Adagrad(learning_rate=0.1).to_optax()
    >>> p = jnp.array([1.0])
    >>> u, s = tx.update(jnp.array([1.0]), tx.init(p), p)
    >>> round(optax.apply_updates(p, u).tolist()[0], 4)
    0.9047
    """

    _extra_keys = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(
                "`initial_accumulator_value` must be >= 0. "
                f"Received: initial_accumulator_value={initial_accumulator_value}"
            )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()

    def _slot_groups(self):
        return [["accumulator"]]

    def _slot_init_values(self):
        return {"accumulator": self.initial_accumulator_value}

    def _update_one(self, g, v, slots, lr, iterations, extra):
        acc = slots["accumulator"] + jnp.square(g)
        return v - (lr * g) / jnp.sqrt(acc + self.epsilon), {"accumulator": acc}


class Adadelta(Optimizer):
    """Adadelta, Keras 3 formulas (note Keras keeps a learning rate, default 0.001).

    ``Eg = rho * Eg + (1 - rho) * g**2``;
    ``d = -sqrt(Ed + eps) * g / sqrt(Eg + eps)``; ``Ed = rho * Ed + (1 - rho) * d**2``;
    ``w += lr * d``.

    Args:
        learning_rate: float or schedule, default 0.001.
        rho: float, default 0.95.
        epsilon: float, default 1e-7.
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Example:

    >>> from lamina import optimizers
    >>> optimizers.Adadelta().get_config()["rho"]
    0.95
    """

    _extra_keys = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = 1e-7 if epsilon is None else epsilon  # Keras 2: None = K.epsilon()

    def _slot_groups(self):
        return [["accumulated_grad", "accumulated_delta_var"]]

    def _update_one(self, g, v, slots, lr, iterations, extra):
        rho = self.rho

        def rms(x):
            return jnp.sqrt(x + self.epsilon)

        acc_g = rho * slots["accumulated_grad"] + (1 - rho) * jnp.square(g)
        acc_d = slots["accumulated_delta_var"]
        delta_var = -((rms(acc_d) * g) / rms(acc_g))
        acc_d = rho * acc_d + (1 - rho) * jnp.square(delta_var)
        new = {"accumulated_grad": acc_g, "accumulated_delta_var": acc_d}
        return v + lr * delta_var, new
