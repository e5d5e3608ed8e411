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

import dataclasses
import re
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lamina._naming import snake_case
from lamina.optimizers import schedules as _schedules

__all__ = [
    "Optimizer",
    "OptimizerState",
    "get_iterations",
    "get_learning_rate",
    "set_learning_rate",
    "get_ema_params",
    "slot_variables",
    "set_slot_variables",
]


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class OptimizerState:
    """State of a lamina optimizer transform (a JAX pytree).

    Attributes:
        iterations: int32 scalar, Keras's ``optimizer.iterations`` (0 before the first step;
            counts every call, including gradient-accumulation micro-steps).
        learning_rate: float32 scalar, the current learning rate.  For a schedule it is the
            schedule's value at ``iterations`` (read-only, recomputed every step).
        slots: ``{slot_name: tree}``, per-variable slots shaped like the params
            (e.g. ``{"momentum": ..., "velocity": ...}`` for Adam).
        extra: ``{name: scalar}``, optimizer-wide scalars (Nadam's ``u_product``).
        ema: moving average of the params (tree) when ``use_ema=True``, else None.
        accumulators: gradient accumulators (tree) when ``gradient_accumulation_steps``
            is set, else None.
        lr_is_schedule: static flag; True when the learning rate comes from a schedule.
    """

    iterations: Any
    learning_rate: Any
    slots: Any
    extra: Any
    ema: Any
    accumulators: Any
    lr_is_schedule: bool = False


jax.tree_util.register_dataclass(
    OptimizerState,
    data_fields=["iterations", "learning_rate", "slots", "extra", "ema", "accumulators"],
    meta_fields=["lr_is_schedule"],
)


def _find_state(opt_state) -> OptimizerState:
    if isinstance(opt_state, OptimizerState):
        return opt_state
    if isinstance(opt_state, (tuple, list)):
        for s in opt_state:
            try:
                return _find_state(s)
            except TypeError:
                pass
    raise TypeError(
        "Expected the state of a lamina optimizer (an `OptimizerState`, as returned by "
        f"`optimizer.to_optax().init(params)`). Received: {type(opt_state).__name__}"
    )


def _replace_state(opt_state, new: OptimizerState):
    if isinstance(opt_state, OptimizerState):
        return new
    if isinstance(opt_state, (tuple, list)):
        items = list(opt_state)
        for i, s in enumerate(items):
            try:
                _find_state(s)
            except TypeError:
                continue
            items[i] = _replace_state(s, new)
            return (
                type(opt_state)(*items) if hasattr(opt_state, "_fields") else type(opt_state)(items)
            )
    raise TypeError(f"No lamina OptimizerState found in {type(opt_state).__name__}.")


def get_iterations(opt_state) -> jax.Array:
    """Returns the iteration counter (int32 scalar array), like Keras's ``optimizer.iterations``.

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> tx = optimizers.SGD().to_optax()
    >>> state = tx.init({"w": jnp.zeros(2)})
    >>> int(optimizers.get_iterations(state))
    0
    """
    return _find_state(opt_state).iterations


def get_learning_rate(opt_state) -> jax.Array:
    """Returns the current learning rate (float32 scalar array).

    For a schedule this is the schedule's value at the current iteration, like Keras's
    ``optimizer.learning_rate``.

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> state = optimizers.Adam(0.01).to_optax().init({"w": jnp.zeros(2)})
    >>> round(float(optimizers.get_learning_rate(state)), 6)
    0.01
    """
    return _find_state(opt_state).learning_rate


def set_learning_rate(opt_state, value):
    """Returns ``opt_state`` with a new learning rate (like ``optimizer.learning_rate = x``).

    Works inside or outside ``jit`` and does not trigger recompilation (the learning rate is
    an array leaf of the state).

    Raises:
        TypeError: the optimizer uses a ``LearningRateSchedule`` (as Keras raises).

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> state = optimizers.SGD(0.1).to_optax().init({"w": jnp.zeros(2)})
    >>> state = optimizers.set_learning_rate(state, 0.5)
    >>> float(optimizers.get_learning_rate(state))
    0.5
    """
    st = _find_state(opt_state)
    if st.lr_is_schedule:
        raise TypeError(
            "This optimizer was created with a `LearningRateSchedule` object as its "
            "`learning_rate` constructor argument, hence its learning rate is not settable. "
            "If you need the learning rate to be settable, you should instantiate the "
            "optimizer with a float `learning_rate` argument."
        )
    new = dataclasses.replace(st, learning_rate=jnp.asarray(value, dtype=jnp.float32))
    return _replace_state(opt_state, new)


