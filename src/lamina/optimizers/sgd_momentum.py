"""SGD (with optional momentum / Nesterov), as ``keras.optimizers.SGD``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.optimizers.base import Optimizer


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras 3 formulas.

    ``velocity = momentum * velocity - lr * g``; ``w += velocity`` (or, with Nesterov,
    ``w += momentum * velocity - lr * g``); without momentum ``w -= lr * g``.

    Args:
        learning_rate: float or schedule, default 0.01.
        momentum: float in [0, 1], default 0.0.
        nesterov: bool, default False.
        **kwargs: the common arguments of :class:`~lamina.optimizers.Optimizer`
            (``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``use_ema``,
            ``ema_momentum``, ``ema_overwrite_frequency``, ``loss_scale_factor``,
            ``gradient_accumulation_steps``, ``name``).

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.SGD(learning_rate=0.1, momentum=0.9).to_optax()
    >>> params = jnp.array([1.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jnp.array([1.0]), state, params)
    >>> optax.apply_updates(params, updates).tolist()
    [0.8999999761581421]
    """

    _extra_keys = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or momentum < 0
            or momentum > 1
        ):
            raise ValueError(
                f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}"
            )
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_groups(self):
        return [["momentum"]] if self.momentum != 0 else []

    def _update_one(self, g, v, slots, lr, iterations, extra):
        if self.momentum == 0:
            return v - g * lr, {}
        momentum = jnp.asarray(self.momentum, v.dtype)
        m = slots["momentum"] * momentum - g * lr
        if self.nesterov:
            return v + (m * momentum - g * lr), {"momentum": m}
        return v + m, {"momentum": m}
