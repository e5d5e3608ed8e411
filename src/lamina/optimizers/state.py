"""The optimizer state and its accessors: ``iterations`` and ``learning_rate`` as scalar arrays
that training loops and callbacks read and change without recompiling.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp


@dataclasses.dataclass
class OptimizerState:
    """State of a lamina optimizer transform (a JAX pytree).

    Its leaves flatten in the order of Keras 3's ``optimizer.variables``: ``iterations``,
    ``learning_rate`` (a constant rate only), the EMA averages, the gradient accumulators,
    then each group of :attr:`slot_groups` interleaved per variable (Adam: ``m0, v0, m1,
    v1, ...``), then :attr:`extra`; a schedule's ``learning_rate`` (which Keras does not
    list) comes last.  So ``optimizer.variables`` of a built optimizer lists Keras's
    variables, in Keras's order.

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
        slot_groups: static; the slot names in Keras's build order, each group created by
            one ``add_optimizer_variables`` call (interleaved per variable).  Empty: each
            slot its own group, in ``slots`` order.
    """

    iterations: Any
    learning_rate: Any
    slots: Any
    extra: Any
    ema: Any
    accumulators: Any
    lr_is_schedule: bool = False
    slot_groups: tuple = ()


class _Tail:
    """One interleaved slot leaf, keyed by the last entry of its variable's path, so a slot's
    key path still ends as its weight's (``(..., SequenceKey(2), DictKey("kernel"))``: what
    :mod:`lamina.distribution.model_parallel` lays slots out by)."""

    __slots__ = ("leaf", "key")

    def __init__(self, leaf, key):
        self.leaf, self.key = leaf, key


jax.tree_util.register_pytree_with_keys(
    _Tail,
    lambda t: (((t.key, t.leaf),), t.key),
    lambda key, children: _Tail(children[0], key),
    flatten_func=lambda t: ((t.leaf,), t.key),
)


_GROUPS: dict = {}


def _groups(st: OptimizerState) -> tuple:
    """The slot groups in flatten order, cached per (slot names, declared groups): the
    flatten runs on every jitted call that takes the state."""
    names = tuple(st.slots) if isinstance(st.slots, dict) else ()
    declared = tuple(tuple(g) for g in st.slot_groups)
    key = (names, declared)
    found = _GROUPS.get(key)
    if found is None:
        groups = [g for g in declared if all(n in names for n in g)]
        done = {n for g in groups for n in g}
        found = tuple(groups) + tuple((n,) for n in names if n not in done)
        if len(_GROUPS) < 1024:  # a few optimizer kinds per process; bounded all the same
            _GROUPS[key] = found
    return found


def _interleaved(st: OptimizerState, group: tuple):
    """``(treedef, per-name leaves)`` of one slot group, each name's tree flattened up to
    the first name's structure (C++ flattens: no Python per leaf)."""
    first, treedef = jax.tree_util.tree_flatten(st.slots[group[0]])
    return treedef, [first] + [treedef.flatten_up_to(st.slots[n]) for n in group[1:]]


def _flatten(st: OptimizerState):
    """The plain flatten (what ``jit`` calls on every call): the same leaves, in the same
    order, as :func:`_flatten_with_keys`, without the key paths' ``_Tail`` wrappers."""
    children = [st.iterations]
    if not st.lr_is_schedule:
        children.append(st.learning_rate)
    children += [st.ema, st.accumulators]
    groups = _groups(st)
    layout = []
    for group in groups:
        if len(group) == 1:
            children.append(st.slots[group[0]])
            layout.append(None)
            continue
        treedef, per_name = _interleaved(st, group)
        k = len(group)
        mixed = [None] * (len(per_name[0]) * k)
        for j, leaves in enumerate(per_name):  # slice assignment: no Python per leaf
            mixed[j::k] = leaves
        children += mixed
        layout.append((treedef, False))
    children.append(st.extra)
    if st.lr_is_schedule:
        children.append(st.learning_rate)
    return children, (st.lr_is_schedule, st.slot_groups, groups, tuple(layout))


