"""Keras-3-compatible optimizer base class, the optimizer state and its accessors.

An optimizer here is a small, hashable *configuration* object (same constructor arguments,
defaults and ``get_config`` keys as ``keras.optimizers.*``).  ``to_optax()`` turns it into an
``optax.GradientTransformation`` whose updates are *added* to the parameters
(``optax.apply_updates``), reproducing Keras's update formulas in Keras's op order so results
agree to float32 rounding.

Per step the transform follows ``keras.optimizers.Optimizer.apply`` on the JAX backend:

1. gradients are divided by ``loss_scale_factor`` (if set);
2. gradient accumulation (``gradient_accumulation_steps``) averages micro-batch gradients and
   only updates on every N-th call;
3. gradient clipping (``clipnorm`` per variable, ``global_clipnorm``, or ``clipvalue``);
4. weight decay ``var -= var * weight_decay * lr`` (before the update, skipping excluded names);
5. the optimizer's own update rule;
6. exponential moving average of the weights (``use_ema``), with optional overwrite;
7. ``iterations += 1``.

The top-level state is an :class:`OptimizerState` whose ``iterations`` (int32) and
``learning_rate`` (float32) are scalar arrays: training loops and callbacks read and change
them with :func:`get_iterations`, :func:`get_learning_rate` and :func:`set_learning_rate`
without recompiling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lamina._naming import snake_case
from lamina.optimizers import schedules as _schedules
from lamina.optimizers.keras2 import LearningRate, keras2_arguments, live_lr, models_using
from lamina.optimizers.state import (
    OptimizerState,
    _find_state,
    get_ema_params,
    get_iterations,
    get_learning_rate,
    set_learning_rate,
)
from lamina.optimizers.stateless import StatelessOptimizerMixin

__all__ = [
    "Optimizer",
    "OptimizerState",
    "get_iterations",
    "get_learning_rate",
    "set_learning_rate",
    "get_ema_params",
]


# --------------------------------------------------------------------------------------------
# Helpers mirroring keras/src/optimizers/base_optimizer.py
# --------------------------------------------------------------------------------------------


def _clip_by_norm(values, clipnorm):
    l2sum = jnp.sum(jnp.square(values), axis=None, keepdims=True)
    pred = l2sum > 0
    l2sum_safe = jnp.where(pred, l2sum, jnp.ones_like(l2sum))
    l2norm = jnp.where(pred, jnp.sqrt(l2sum_safe), l2sum)
    intermediate = values * clipnorm
    return intermediate / jnp.maximum(l2norm, clipnorm)


def _clip_by_global_norm(values, clip_norm):
    squared = [jnp.sum(jnp.square(v)) for v in values]
    use_norm = jnp.sqrt(jnp.sum(jnp.stack(squared)))
    scale_for_finite = clip_norm * jnp.minimum(1.0 / use_norm, 1.0 / clip_norm)
    scale = scale_for_finite + (use_norm - use_norm)
    return [v * scale for v in values]


def _freeze(x):
    if isinstance(x, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(v) for v in x)
    return x


def _leaf_name(path) -> str:
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.GetAttrKey):
            parts.append(str(k.name))
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(str(k.idx))
        else:
            parts.append(str(k))
    return "/".join(parts)


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
        self.name = name if name is not None else snake_case(type(self).__name__)
        if isinstance(learning_rate, dict):
            learning_rate = _schedules.deserialize(learning_rate)
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
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
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

        A constant rate is a :class:`LearningRate` (a float with Keras's variable methods
        ``assign``/``numpy``) that reads the rate the optimizer's models train with, so it
        follows ``LearningRateScheduler`` and ``ReduceLROnPlateau``.  With a schedule it is
        the schedule's value at :attr:`iterations` (a float32 scalar array), as in Keras.
        Inside a custom step it is the step's own (traced) rate.  Assigning a float sets the
        rate of the compiled models without recompiling; assigning a schedule replaces it.

        >>> from lamina import optimizers
        >>> opt = optimizers.SGD(0.1)
        >>> float(opt.learning_rate), opt.learning_rate.numpy()
        (0.1, np.float32(0.1))
        >>> opt.learning_rate = 0.05; float(opt.learning_rate)
        0.05
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
            return LearningRate(float(str(np.float32(live))), self)
        models = models_using(self)
        value = live_lr(models[0]) if models else raw
        return LearningRate(value, self)

    @learning_rate.setter
    def learning_rate(self, value):
        self.__dict__["_learning_rate"] = value

    # Keras 2 named the learning rate ``lr`` (``optimizer.lr``, ``K.set_value(opt.lr, x)``).
    @property
    def lr(self):
        """Keras 2's ``optimizer.lr``: the current learning rate as a :class:`LearningRate`
        (a float with Keras's variable methods ``assign``/``numpy``), so
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
        return (type(self), _freeze(self.get_config()), self._exclude_pattern)

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
        opt = self
        is_schedule = isinstance(self._learning_rate, _schedules.LearningRateSchedule)
        slot_names = self._slot_names()
        init_vals = self._slot_init_values()
        acc_steps = self.gradient_accumulation_steps
        exclude = re.compile(self._exclude_pattern) if self._exclude_pattern else None

        def init_fn(params):
            leaves, treedef = jax.tree_util.tree_flatten(params)
            slots = {
                n: jax.tree_util.tree_unflatten(
                    treedef,
                    [
                        jnp.full(
                            opt._slot_shape(n, jnp.shape(p)),
                            init_vals.get(n, 0.0),
                            dtype=jnp.result_type(p),
                        )
                        for p in leaves
                    ],
                )
                for n in slot_names
            }
            iterations = jnp.zeros((), jnp.int32)
            if is_schedule:
                lr = opt._lr_at(iterations)
            else:
                lr = jnp.asarray(opt._learning_rate, jnp.float32)
            zeros = jax.tree_util.tree_unflatten(treedef, [jnp.zeros_like(p) for p in leaves])
            return OptimizerState(
                iterations=iterations,
                learning_rate=lr,
                slots=slots,
                extra=opt._init_extra(),
                ema=zeros if opt.use_ema else None,
                accumulators=zeros if acc_steps else None,
                lr_is_schedule=is_schedule,
            )

        def update_fn(updates, state, params=None):
            if params is None:
                raise ValueError(
                    f"{type(opt).__name__}.to_optax().update requires `params` "
                    "(call `tx.update(grads, state, params)`)."
                )
            state = _find_state(state)
            g_paths, treedef = jax.tree_util.tree_flatten_with_path(updates)
            grads = [g for _, g in g_paths]
            p_leaves = treedef.flatten_up_to(params)
            it = state.iterations
            lr = opt._lr_at(it) if is_schedule else state.learning_rate
            if opt.decay:
                # Keras 2's time-based decay, from the count of updates made before this one.
                decay = jnp.asarray(opt.decay, jnp.float32)
                lr = lr * (1.0 / (1.0 + decay * it.astype(jnp.float32)))
            slot_leaves = {n: treedef.flatten_up_to(state.slots[n]) for n in slot_names}

            grads = [jnp.asarray(g, dtype=jnp.result_type(p)) for g, p in zip(grads, p_leaves)]
            if opt.loss_scale_factor is not None:
                scale = jax.lax.optimization_barrier(
                    jnp.asarray(opt.loss_scale_factor, jnp.float32)
                )
                grads = [g / scale.astype(g.dtype) for g in grads]
            if acc_steps:
                eff_it = it // acc_steps
                is_update = (it + 1) % acc_steps == 0
                accs = treedef.flatten_up_to(state.accumulators)
                summed = [g + a for g, a in zip(grads, accs)]
                new_accs = [jnp.where(is_update, jnp.zeros_like(s), s) for s in summed]
                n_acc = jax.lax.optimization_barrier(jnp.asarray(acc_steps, jnp.float32))
                grads = [s / n_acc.astype(s.dtype) for s in summed]
            else:
                eff_it = it

            # 1. clipping
            if opt.clipnorm and opt.clipnorm > 0:
                grads = [_clip_by_norm(g, opt.clipnorm) for g in grads]
            elif opt.global_clipnorm and opt.global_clipnorm > 0:
                grads = _clip_by_global_norm(grads, opt.global_clipnorm)
            elif opt.clipvalue and opt.clipvalue > 0:
                grads = [jnp.clip(g, -opt.clipvalue, opt.clipvalue) for g in grads]

            # 2. weight decay
            vs = list(p_leaves)
            if opt.weight_decay is not None:
                for i, (path, _) in enumerate(g_paths):
                    if exclude is not None and exclude.search(_leaf_name(path)):
                        continue
                    v = vs[i]
                    lr_v = lr.astype(v.dtype)
                    wd = jnp.asarray(opt.weight_decay, v.dtype)
                    vs[i] = v - v * wd * lr_v

            # 3. update rule
            extra = opt._pre_step(state.extra, eff_it)
            new_vs = []
            new_slots = {n: [] for n in slot_names}
            for i, (g, v) in enumerate(zip(grads, vs)):
                s = {n: slot_leaves[n][i] for n in slot_names}
                nv, ns = opt._update_one(g, v, s, lr.astype(v.dtype), eff_it, extra)
                new_vs.append(nv)
                for n in slot_names:
                    new_slots[n].append(ns.get(n, s[n]))

            if acc_steps:
                new_vs = [jnp.where(is_update, nv, p) for nv, p in zip(new_vs, p_leaves)]
                new_slots = {
                    n: [jnp.where(is_update, a, b) for a, b in zip(new_slots[n], slot_leaves[n])]
                    for n in slot_names
                }
                extra = {k: jnp.where(is_update, extra[k], state.extra[k]) for k in extra}

            # 4. EMA
            ema = state.ema
            if opt.use_ema:
                avgs = treedef.flatten_up_to(state.ema)
                new_avgs = []
                for v, a in zip(new_vs, avgs):
                    momentum = (eff_it != 0).astype(v.dtype) * opt.ema_momentum
                    new_avgs.append(momentum * a + (1 - momentum) * v)
                ema = jax.tree_util.tree_unflatten(treedef, new_avgs)
                if opt.ema_overwrite_frequency:
                    overwrite = (eff_it + 1) % opt.ema_overwrite_frequency == 0
                    new_vs = [jnp.where(overwrite, a, v) for a, v in zip(new_avgs, new_vs)]

            new_it = it + 1
            new_state = OptimizerState(
                iterations=new_it,
                learning_rate=opt._lr_at(new_it) if is_schedule else state.learning_rate,
                slots={n: jax.tree_util.tree_unflatten(treedef, new_slots[n]) for n in slot_names},
                extra=extra,
                ema=ema,
                accumulators=(
                    jax.tree_util.tree_unflatten(treedef, new_accs) if acc_steps else None
                ),
                lr_is_schedule=is_schedule,
            )
            out = [nv - p for nv, p in zip(new_vs, p_leaves)]
            return jax.tree_util.tree_unflatten(treedef, out), new_state

        return optax.GradientTransformation(init_fn, update_fn)
