"""Keras-3-compatible optimizer base class: its arguments, learning rate and config.

An optimizer here is a small, hashable *configuration* object (same constructor arguments,
defaults and ``get_config`` keys as ``keras.optimizers.*``).  ``to_optax()`` turns it into an
``optax.GradientTransformation`` whose updates are *added* to the parameters
(``optax.apply_updates``), reproducing Keras's update formulas in Keras's op order so results
agree to float32 rounding; the per-step pipeline (loss scaling, gradient accumulation,
clipping, weight decay, the update rule, EMA) is :mod:`lamina.optimizers.transform`.

The top-level state is an :class:`~lamina.optimizers.state.OptimizerState` whose
``iterations`` (int32) and ``learning_rate`` (float32) are scalar arrays: training loops and
callbacks read and change them with :func:`~lamina.optimizers.get_iterations`,
:func:`~lamina.optimizers.get_learning_rate` and :func:`~lamina.optimizers.set_learning_rate`
without recompiling.  Keras's stateless API (``build``, ``variables``, ``stateless_apply``)
comes from :class:`~lamina.optimizers.stateless.StatelessOptimizerMixin`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lamina._naming import snake_case, unique_name
from lamina.optimizers import schedules as _schedules
from lamina.optimizers.keras2 import LearningRate, keras2_arguments, live_lr, models_using
from lamina.optimizers.stateless import StatelessOptimizerMixin
from lamina.optimizers.transform import optax_transform

__all__ = ["Optimizer"]


def _freeze(x):
    if isinstance(x, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(v) for v in x)
    return x


_BASE_KEYS = (
    "name",
    "learning_rate",
    "weight_decay",
    "clipnorm",
    "global_clipnorm",
    "clipvalue",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)


# --------------------------------------------------------------------------------------------
# Optimizer
# --------------------------------------------------------------------------------------------


class Optimizer(StatelessOptimizerMixin):
    """Base class of lamina optimizers (mirrors ``keras.optimizers.Optimizer``'s arguments).

    Subclasses define ``_slot_groups()`` (Keras's slot names, in build order), optionally
    ``_slot_init_values()`` and ``_init_extra()``, and ``_update_one(...)``/``_pre_step(...)``.

    Args:
        learning_rate: float >= 0 or a :class:`~lamina.optimizers.schedules.LearningRateSchedule`
            (Keras 2's ``lr=`` is accepted too).
        decay: Keras 2's time-based decay: each update uses
            ``learning_rate / (1 + decay * iterations)``. Default 0 (off).
        weight_decay: float or None. If set, ``var -= var * weight_decay * lr`` before each
            update (variables excluded with :meth:`exclude_from_weight_decay` are skipped).
        clipnorm: float or None. Clip each gradient to this L2 norm.
        clipvalue: float or None. Clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: float or None. Clip all gradients to this global L2 norm.
        use_ema: bool. Keep an exponential moving average of the weights.
        ema_momentum: float in [0, 1]. EMA momentum.
        ema_overwrite_frequency: int >= 1 or None. Overwrite weights with the EMA every N steps.
        loss_scale_factor: float or None. Gradients are divided by it.
        gradient_accumulation_steps: int >= 2 or None. Average gradients over N steps.
        name: str. Defaults to the snake-cased class name (Keras would add ``_1``, ``_2``
            suffixes; lamina keeps names deterministic so equal configs compare equal).

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> opt = optimizers.SGD(learning_rate=0.1)
    >>> tx = opt.to_optax()
    >>> params = {"w": jnp.array([1.0, 2.0])}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"w": jnp.array([1.0, 1.0])}, state, params)
    >>> optax.apply_updates(params, updates)["w"].tolist()
    [0.8999999761581421, 1.899999976158142]
    """

    _extra_keys: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        learning_rate, decay = keras2_arguments(type(self).__name__, learning_rate, kwargs)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        # Keras names optimizers as layers: adam, adam_1, ... (its variables' paths use it).
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        if isinstance(learning_rate, dict):
            learning_rate = _schedules.deserialize(learning_rate)
        if isinstance(learning_rate, str) and not type(self).__module__.startswith("lamina."):
            raise ValueError(  # Keras 3's type for a learning rate that is not a number
                f"{type(self).__name__} called Optimizer.__init__({learning_rate!r}, ...): "
                "tf.keras 2's OptimizerV2 signature (name first), whose custom optimizers "
                "(_set_hyper, add_slot, _resource_apply_dense) Lamina does not support. Use a "
                "built-in optimizer (SGD(learning_rate=..., momentum=0.9) for momentum), "
                "or pass learning_rate=... and name=... as keywords."
            )
        if isinstance(learning_rate, _schedules.LearningRateSchedule):
            self.learning_rate = learning_rate
        else:
            if isinstance(learning_rate, bool) or not isinstance(
                learning_rate, (int, float, np.floating, np.integer)
            ):
                raise ValueError(
                    "Argument `learning_rate` should be float, or an instance of "
                    f"LearningRateSchedule. Received instead: learning_rate={learning_rate!r}"
                )
            if not np.isfinite(learning_rate) or learning_rate < 0:
                raise ValueError(
                    "Argument `learning_rate` must be a finite float >= 0. "
                    f"Received: learning_rate={learning_rate}"
                )
            self.learning_rate = float(learning_rate)
        for arg, val in (
            ("weight_decay", weight_decay),
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float))):
                raise ValueError(
                    f"Argument `{arg}` must be a float or None. Received: {arg}={val!r}"
                )
            if val is not None and val < 0:
                raise ValueError(f"Argument `{arg}` must be >= 0. Received: {arg}={val}")
        # Keras 3 takes one of the three; Keras 2 (``SGD(lr=0.01, clipnorm=1., clipvalue=0.5)``
        # in its books) clipped by value, then by norm: only the two norms exclude each other.
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(
                "Only one of `clipnorm` and `global_clipnorm` can be set (`clipvalue` may join "
                f"either, as in Keras 2). Received: clipnorm={clipnorm}, "
                f"global_clipnorm={global_clipnorm}"
            )
        if gradient_accumulation_steps:
            if not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2:
                raise ValueError(
                    "`gradient_accumulation_steps` must be an integer >= 2. "
                    f"Received: gradient_accumulation_steps={gradient_accumulation_steps}"
                )
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(
                    f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}"
                )
            if ema_overwrite_frequency and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency}"
                )
        if loss_scale_factor is not None and loss_scale_factor == 0:
            raise ValueError("`loss_scale_factor` must be non-zero. Received: 0")
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.decay = decay
        self._exclude_pattern: str | None = None

    @property
    def learning_rate(self):
        """Keras 3's ``optimizer.learning_rate``: the rate the next step uses.

        A constant rate is a :class:`LearningRate` (a float32 scalar, as Keras's float32
        variable reads, with Keras's variable methods ``assign``/``numpy``) that reads the
        rate the optimizer's models train with, so it follows ``LearningRateScheduler`` and
        ``ReduceLROnPlateau``.  With a schedule it is the schedule's value at
        :attr:`iterations` (a float32 scalar array), as in Keras.  Inside a custom step it is
        the step's own (traced) rate.  Assigning a float sets the rate of the compiled models
        without recompiling; assigning a schedule replaces it.

        >>> from lamina import optimizers
        >>> opt = optimizers.SGD(0.1)
        >>> float(opt.learning_rate), opt.learning_rate.numpy()
        (0.10000000149011612, array(0.1, dtype=float32))
        >>> opt.learning_rate = 0.05; opt.learning_rate == 0.05
        np.True_
        >>> sched = optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        >>> round(float(optimizers.SGD(sched).learning_rate), 4)
        0.1
        """
        raw = self.__dict__.get("_learning_rate")
        if isinstance(raw, _schedules.LearningRateSchedule):
            return jnp.asarray(raw(self.iterations), jnp.float32)
        from lamina import stateless_scope

        live = stateless_scope.learning_rate(self)
        if live is not None:
            if isinstance(live, jax.core.Tracer):
                return live  # inside a custom step: the traced rate
            return LearningRate(live, self)
        models = models_using(self)
        value = live_lr(models[0]) if models else raw
        return LearningRate(value, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, np.generic):
            # ``opt.learning_rate = opt.learning_rate * 0.5`` gives a float32 scalar: keep
            # the configuration a Python number (``get_config``, callbacks read it so).
            value = value.item()
        self.__dict__["_learning_rate"] = value
        if isinstance(value, _schedules.LearningRateSchedule) or self.__dict__.get("_setting"):
            return
        try:
            rate = float(np.asarray(value))
        except (TypeError, ValueError):
            return
        # Keras's rate is a variable: setting it (a callback's ``optimizer.learning_rate =``
        # mid-fit, Géron's 1cycle schedule) changes the compiled models' rate at once.
        from lamina.callbacks.extra import set_lr
        from lamina.models.state_access import models_training_with

        self.__dict__["_setting"] = True
        try:
            for model in models_training_with(self):
                set_lr(model, rate)
        finally:
            self.__dict__["_setting"] = False
        from lamina.optimizers.multi_models import follow_inner_rate

        follow_inner_rate(self, rate)  # an optimizer inside a MultiOptimizer

    # Keras 2 named the learning rate ``lr`` (``optimizer.lr``, ``K.set_value(opt.lr, x)``).
    @property
    def lr(self):
        """Keras 2's ``optimizer.lr``: the current learning rate as a :class:`LearningRate`
        (a float32 scalar with Keras's variable methods ``assign``/``numpy``), so
        ``K.set_value(model.optimizer.lr, 0.001)`` changes the rate of the compiled models
        that use this optimizer, without recompiling.  A schedule is returned as it is.
        """
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            return self._learning_rate
        models = models_using(self)
        value = live_lr(models[0]) if models else self._learning_rate
        return LearningRate(value, self)

    @lr.setter
    def lr(self, value):
        if isinstance(value, _schedules.LearningRateSchedule):
            self.learning_rate = value
            return
        LearningRate(float(value), self).assign(value)

    # ---------------------------------------------------------------- config / identity
    def get_config(self) -> dict:
        """Returns the Keras-format config dict (same keys as ``keras.optimizers.*``)."""
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(self._learning_rate)
        else:
            # Keras reads the float32 variable back: report the float32-rounded value.
            lr = float(np.float32(self._learning_rate))
        config = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        for k in self._extra_keys:
            config[k] = getattr(self, k)
        if self.decay:
            config["decay"] = self.decay  # Keras 2's key; absent (as in Keras 3) when unused
        return config

    @classmethod
    def from_config(cls, config: dict):
        """Creates an optimizer from :meth:`get_config` output (or a Keras config)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def _key(self):
        # The name changes nothing computed (``adam`` and ``adam_1`` share programs).
        config = {k: v for k, v in self.get_config().items() if k != "name"}
        return (type(self), _freeze(config), self._exclude_pattern)

    def __eq__(self, other):
        return isinstance(other, Optimizer) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        lr = self._learning_rate
        return f"{type(self).__name__}(learning_rate={lr!r}, name={self.name!r})"

    def exclude_from_weight_decay(self, var_names: Sequence[str] | None = None):
        """Excludes variables whose name matches any of ``var_names`` from weight decay.

        As Keras, each entry is a regular expression searched in the variable name; here the
        name is the ``/``-joined pytree key path of the parameter (e.g. ``"dense/bias"``).
        Returns ``self``.
        """
        self._exclude_pattern = "|".join(sorted(set(var_names))) if var_names else None
        return self

    # ---------------------------------------------------------------- subclass hooks
    def _slot_groups(self) -> list[list[str]]:
        """Slot names in Keras's build order: each group is interleaved per variable."""
        return []

    def _slot_init_values(self) -> dict[str, float]:
        return {}

    def _slot_shape(self, name: str, shape: tuple) -> tuple:
        """The shape of slot ``name`` for a variable of ``shape`` (Adafactor's factored
        slots differ; every other optimizer's slots have the variable's shape)."""
        return tuple(shape)

    def _init_extra(self) -> dict[str, jax.Array]:
        return {}

    def _pre_step(self, extra, iterations):
        return extra

    def _update_one(self, g, v, slots, lr, iterations, extra):  # pragma: no cover
        raise NotImplementedError

    # ---------------------------------------------------------------- transform
    def _slot_names(self) -> list[str]:
        return [n for group in self._slot_groups() for n in group]

    def _lr_at(self, iterations):
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            return jnp.asarray(self._learning_rate(iterations), dtype=jnp.float32)
        return None

    def to_optax(self) -> optax.GradientTransformation:
        """Returns the ``optax.GradientTransformation`` implementing this optimizer.

        ``update(grads, state, params)`` needs ``params`` (weight decay, EMA and the update
        rules are written on the variable values, as in Keras).  The returned updates are
        ``new_params - params``; apply them with ``optax.apply_updates``.
        """
        return optax_transform(self)