def _flatten_with_keys(st: OptimizerState):
    """The flatten with key paths: each interleaved slot leaf is a ``_Tail`` whose path ends
    as its weight's (``tree_flatten_with_path``, ``tree_map_with_path``; not per call).

    Its treedef has the ``_Tail`` nodes the plain flatten's lacks: both rebuild the state,
    but ``tree_map_with_path`` over two states at once does not match them (map the
    leaves with ``tree_map`` and read the paths from one ``tree_flatten_with_path``)."""
    attr = jax.tree_util.GetAttrKey
    children = [(attr("iterations"), st.iterations)]
    if not st.lr_is_schedule:
        children.append((attr("learning_rate"), st.learning_rate))
    children += [(attr("ema"), st.ema), (attr("accumulators"), st.accumulators)]
    groups = _groups(st)
    layout = []
    for group in groups:
        if len(group) == 1:
            children.append((jax.tree_util.DictKey(group[0]), st.slots[group[0]]))
            layout.append(None)
            continue
        treedef, per_name = _interleaved(st, group)
        paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(st.slots[group[0]])[0]]
        wrapped = bool(paths and paths[0])
        for path, leaves in zip(paths, zip(*per_name)):
            for n, leaf in zip(group, leaves):
                if not path:
                    children.append((jax.tree_util.DictKey(n), leaf))
                else:
                    key = path[-2] if len(path) >= 2 else jax.tree_util.DictKey(n)
                    children.append((key, _Tail(leaf, path[-1])))
        layout.append((treedef, wrapped))
    children.append((attr("extra"), st.extra))
    if st.lr_is_schedule:
        children.append((attr("learning_rate"), st.learning_rate))
    return children, (st.lr_is_schedule, st.slot_groups, groups, tuple(layout))


def _unflatten(aux, children):
    lr_is_schedule, slot_groups, groups, layout = aux
    children = list(children)
    pos = 1
    iterations = children[0]
    lr = None
    if not lr_is_schedule:
        lr, pos = children[1], 2
    ema, accumulators = children[pos], children[pos + 1]
    pos += 2
    slots = {}
    for group, lay in zip(groups, layout):
        if lay is None:
            slots[group[0]] = children[pos]
            pos += 1
            continue
        treedef, wrapped = lay
        k, end = len(group), pos + treedef.num_leaves * len(group)
        segment = children[pos:end]
        if wrapped:  # a treedef made by the flatten with keys
            segment = [c.leaf for c in segment]
        for j, n in enumerate(group):
            slots[n] = jax.tree_util.tree_unflatten(treedef, segment[j::k])
        pos = end
    extra = children[pos]
    if lr_is_schedule:
        lr = children[pos + 1]
    return OptimizerState(
        iterations=iterations,
        learning_rate=lr,
        slots=slots,
        extra=extra,
        ema=ema,
        accumulators=accumulators,
        lr_is_schedule=lr_is_schedule,
        slot_groups=slot_groups,
    )


jax.tree_util.register_pytree_with_keys(
    OptimizerState, _flatten_with_keys, _unflatten, flatten_func=_flatten
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


def get_ema_params(opt_state, params=None):
    """Returns the moving average of the params (``use_ema=True``), or None.

    This is what Keras's ``optimizer.finalize_variable_values`` writes into the model at the
    end of ``fit``.  A ``MultiOptimizer``'s state averages only the variables of its inner
    optimizers with ``use_ema=True`` (Keras finalizes each inner optimizer on its own
    variables): give ``params`` (the trained params) and the others keep their values.
    """
    inner = getattr(opt_state, "inner", None)
    labels = getattr(opt_state, "labels", None)
    if inner is not None and labels is not None:  # a MultiOptimizerState
        if params is None:
            return None
        leaves, treedef = jax.tree_util.tree_flatten(params)
        if len(leaves) != len(labels):
            return None
        found = False
        for j, st in enumerate(inner):
            try:
                ema = _find_state(st).ema
            except TypeError:
                continue
            if ema is None:
                continue
            group = [i for i, k in enumerate(labels) if k == j]
            for i, a in zip(group, jax.tree_util.tree_leaves(ema)):
                leaves[i], found = a, True
        return jax.tree_util.tree_unflatten(treedef, leaves) if found else None
    return _find_state(opt_state).ema


def uses_ema(optimizer) -> bool:
    """Whether ``fit`` ends by writing moving averages into the model: the optimizer has
    ``use_ema=True``, or (a ``MultiOptimizer``) one of its inner optimizers has, or (a
    ``LossScaleOptimizer``) its inner optimizer has."""
    if getattr(optimizer, "use_ema", False):
        return True
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None and inner is not optimizer:
        return uses_ema(inner)
    return any(uses_ema(o) for o in getattr(optimizer, "optimizers", None) or ())
