"""``LossScaleOptimizer``: dynamic loss scaling around another optimizer (Keras 3's).

Under ``mixed_float16`` small gradients underflow float16.  The training step multiplies the
loss by the current scale before differentiating, and this optimizer divides the gradients by
it again; then, as ``keras.optimizers.LossScaleOptimizer`` does on every step:

* non-finite gradients: the step is skipped (weights and the inner optimizer's state unchanged)
  and the scale is halved;
* finite gradients: the inner optimizer updates the weights with the unscaled gradients, and
  after ``dynamic_growth_steps`` such steps in a row the scale doubles.

``compile()`` wraps the optimizer in one automatically when the model's dtype policy is
``mixed_float16`` (``auto_scale_loss=True``), as Keras does.  The scale lives in the optimizer
state (:class:`LossScaleState`), so it evolves inside the compiled epoch.

>>> import jax.numpy as jnp
>>> from lamina import optimizers
>>> opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=8.0)
>>> tx = opt.to_optax()
>>> state = tx.init({"w": jnp.zeros(2)})
>>> _, state = tx.update({"w": jnp.array([jnp.inf, 1.0])}, state, {"w": jnp.zeros(2)})
>>> float(state.scale), int(state.counter)
(4.0, 0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers.base import Optimizer

_BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class LossScaleState(NamedTuple):
    """The optimizer state of a :class:`LossScaleOptimizer` (a pytree).

    Attributes:
        inner: the wrapped optimizer's state (``get_learning_rate`` and friends find it).
        scale: float32 scalar, the current loss scale (Keras's ``dynamic_scale``).
        counter: int32 scalar, finite steps since the scale last changed (``step_counter``).
    """

    inner: Any
    scale: Any
    counter: Any


def current_loss_scale(opt_state):
    """The current loss scale of ``opt_state``, or ``None`` when it is not loss scaled (a
    Python-level check: unscaled programs trace no extra operation)."""
    return opt_state.scale if isinstance(opt_state, LossScaleState) else None


class LossScaleOptimizer(Optimizer):
    """An optimizer that dynamically scales the loss to prevent float16 underflow.

    Args:
        inner_optimizer: the :class:`lamina.optimizers.Optimizer` to wrap (or its name).
        initial_scale: the first loss scale (Keras's default ``2**15``).
        dynamic_growth_steps: finite steps after which the scale doubles (default 2000).
        name: the optimizer's name.

    Raises:
        ValueError: ``dynamic=False``, or a base optimizer argument (``clipnorm``, ...): set
            those on the inner optimizer, as Keras says.

    Example:

    >>> from lamina import optimizers
    >>> opt = optimizers.LossScaleOptimizer(optimizers.Adam(1e-3))
    >>> opt.initial_scale, opt.dynamic_growth_steps, round(float(opt.learning_rate), 6)
    (32768.0, 2000, 0.001)
    """

    def __init__(
        self,
        inner_optimizer,
        initial_scale=2.0**15,
        dynamic_growth_steps=2000,
        name=None,
        **kwargs,
    ):
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                "LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                "`loss_scale_factor` directly on the `inner_optimizer`."
            )
        for arg, default in _BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(
                    f"LossScaleOptimizer does not support `{arg}`. Instead, set `{arg}` on the "
                    "`inner_optimizer`."
                )
        kwargs.pop("learning_rate", None)  # Keras's config of the wrapper may carry it
        if kwargs:
            raise ValueError(
                f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`."
            )
        from lamina import optimizers as _optimizers

        inner = _optimizers.get(inner_optimizer)
        if not isinstance(inner, Optimizer):
            raise TypeError(
                "LossScaleOptimizer wraps an optimizer, e.g. LossScaleOptimizer(Adam()). "
                f"Received: inner_optimizer={inner_optimizer!r}."
            )
        if isinstance(initial_scale, bool) or not isinstance(initial_scale, int | float):
            raise ValueError(
                f"`initial_scale` must be a positive float. Received: {initial_scale!r}."
            )
        if initial_scale <= 0:
            raise ValueError(f"`initial_scale` must be > 0. Received: {initial_scale!r}.")
        if (
            isinstance(dynamic_growth_steps, bool)
            or not isinstance(dynamic_growth_steps, int)
            or dynamic_growth_steps < 1
        ):
            raise ValueError(
                "`dynamic_growth_steps` must be an integer >= 1. Received: "
                f"{dynamic_growth_steps!r}."
            )
        self.inner_optimizer = inner
        inner.loss_scale_factor = None  # Keras: the wrapper owns the scaling
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.name = name if name is not None else "loss_scale_optimizer"
        self._exclude_pattern = None

    # The wrapper's own base settings are Keras's defaults; everything else is the inner's.
    weight_decay = clipnorm = clipvalue = global_clipnorm = None
    ema_overwrite_frequency = loss_scale_factor = gradient_accumulation_steps = None
    use_ema = False
    ema_momentum = 0.99
    decay = 0.0

    @property
    def learning_rate(self):
        """The inner optimizer's learning rate."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def lr(self):
        return self.inner_optimizer.lr

    @lr.setter
    def lr(self, value):
        self.inner_optimizer.lr = value

    def get_config(self) -> dict:
        from lamina import optimizers as _optimizers

        return {
            "name": self.name,
            "inner_optimizer": _optimizers.serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from lamina import optimizers as _optimizers

        config = dict(config)
        inner = config.pop("inner_optimizer")
        if isinstance(inner, dict):
            inner = _optimizers.deserialize(inner, custom_objects=custom_objects)
        return cls(inner, **config)

    def __repr__(self):
        return f"LossScaleOptimizer({self.inner_optimizer!r}, name={self.name!r})"

    def to_optax(self) -> optax.GradientTransformation:
        """The transform: ``update`` takes the gradients of the *scaled* loss."""
        inner_tx = self.inner_optimizer.to_optax()
        initial = self.initial_scale
        growth = self.dynamic_growth_steps

        def init_fn(params):
            return LossScaleState(
                inner=inner_tx.init(params),
                scale=jnp.asarray(initial, jnp.float32),
                counter=jnp.zeros((), jnp.int32),
            )

        def update_fn(grads, state, params=None):
            checks = [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]
            finite = jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)

            def apply(_):
                unscaled = jax.tree_util.tree_map(lambda g: g / state.scale.astype(g.dtype), grads)
                updates, inner = inner_tx.update(unscaled, state.inner, params)
                grow = state.counter == growth - 1
                scale = jnp.where(grow, state.scale * 2.0, state.scale)
                counter = jnp.where(grow, 0, state.counter + 1).astype(jnp.int32)
                return updates, LossScaleState(inner, scale, counter)

            def skip(_):
                zeros = jax.tree_util.tree_map(jnp.zeros_like, grads)
                return zeros, LossScaleState(
                    state.inner, state.scale * 0.5, jnp.zeros((), jnp.int32)
                )

            return jax.lax.cond(finite, apply, skip, None)

        return optax.GradientTransformation(init_fn, update_fn)


# ------------------------------------------------------------------ Keras's variable layout
def wrapper_variables(optimizer, opt_state, variable_names, order=None) -> list:
    """The state as Keras's ``LossScaleOptimizer.variables``: its own ``iteration`` and
    ``learning_rate`` (unused, 0), ``step_counter``, ``dynamic_scale``, then the inner
    optimizer's variables (see :func:`lamina.optimizers.slot_variables`)."""
    from lamina.optimizers.slots import slot_variables

    own = [
        ("iteration", jnp.zeros((), jnp.int32)),
        ("learning_rate", jnp.zeros((), jnp.float32)),
        ("step_counter", opt_state.counter),
        ("dynamic_scale", opt_state.scale),
    ]
    inner = slot_variables(optimizer.inner_optimizer, opt_state.inner, variable_names, order)
    return own + inner


def set_wrapper_variables(optimizer, opt_state, values, order=None) -> LossScaleState:
    """Inverse of :func:`wrapper_variables` (values in Keras's order)."""
    from lamina.optimizers.slots import set_slot_variables

    values = list(values)
    if len(values) < 4:
        raise ValueError(
            f"Expected at least 4 optimizer variables for LossScaleOptimizer (iteration, "
            f"learning_rate, step_counter, dynamic_scale, then the inner optimizer's), "
            f"received {len(values)}."
        )
    inner = set_slot_variables(optimizer.inner_optimizer, opt_state.inner, values[4:], order)
    return LossScaleState(
        inner=inner,
        scale=jnp.asarray(values[3], jnp.float32).reshape(()),
        counter=jnp.asarray(values[2], jnp.int32).reshape(()),
    )
