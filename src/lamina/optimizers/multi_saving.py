"""A :class:`~lamina.optimizers.MultiOptimizer`'s state as Keras lists and saves it.

Keras's ``MultiOptimizer.variables`` are its own ``iteration`` and ``learning_rate``, then
each inner optimizer's variables (its ``iteration``, ``learning_rate`` and slots for the
variables it updates, in the model's ``trainable_variables`` order).  A ``.keras`` file holds
that list in ``optimizer/vars`` and each inner optimizer's part again in
``optimizer/optimizers/<name>/vars``.

>>> import jax.numpy as jnp
>>> from lamina import optimizers
>>> from lamina.optimizers.multi_saving import multi_slot_variables
>>> sgd = optimizers.SGD(momentum=0.9, name="sgd")
>>> opt = optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd))
>>> state = opt.to_optax([type("V", (), {"path": "w"})()]).init([jnp.zeros(2)])
>>> [n for n, _ in multi_slot_variables(opt, state, ["w"])]
['iteration', 'learning_rate', 'sgd/iteration', 'sgd/learning_rate', 'sgd/w_momentum']
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from lamina.optimizers.multi_optimizer import MultiOptimizer, MultiOptimizerState


def _state(opt_state) -> MultiOptimizerState:
    if not isinstance(opt_state, MultiOptimizerState):
        raise TypeError(
            "Expected a MultiOptimizer's state (a MultiOptimizerState). "
            f"Received: {type(opt_state).__name__}"
        )
    return opt_state


def _groups(st: MultiOptimizerState, n_inner: int, order, n_leaves: int):
    """Per inner optimizer: its leaf indices and the Keras order among them."""
    order = list(order) if order is not None else list(range(n_leaves))
    out = []
    for k in range(n_inner):
        g = [i for i, label in enumerate(st.labels) if label == k]
        pos = {i: j for j, i in enumerate(g)}
        out.append((g, [pos[i] for i in order if i in pos]))
    return out


def multi_slot_variables(optimizer: MultiOptimizer, opt_state, variable_names, order=None):
    """``(name, array)`` pairs in Keras's ``MultiOptimizer.variables`` order; an inner
    optimizer's are named ``<its name>/<variable>``."""
    from lamina.optimizers.slots import slot_variables

    st = _state(opt_state)
    names = list(variable_names)
    out = [("iteration", st.iterations), ("learning_rate", st.learning_rate)]
    groups = _groups(st, len(optimizer.optimizers), order, len(st.labels))
    for inner, ist, (g, sub_order) in zip(optimizer.optimizers, st.inner, groups):
        pairs = slot_variables(inner, ist, [names[i] for i in g], sub_order)
        out += [(f"{inner.name}/{n}", v) for n, v in pairs]
    return out


def set_multi_slot_variables(optimizer: MultiOptimizer, opt_state, values, order=None):
    """Inverse of :func:`multi_slot_variables`: the state holding Keras-ordered ``values``.

    Raises:
        ValueError: the values do not match the optimizers' variables in number or shape.
    """
    from lamina.optimizers.slots import set_slot_variables, slot_variables

    st = _state(opt_state)
    values = list(values)
    if len(values) < 2:
        raise ValueError(f"Expected at least 2 MultiOptimizer variables; received {len(values)}.")
    pos = 2
    inner_states = []
    groups = _groups(st, len(optimizer.optimizers), order, len(st.labels))
    for inner, ist, (g, sub_order) in zip(optimizer.optimizers, st.inner, groups):
        n = len(slot_variables(inner, ist, [str(i) for i in g], sub_order))
        chunk = values[pos : pos + n]
        if len(chunk) != n:
            raise ValueError(
                f"Too few MultiOptimizer variables: {inner.name!r} needs {n} from position "
                f"{pos}; received {len(values)} in all."
            )
        inner_states.append(set_slot_variables(inner, ist, chunk, sub_order))
        pos += n
    if pos != len(values):
        raise ValueError(f"Expected {pos} MultiOptimizer variables, received {len(values)}.")
    return dataclasses.replace(
        st,
        iterations=jnp.asarray(values[0], jnp.int32).reshape(()),
        learning_rate=jnp.asarray(values[1], jnp.float32).reshape(()),
        inner=tuple(inner_states),
    )


def multi_groups(optimizer, opt_vars) -> list:
    """``(group path, inner name, arrays)`` per inner optimizer of a ``MultiOptimizer`` (the
    ``optimizer/optimizers/<name>/vars`` groups Keras writes); ``[]`` for other optimizers."""
    if not isinstance(optimizer, MultiOptimizer):
        return []
    out, pos, seen = [], 2, set()
    for inner in optimizer.optimizers:
        prefix = f"{inner.name}/"
        arrays = []
        # Each inner optimizer lists at least its iteration and learning rate (or schedule).
        while pos < len(opt_vars) and opt_vars[pos][0].startswith(prefix):
            arrays.append(opt_vars[pos][1])
            pos += 1
            if pos < len(opt_vars) and opt_vars[pos][0] == f"{prefix}iteration":
                break  # the next inner optimizer has the same name
        if inner.name not in seen:  # two with one name: ``optimizer/vars`` holds them all
            out.append((f"optimizer/optimizers/{inner.name}/vars", inner.name, arrays))
        seen.add(inner.name)
    return out
