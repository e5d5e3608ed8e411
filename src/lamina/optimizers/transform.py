"""The optax transformation behind ``Optimizer.to_optax()``: Keras's update pipeline.

Per step the transform follows ``keras.optimizers.Optimizer.apply`` on the JAX backend:

1. gradients are divided by ``loss_scale_factor`` (if set);
2. gradient accumulation (``gradient_accumulation_steps``) averages micro-batch gradients and
   only updates on every N-th call;
3. gradient clipping (``clipvalue``, then ``clipnorm`` per variable or ``global_clipnorm``);
4. weight decay ``var -= var * weight_decay * lr`` (before the update, skipping excluded names);
5. the optimizer's own update rule;
6. exponential moving average of the weights (``use_ema``), with optional overwrite;
7. ``iterations += 1``.

The optimizer supplies its configuration and its subclass hooks (``_slot_names``,
``_slot_init_values``, ``_slot_shape``, ``_init_extra``, ``_pre_step``, ``_update_one``,
``_lr_at``); the state is an :class:`~lamina.optimizers.state.OptimizerState`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers import schedules as _schedules
from lamina.optimizers.clipping import _clip_by_global_norm, _clip_by_norm
from lamina.optimizers.state import OptimizerState, _find_state

if TYPE_CHECKING:
    from lamina.optimizers.base import Optimizer


def _leaf_name(path) -> str:
    """The ``/``-joined key path of a pytree leaf (``"dense/bias"``), the name weight-decay
    exclusion patterns are searched in."""
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


def optax_transform(opt: Optimizer) -> optax.GradientTransformation:
    """Returns the ``optax.GradientTransformation`` implementing ``opt``.

    ``update(grads, state, params)`` needs ``params`` (weight decay, EMA and the update
    rules are written on the variable values, as in Keras).  The returned updates are
    ``new_params - params``; apply them with ``optax.apply_updates``.

    Example:

    >>> import jax.numpy as jnp
    >>> from lamina import optimizers
    >>> from lamina.optimizers.transform import optax_transform
    >>> tx = optax_transform(optimizers.SGD(learning_rate=0.5))
    >>> params = {"w": jnp.array([1.0])}
    >>> updates, _ = tx.update({"w": jnp.array([2.0])}, tx.init(params), params)
    >>> updates["w"].tolist()
    [-1.0]
    """
    is_schedule = isinstance(opt._learning_rate, _schedules.LearningRateSchedule)
    slot_names = opt._slot_names()
    # Keras's build order of the slots: the state's leaves follow it (``optimizer.variables``).
    slot_groups = tuple(tuple(g) for g in opt._slot_groups())
    init_vals = opt._slot_init_values()
    acc_steps = opt.gradient_accumulation_steps
    exclude = re.compile(opt._exclude_pattern) if opt._exclude_pattern else None

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
            slot_groups=slot_groups,
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
            scale = jax.lax.optimization_barrier(jnp.asarray(opt.loss_scale_factor, jnp.float32))
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

        # 1. clipping: by value first, then by norm (the order of Keras 2, which took both)
        if opt.clipvalue and opt.clipvalue > 0:
            grads = [jnp.clip(g, -opt.clipvalue, opt.clipvalue) for g in grads]
        if opt.clipnorm and opt.clipnorm > 0:
            grads = [_clip_by_norm(g, opt.clipnorm) for g in grads]
        elif opt.global_clipnorm and opt.global_clipnorm > 0:
            grads = _clip_by_global_norm(grads, opt.global_clipnorm)

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
            accumulators=(jax.tree_util.tree_unflatten(treedef, new_accs) if acc_steps else None),
            lr_is_schedule=is_schedule,
            slot_groups=slot_groups,
        )
        out = [nv - p for nv, p in zip(new_vs, p_leaves)]
        return jax.tree_util.tree_unflatten(treedef, out), new_state

    return optax.GradientTransformation(init_fn, update_fn)
