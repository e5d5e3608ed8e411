"""Keras's metric objects of a compiled model: ``model.metrics`` (the loss tracker
``"loss"``, the compiled metrics as one ``"compile_metrics"``, then metrics held as
attributes), ``metrics_variables`` and ``get_metrics_result()``, for every model kind.

>>> import lamina
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
>>> model.compile("sgd", "mse", metrics=["mae"])
>>> [m.name for m in model.metrics]
['loss', 'compile_metrics']
>>> sorted(model.get_metrics_result())
['loss', 'mae']
"""

from __future__ import annotations

import jax

from lamina.metrics.base import Mean, Metric
from lamina.training.output_weights import of_output


class CompileMetrics(Metric):
    """The metrics of ``compile(metrics=...)`` as one metric (Keras's ``compile_metrics``):
    ``result()`` is a dict with one value per compiled metric."""

    def __init__(self, resolved):
        super().__init__(name="compile_metrics")
        self._resolved = tuple(resolved)
        self.metrics = [m.metric for m in self._resolved]

    def __getattr__(self, name):
        # tf.keras 2's ``model.metrics`` listed the compiled metrics themselves, so its code
        # reads ``model.metrics[-1].threshold`` off the last one; Keras 3 names none of these.
        metrics = self.__dict__.get("metrics") or ()
        if not name.startswith("_") and metrics and hasattr(metrics[-1], name):
            return getattr(metrics[-1], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def init(self):
        return tuple(m.metric.init() for m in self._resolved)

    def update(self, state, y_true, y_pred, sample_weight=None):
        ys = y_true if isinstance(y_true, list | tuple) else jax.tree_util.tree_leaves(y_true)
        preds = jax.tree_util.tree_leaves(y_pred)
        return tuple(
            m.metric.update(
                s,
                ys[m.index],
                preds[m.index],
                of_output(sample_weight, m.index) if m.weighted else None,
            )
            for m, s in zip(self._resolved, state)
        )

    def compute(self, state):
        return {m.log_name: m.metric.result(s) for m, s in zip(self._resolved, state)}

    @property
    def variables(self):
        """The compiled metrics' state arrays, each named and pathed as its metric's
        (``mean_absolute_error/total``), as Keras's ``compile_metrics.variables``."""
        out = super().variables
        at = 0
        for m, s in zip(self._resolved, self._get_state()):
            n = len(jax.tree_util.tree_leaves(s))
            scope = m.metric._variable_path_scope()
            for array, name in zip(out[at : at + n], m.metric._variable_names(s)):
                try:
                    array.name, array.path = name, f"{scope}/{name}"
                except AttributeError:  # a tracer, or an array type taking no attributes
                    pass
            at += n
        return out


class ModelMetricsMixin:
    """``metrics``, ``metrics_variables``, ``get_metrics_result()`` and Keras's ``jit_compile``
    and ``get_build_config()`` of a model."""

    # ------------------------------------------------------------------- metrics
    def _trainer_metrics(self):
        """``(loss tracker, compile metrics or None)`` of the current compile."""
        compiled = getattr(self, "_compiled", None)
        if compiled is None:
            return None, None
        cache = self.__dict__.get("_keras_trainer_metrics")
        if cache is None or cache[0] is not compiled:
            cache = [compiled, Mean(name="loss"), None, None]
            self.__dict__["_keras_trainer_metrics"] = cache
        built = self._train_state is not None or self.built  # ``built`` builds from an Input
        ys = self._y_shapes()
        # "accuracy" and friends depend on the targets' shape (sparse labels or one-hot), as
        # Keras resolves them at the first update: resolved again once the targets are seen.
        stale = cache[2] is not None and ys is not None and ys != cache[3]
        if (
            (cache[2] is None or stale)
            and (compiled.get("metrics") or compiled.get("weighted_metrics"))
            and built
        ):
            cache[2] = CompileMetrics(self._resolved_metrics())
            cache[3] = ys
        return cache[1], cache[2]

    @property
    def metrics(self) -> list:
        """Keras's ``model.metrics``: the loss tracker and the compiled metrics (after
        ``compile``), then the metrics held as attributes, made by ``add_metric``, and held
        by the layers."""
        tracker, compiled = self._trainer_metrics()
        out = [m for m in (tracker, compiled) if m is not None]
        return out + [m for m in self._layer_held_metrics() if all(m is not o for o in out)]

    def _layer_held_metrics(self) -> list:
        """The metrics ``call`` may update, which the compiled steps carry and log: those the
        model holds as attributes, those Keras 2's ``self.add_metric`` made on it, then those
        its layers hold (:mod:`lamina.training.layer_metric_state`)."""
        from lamina.training.layer_metric_state import added_metrics, held_metrics

        own = [v for v in vars(self).values() if isinstance(v, Metric)]
        out = []
        for m in [*own, *added_metrics(self), *held_metrics(self)]:
            if all(m is not o for o in out):
                out.append(m)
        return out

    def _write_metric_states(self, states) -> None:
        """Leaves the compiled steps' metric states on the metric objects (``model.metrics``,
        the compiled metric objects, the metrics layers hold), as Keras's trainer assigns
        them back; ``None`` resets them (:mod:`lamina.training.metric_writeback`)."""
        tracker, compiled = self._trainer_metrics()
        objects = list(self.__dict__.get("_compiled_metrics") or ())
        held = self._layer_held_metrics()
        if states is None:
            for m in [tracker, compiled, *objects, *held]:
                if m is not None:
                    m.reset_state()
            return
        if tracker is not None:
            tracker._state = _in_order(tracker._state, states["loss"])
        per_metric = tuple(states["compiled"])
        if len(objects) == len(per_metric):
            for m, s in zip(objects, per_metric):
                m._state = _in_order(m._state, s)
        if compiled is not None and len(compiled.metrics) == len(per_metric):
            compiled._state = _in_order(compiled._state, per_metric)
        if len(held) == len(states["held"]):
            for m, s in zip(held, states["held"]):
                m._state = _in_order(m._state, s)

    @property
    def metrics_variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def get_metrics_result(self) -> dict:
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    @property
    def _loss_tracker(self):
        return self._trainer_metrics()[0]

    @property
    def jit_compile(self) -> bool:
        """Keras's flag: Lamina compiles its steps with XLA unless ``run_eagerly=True``,
        whatever ``compile(jit_compile=...)`` said."""
        compiled = getattr(self, "_compiled", None)
        return not (compiled is not None and compiled.get("run_eagerly"))

    @jit_compile.setter
    def jit_compile(self, value) -> None:
        del value  # accepted, as compile(jit_compile=...) is

    def get_build_config(self) -> dict:
        """Keras's ``{"input_shape": ...}`` of a built model (``None`` for a functional
        model's, which rebuilds from its graph)."""
        from lamina.models.model import Functional

        if isinstance(self, Functional):
            return {"input_shape": None}
        shape = getattr(self, "_input_shape", None)
        return {"input_shape": None if shape is None else shape}


def _in_order(old, new):
    """``new`` with the dict key order of ``old``: a state that went through ``jit`` comes back
    with sorted keys, and ``metric.variables`` lists the state in its own order (Keras's
    ``total, count``)."""
    if isinstance(old, dict) and isinstance(new, dict) and set(old) == set(new):
        return {k: _in_order(old[k], new[k]) for k in old}
    if isinstance(old, list | tuple) and isinstance(new, list | tuple) and len(old) == len(new):
        items = [_in_order(o, n) for o, n in zip(old, new)]
        return type(new)(*items) if hasattr(new, "_fields") else type(new)(items)
    return new
