"""The metric objects' state after ``fit``/``evaluate``, as Keras leaves it on them.

Keras's JAX trainer runs its steps on a copy of the metric variables and assigns them back to
the metric objects (``jax_state_sync``) at the end of each training epoch (before the
validation pass, which resets and refills them), at the end of ``evaluate``, and whenever a
callback looks at ``self.model`` mid-epoch.  So after ``fit``, ``model.get_metrics_result()``
and a layer's own ``self.accuracy_fn.result()`` give the last pass's values.

The compiled steps here carry the metric states in one pytree.  ``results`` returns, next to
the logs, a copy of the states under :data:`METRIC_STATES_KEY` (copies: the steps donate their
metric state); the loop takes them out with :func:`split_states` and hands them to the model
through ``Binding.write_metrics``:

``{"loss": {"total", "count"}, "compiled": (state, ...), "held": (state, ...)}``: the loss
tracker's ``Mean`` state, one state per compiled metric (the program's order), one per metric
held by a layer (``layer_metric_state.held_metrics`` order); ``None`` resets them (the start
of an epoch, of ``evaluate``).

>>> import jax.numpy as jnp
>>> raw = {"loss": 1.0, METRIC_STATES_KEY: {"held": ()}}
>>> split_states(raw)
({'loss': 1.0}, {'held': ()})
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Key of ``results()`` holding the metric states (removed before the logs are read).
METRIC_STATES_KEY = "_metric_states"


def final_states(loss_state, compiled_states, held_states) -> dict:
    """The states to write back (traced), copied so that they outlive the donated ones."""
    total, count = loss_state
    states = {
        "loss": {"total": total, "count": count},
        "compiled": tuple(compiled_states),
        "held": tuple(held_states),
    }
    return jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), states)


def hand_over(b, raw):
    """``raw`` (a ``results()`` dict) without the metric states, which go to the model
    through ``b.write_metrics`` (a binding's program without them writes nothing)."""
    raw, states = split_states(raw)
    if states is not None:
        b.write_metrics(states)
    return raw


def split_states(raw):
    """``(logs without the states, the states or None)`` of a ``results()`` dict."""
    if not isinstance(raw, dict) or METRIC_STATES_KEY not in raw:
        return raw, None
    raw = dict(raw)
    return raw, raw.pop(METRIC_STATES_KEY)
