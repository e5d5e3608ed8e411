"""The forward-pass profile the engine chooses a fit strategy from, remembered per model.

:func:`lamina.training.strategy.forward_profile` traces the forward pass once on abstract
weights; a model fitted again on rows of the same shape (every epoch of a notebook's repeated
``fit``) reuses the result.
"""

from __future__ import annotations

import jax


def remembered_profile(model, row):
    """The :class:`~lamina.training.strategy.Profile` of ``model``'s forward pass on ``row``
    (a batch of inputs), remembered per network and row shape.

    Args:
        model: a built model.
        row: an example batch (arrays or a pytree of arrays).

    Returns:
        The profile; an empty one (``Profile(False, None)``) for a model not built.
    """
    from lamina.training import strategy

    network, ts = model._engine_network(), model._train_state
    if ts is None:
        return strategy.Profile(False, None)
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(row))
    try:
        key = (network.spec_key, jax.tree_util.tree_structure(row), shapes)
        hash(key)
    except TypeError:  # an unhashable spec: profile again
        key = None
    memo = model.__dict__.get("_profile_memo") or {}
    model._profile_memo = memo
    if key is None or key not in memo:
        params, state = jax.tree_util.tree_map(_abstract, (ts.params, ts.state))

        def run(p, s, x):
            return network.forward(p, s, x, training=False)[0]

        found = strategy.forward_profile(run, params, state, row)
        if key is None:
            return found
        memo[key] = found
    return memo[key]


def _abstract(a):
    return jax.ShapeDtypeStruct(a.shape, a.dtype) if hasattr(a, "shape") else a
