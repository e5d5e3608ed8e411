"""Metrics held by layers and updated inside their ``call``, carried through ``fit``/``evaluate``.

Keras's guides track a value in a layer's ``call``: a layer holds
``self.accuracy_fn = keras.metrics.BinaryAccuracy()`` and calls
``self.accuracy_fn.update_state(targets, logits)`` (Keras 3), or calls Keras 2's
``self.add_metric(value, name="...")``.  The trainer's ``metrics`` then lists these metrics after
the compiled ones; they reset with the others at each epoch and at the start of ``evaluate``,
and their ``result()`` is logged under the metric's name (``val_<name>`` for validation).

In the compiled steps a metric's state is a traced value: :func:`held_metrics` lists the
metrics a model's layers hold (fixed when the program is built), the program carries their
states with the compiled metrics' state, and :func:`bound` binds each metric to its traced
state for one forward pass, so the ``update_state`` calls inside ``call`` update it purely.
An update made while a layer's ``call`` is traced with nothing bound (a functional model
being built on symbolic inputs, ``predict``) is discarded (:func:`discards_update`), as
Keras's symbolic calls run in a ``StatelessScope``.

>>> import numpy as np
>>> import lamina as keras
>>> class Endpoint(keras.layers.Layer):
...     def __init__(self):
...         super().__init__()
...         self.accuracy_fn = keras.metrics.BinaryAccuracy()
...     def call(self, targets, logits):
...         self.accuracy_fn.update_state(targets, logits)
...         return logits
>>> x, t = keras.Input((2,)), keras.Input((2,))
>>> model = keras.Model([x, t], Endpoint()(t, keras.layers.Dense(2)(x)))
>>> model.compile("sgd", "mse")
>>> [m.name for m in model.metrics]
['loss', 'binary_accuracy']
>>> x = [np.ones((4, 2)), np.ones((4, 2))]
>>> logs = model.evaluate(x, np.ones((4, 2)), verbose=0, return_dict=True)
>>> sorted(logs)
['binary_accuracy', 'loss']
"""

from __future__ import annotations

import contextlib
import threading

_LOCAL = threading.local()


def _bound_ids() -> set:
    ids = getattr(_LOCAL, "ids", None)
    if ids is None:
        ids = _LOCAL.ids = set()
    return ids


def _children(obj) -> list:
    try:
        return list(getattr(obj, "layers", None) or ())
    except (AttributeError, TypeError, ValueError):  # an unbuilt model
        return []


def held_metrics(model) -> list:
    """The metrics ``model``'s layers hold, in Keras's order: each layer's ``metrics`` (its
    attributes', its ``add_metric`` ones, its sub-layers'), layers in depth-first order.  As
    in Keras 3, a nested model's own metric attributes are left out (its layers' are not);
    its Keras 2 ``add_metric`` metrics are kept, as Keras 2 kept them."""
    out: list = []
    seen: set = set()

    def add(metrics):
        for m in metrics:
            if all(m is not o for o in out):
                out.append(m)

    def visit(obj):
        for sub in _children(obj):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            if getattr(sub, "_is_model", False):
                add(added_metrics(sub))
                visit(sub)
                continue
            add(getattr(sub, "metrics", None) or ())

    visit(model)
    return out


def discover_training_metrics(model, network) -> None:
    """Traces ``model``'s training forward pass for shapes only (once per network), so that
    the metrics ``add_metric`` makes only when ``training`` is true exist before the compiled
    steps fix the metric state they carry.  A model whose layers are all Lamina's, or whose
    input shape is unknown, is not traced."""
    import jax

    from lamina.layers import tracing
    from lamina.models.compiling import _may_add_losses
    from lamina.models.state_access import built_state

    ts = built_state(model)
    shape = getattr(model, "_input_shape", None)
    seen = model.__dict__.setdefault("_metrics_discovered_for", set())
    if ts is None or shape is None or network.spec_key in seen or not _may_add_losses(model):
        return
    seen.add(network.spec_key)
    training = True if network.passes_training else None
    key = ts.rng if network.needs_key else None

    def run(params, state):
        x = tracing._zeros(shape, model.__dict__.get("_input_dtypes"))
        return network.forward(params, state, x, training=training, key=key)[0]

    try:
        jax.eval_shape(run, ts.params, ts.state)
    except Exception:  # noqa: BLE001 - a model the probe cannot trace: its fit reports it
        pass


def added_metrics(obj) -> list:
    """The ``Mean`` metrics Keras 2's ``obj.add_metric(value, name=...)`` created, in order."""
    return list(obj.__dict__.get("_added_metrics", {}).values())