def get_ema_params(opt_state):
    """Returns the moving average of the params (``use_ema=True``), or None.

    This is what Keras's ``optimizer.finalize_variable_values`` writes into the model at the
    end of ``fit``.
    """
    return _find_state(opt_state).ema


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


class Optimizer:
    """Base class of lamina optimizers (mirrors ``keras.optimizers.Optimizer``'s arguments).

    Subclasses define ``_slot_groups()`` (Keras's slot names, in build order), optionally
    ``_slot_init_values()`` and ``_init_extra()``, and ``_update_one(...)``/``_pre_step(...)``.

    Args:
        learning_rate: float >= 0 or a :class:`~lamina.optimizers.schedules.LearningRateSchedule`.
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
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=3
            )
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
        self._exclude_pattern: str | None = None

    # ---------------------------------------------------------------- config / identity
    def get_config(self) -> dict:
        """Returns the Keras-format config dict (same keys as ``keras.optimizers.*``)."""
        if isinstance(self.learning_rate, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(self.learning_rate)
        else:
            # Keras reads the float32 variable back: report the float32-rounded value.
            lr = float(np.float32(self.learning_rate))
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
        lr = self.learning_rate
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
        if isinstance(self.learning_rate, _schedules.LearningRateSchedule):
            return jnp.asarray(self.learning_rate(iterations), dtype=jnp.float32)
        return None

    def to_optax(self) -> optax.GradientTransformation:
        """Returns the ``optax.GradientTransformation`` implementing this optimizer.

        ``update(grads, state, params)`` needs ``params`` (weight decay, EMA and the update
        rules are written on the variable values, as in Keras).  The returned updates are
        ``new_params - params``; apply them with ``optax.apply_updates``.
        """
        opt = self
        is_schedule = isinstance(self.learning_rate, _schedules.LearningRateSchedule)
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
                        jnp.full(jnp.shape(p), init_vals.get(n, 0.0), dtype=jnp.result_type(p))
                        for p in leaves
                    ],
                )
                for n in slot_names
            }
            iterations = jnp.zeros((), jnp.int32)
            if is_schedule:
                lr = opt._lr_at(iterations)
            else:
                lr = jnp.asarray(opt.learning_rate, jnp.float32)
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


# --------------------------------------------------------------------------------------------
# Keras variable naming (for saving optimizer state into .keras files)
# --------------------------------------------------------------------------------------------


def _keras_var_name(v) -> str:
    if isinstance(v, str):
        return v.replace("/", "_")
    path = getattr(v, "path", None)
    if path is not None:
        return str(path).replace("/", "_")
    return str(getattr(v, "name", v)).replace("/", "_").replace(":", "_")


def slot_variables(optimizer: Optimizer, opt_state, variable_names, order=None) -> list:
    """Lists the optimizer state as Keras 3's ``optimizer.variables`` (names and order).

    Best effort, for writing optimizer state into Keras ``.keras`` files (Keras stores
    ``optimizer.variables`` as ``"0"``, ``"1"``, ... in this order).

    Args:
        optimizer: the lamina optimizer that made ``opt_state``.
        opt_state: its state.
        variable_names: one entry per parameter leaf, in ``jax.tree_util.tree_leaves(params)``
            order: a Keras variable path (``"dense/kernel"``), or an object with ``.path`` or
            ``.name``.  ``/`` becomes ``_`` as in Keras (``"dense_kernel_momentum"``).
        order: optional list of leaf indices giving Keras's ``trainable_variables`` order
            (defaults to leaf order).

    Returns:
        A list of ``(name, array)``: ``"iteration"`` (int32), ``"learning_rate"`` (float32,
        absent for schedules), then EMA ``"<var>_average"`` slots, gradient accumulators
        ``"<var>_gradient_accumulator"``, the optimizer's slots (groups interleaved per
        variable, e.g. Adam: ``kernel_momentum, kernel_velocity, bias_momentum, ...`` then
        ``*_velocity_hat`` when ``amsgrad``), and finally Nadam's scalar ``"variable"``.
    """
    st = _find_state(opt_state)
    names = [_keras_var_name(v) for v in variable_names]
    idx = list(order) if order is not None else list(range(len(names)))
    out: list = [("iteration", st.iterations)]
    if not st.lr_is_schedule:
        out.append(("learning_rate", st.learning_rate))
    for label, tree in _slot_trees(optimizer, st):
        leaves_by_name = {n: jax.tree_util.tree_leaves(t) for n, t in zip(label, tree)}
        for i in idx:
            for n in label:
                out.append((f"{names[i]}_{n}", leaves_by_name[n][i]))
    for k, v in st.extra.items():
        out.append((k, v))
    return out


def _slot_trees(optimizer: Optimizer, st: OptimizerState):
    groups = []
    if optimizer.use_ema:
        groups.append((["average"], [st.ema]))
    if optimizer.gradient_accumulation_steps:
        groups.append((["gradient_accumulator"], [st.accumulators]))
    for group in optimizer._slot_groups():
        groups.append((group, [st.slots[n] for n in group]))
    return groups


def set_slot_variables(optimizer: Optimizer, opt_state, values, order=None):
    """Inverse of :func:`slot_variables`: loads Keras ``optimizer.variables`` values.

    Args:
        optimizer: the lamina optimizer that made ``opt_state``.
        opt_state: a state of the right structure (e.g. ``tx.init(params)``).
        values: arrays in Keras's ``optimizer.variables`` order (as :func:`slot_variables`).
        order: as in :func:`slot_variables`.

    Returns:
        The new state.
    """
    st = _find_state(opt_state)
    values = list(values)
    pos = 0

    def take():
        nonlocal pos
        if pos >= len(values):
            raise ValueError(
                f"Too few optimizer variables: expected more than {len(values)} for "
                f"{type(optimizer).__name__}."
            )
        pos += 1
        return values[pos - 1]

    iterations = jnp.asarray(take(), jnp.int32).reshape(())
    lr = st.learning_rate
    if not st.lr_is_schedule:
        lr = jnp.asarray(take(), jnp.float32).reshape(())
    new_trees = {}
    for label, trees in _slot_trees(optimizer, st):
        leaves = {n: jax.tree_util.tree_leaves(t) for n, t in zip(label, trees)}
        treedef = jax.tree_util.tree_structure(trees[0])
        n_leaves = len(leaves[label[0]])
        idx = list(order) if order is not None else list(range(n_leaves))
        new_leaves = {n: list(leaves[n]) for n in label}
        for i in idx:
            for n in label:
                ref = leaves[n][i]
                val = jnp.asarray(take(), dtype=ref.dtype)
                if val.shape != ref.shape:
                    raise ValueError(
                        f"Optimizer variable {n!r} #{i} has shape {ref.shape}, "
                        f"received {val.shape}."
                    )
                new_leaves[n][i] = val
        for n in label:
            new_trees[n] = jax.tree_util.tree_unflatten(treedef, new_leaves[n])
    extra = {k: jnp.asarray(take(), dtype=v.dtype).reshape(v.shape) for k, v in st.extra.items()}
    if pos != len(values):
        raise ValueError(
            f"Expected {pos} optimizer variables for {type(optimizer).__name__}, "
            f"received {len(values)}."
        )
    new = dataclasses.replace(
        st,
        iterations=iterations,
        learning_rate=lr,
        slots={n: new_trees[n] for n in st.slots},
        extra=extra,
        ema=new_trees.get("average", st.ema),
        accumulators=new_trees.get("gradient_accumulator", st.accumulators),
    )
    return _replace_state(opt_state, new)
