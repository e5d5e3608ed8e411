"""Keras's names for optimizer variables, so optimizer state round-trips through ``.keras``
and ``.h5`` files: :func:`slot_variables` lists them, :func:`set_slot_variables` loads them.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lamina.optimizers.base import Optimizer
from lamina.optimizers.state import OptimizerState, _find_state, _replace_state


class Unscoped(str):
    """A Keras optimizer variable name made outside the optimizer's name scope (Nadam's
    ``variable``, Adafactor's scalar placeholders): its ``path`` is the bare name."""


def _short_name(v) -> str:
    raw = v if isinstance(v, str) else getattr(v, "path", None) or getattr(v, "name", v)
    return str(raw).rsplit("/", 1)[-1].split(":")[0]


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
    if hasattr(optimizer, "optimizers"):  # MultiOptimizer: its own two, then each inner's
        from lamina.optimizers.multi_saving import multi_slot_variables

        return multi_slot_variables(optimizer, opt_state, variable_names, order)
    if getattr(optimizer, "inner_optimizer", None) is not None:  # LossScaleOptimizer
        from lamina.optimizers.loss_scale import wrapper_variables

        return wrapper_variables(optimizer, opt_state, variable_names, order)
    st = _find_state(opt_state)
    names = [_keras_var_name(v) for v in variable_names]
    idx = list(order) if order is not None else list(range(len(names)))
    out: list = [("iteration", st.iterations)]
    if not st.lr_is_schedule:
        out.append(("learning_rate", st.learning_rate))
    shorts = [_short_name(v) for v in variable_names]
    namer = getattr(optimizer, "_slot_variable_name", None)
    for label, tree in _slot_trees(optimizer, st):
        leaves_by_name = {n: jax.tree_util.tree_leaves(t) for n, t in zip(label, tree)}
        for i in idx:
            for n in label:
                leaf = leaves_by_name[n][i]
                name = f"{names[i]}_{n}" if namer is None else namer(names[i], shorts[i], n, leaf)
                out.append((name, leaf))
    for k, v in st.extra.items():
        out.append((Unscoped(k), v))  # Keras makes them as bare `backend.Variable`s
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
    if hasattr(optimizer, "optimizers"):  # MultiOptimizer
        from lamina.optimizers.multi_saving import set_multi_slot_variables

        return set_multi_slot_variables(optimizer, opt_state, values, order)
    if getattr(optimizer, "inner_optimizer", None) is not None:  # LossScaleOptimizer
        from lamina.optimizers.loss_scale import set_wrapper_variables

        return set_wrapper_variables(optimizer, opt_state, values, order)
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