def is_bound(metric) -> bool:
    """Whether ``metric`` is bound to a compiled step's traced state now."""
    return id(metric) in _bound_ids()


@contextlib.contextmanager
def bound(metrics, states):
    """Binds each of ``metrics`` to its traced state in ``states`` for one forward pass;
    yields a function returning their new states (a tuple, in order).  Their own state is
    restored on exit, so no traced value stays on them."""
    metrics = tuple(metrics)
    saved = [m.__dict__.get("_state") for m in metrics]
    ids = _bound_ids()
    before = set(ids)
    try:
        for m, s in zip(metrics, states):
            m._state = s
            ids.add(id(m))
        yield lambda: tuple(m._get_state() for m in metrics)
    finally:
        ids.intersection_update(before)
        for m, s in zip(metrics, saved):
            m._state = s


def keep_if_empty(new, old, bmask) -> tuple:
    """``new`` states, or ``old`` for a step without real rows (a bucket's padding step,
    whose rows are copies that ``call`` would count)."""
    import jax
    import jax.numpy as jnp

    if not new:
        return new
    real = jnp.any(bmask > 0)
    return jax.tree_util.tree_map(lambda n, o: jnp.where(real, n, o), new, old)


def init_states(metrics) -> tuple:
    return tuple(m.init() for m in metrics)


def results(metrics, states) -> dict:
    """``{metric.name: result}``; a later metric of the same name wins, as in Keras's logs."""
    return {m.name: m.result(s) for m, s in zip(metrics, states)}


def discards_update(metric, args, kwargs) -> bool:
    """Whether ``metric.update_state(*args, **kwargs)`` must leave the metric unchanged: it
    runs inside a layer's traced ``call`` (symbolic inputs, ``predict``) with no compiled
    step's state bound to the metric.  A bound update tells the step's whole-batch probe that
    a partial batch must run at its real size (the padding rows must not count)."""
    import jax

    from lamina.layers.variables import current_scope
    from lamina.training.custom_state import bound_metrics
    from lamina.training.whole_batch import mark

    if is_bound(metric):
        mark()
        return False
    if current_scope() is None or any(m is metric for m in bound_metrics()):
        return False
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves((args, kwargs)))


# ------------------------------------------------------------------ Keras 2's add_metric
def note_result(metric, value) -> None:
    """Remembers that ``value`` is ``metric.__call__``'s result, so that Keras 2's
    ``add_metric(metric(y, p))`` tracks ``metric`` itself (under its own name)."""
    _LOCAL.result = (value, metric)


def _metric_of(value):
    last = getattr(_LOCAL, "result", None)
    return last[1] if last is not None and last[0] is value else None


def add_metric(owner, value, name, aggregation, kwargs) -> None:
    """Keras 2's ``owner.add_metric(value, name, aggregation)`` (see
    :meth:`lamina.layers.Layer.add_metric`)."""
    import jax

    from lamina.layers.symbolic import KerasTensor
    from lamina.metrics.base import Mean

    if kwargs:
        raise TypeError(
            f"add_metric() got unexpected keyword arguments {sorted(kwargs)}; it takes "
            "add_metric(value, name=None, aggregation=None)."
        )
    if aggregation not in (None, "mean"):
        raise ValueError(
            "add_metric() supports only aggregation='mean' (the mean of the values over the "
            f"epoch), as Keras 2 did. Received: aggregation={aggregation!r}."
        )
    added = owner.__dict__.setdefault("_added_metrics", {})
    metric = _metric_of(value)
    if metric is not None:  # already updated by its own __call__
        added.setdefault(metric.name, metric)
        return
    if name is None:
        raise ValueError(
            "add_metric() needs a name for a tensor's metric, e.g. "
            "self.add_metric(ops.sum(inputs), name='mean_activation'). Received: name=None."
        )
    leaves = jax.tree_util.tree_leaves(value, is_leaf=lambda v: isinstance(v, KerasTensor))
    if any(isinstance(v, KerasTensor) for v in leaves):
        adder = getattr(owner, "_add_graph_metric", None)
        if adder is None:
            raise ValueError(
                f"add_metric(name={name!r}) received a symbolic tensor outside a call(): only "
                "a functional model takes one (model.add_metric(tensor, name=...)); a layer "
                "adds its metric inside call(), from the tensors call() computes."
            )
        adder(value, name)
        return
    if name not in added:
        added[name] = Mean(name=name)
    added[name].update_state(value)
