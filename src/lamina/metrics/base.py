"""Metric protocol: pure ``init``/``update``/``result`` over a pytree state, plus Keras's eager API.

Inside the compiled loop a metric is used purely::

    state = m.init()
    state = m.update(state, y_true, y_pred, sample_weight)   # sample_weight: (batch,) array
    value = m.result(state)

Standalone, the same object keeps an internal state like a Keras metric::

    m.update_state(y_true, y_pred, sample_weight=None); m.result(); m.reset_state()
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import losses as _losses
from lamina._naming import snake_case, unique_name

to_snake_case = snake_case


def divide_no_nan(a, b):
    safe = jnp.where(b == 0, 1, b)
    return jnp.where(b == 0, 0, a / safe)


class Metric:
    """Base class. Subclasses implement ``init``, ``update`` and ``compute`` (all pure)."""

    def __init__(self, name=None, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}.")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = dtype or "float32"
        self._state = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Keras 2 code may override ``reset_states`` alone; tf.keras's ``reset_state`` then
        # called it, so ``reset_metrics()`` still ran the user's reset.
        legacy_reset = "reset_states" in cls.__dict__ and "reset_state" not in cls.__dict__
        # A Keras-style subclass (add_variable + update_state + result) gets the pure protocol.
        if "update_state" in cls.__dict__ and "update" not in cls.__dict__:
            from lamina.metrics.keras_style import make_pure

            make_pure(cls)
        if legacy_reset:
            cls.reset_state = _legacy_reset(cls.reset_state)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of a Keras-style metric (see :mod:`lamina.metrics.keras_style`)."""
        from lamina.metrics.keras_style import add_variable

        return add_variable(self, shape, initializer, dtype, aggregation, name)

    def add_weight(self, *args, **kwargs):
        """Keras 3's ``add_weight(shape=(), initializer=None, dtype=None, name=None)``, or
        tf.keras 2's ``add_weight(name, shape=(), aggregation=..., synchronization=...,
        initializer=None, dtype=None)`` when the first argument is a name (a string).

        >>> class Total(Metric):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.total = self.add_weight("total", initializer="zeros")
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self.total.assign_add(jnp.sum(y_pred))
        ...     def result(self):
        ...         return self.total.value
        >>> m = Total(); m.update_state(jnp.zeros(1), jnp.ones(1) * 2); float(m.result())
        2.0
        """
        from lamina.metrics.keras_style import keras3_weight_args

        args, kwargs = keras3_weight_args(args, kwargs)
        return self.add_variable(*args, **kwargs)

    # ---- pure protocol
    def init(self):
        raise NotImplementedError

    def update(self, state, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def compute(self, state):
        raise NotImplementedError

    def result(self, state=None):
        """``result(state)`` is pure; ``result()`` reads the internal (eager) state."""
        if state is None:
            state = self._get_state()
        return self.compute(state)

    # ---- Keras eager API
    def _get_state(self):
        if self._state is None:
            self._state = self.init()
        return self._state

    def update_state(self, *args, **kwargs):
        if check_not_in_traced_call(self, args, kwargs):
            return
        self._state = self.update(self._get_state(), *args, **kwargs)

    def reset_state(self):
        self._state = self.init()

    def reset_states(self):
        """Keras 2's name for :meth:`reset_state` (Keras 3 dropped it; Keras 2 code calls it).

        >>> from lamina import metrics
        >>> m = metrics.Mean()
        >>> m.update_state([1.0, 3.0])
        >>> m.reset_states()
        >>> float(m.result())
        0.0
        """
        reset = type(self).reset_state
        # Under a Keras 2 override of ``reset_states`` (its ``super()`` call leads here),
        # ``reset_state`` would call the override again: reset with what it replaced.
        while hasattr(reset, "_inherited"):
            reset = reset._inherited
        return reset(self)

    def __call__(self, *args, **kwargs):
        from lamina.training.layer_metric_state import note_result

        self.update_state(*args, **kwargs)
        value = self.result()
        note_result(self, value)  # Keras 2's add_metric(metric(y, p)) keeps the metric
        return value

    @property
    def variables(self):
        """The metric's state as a flat list of arrays, in Keras's order (creation order);
        each has Keras's ``assign(value)``, ``value`` and ``numpy()``."""
        from lamina._assignable import assignable

        state = self._get_state()
        out = assignable(_state_leaves(state), self._assign_variable)
        scope = self._variable_path_scope()
        for array, name in zip(out, self._variable_names(state)):
            try:  # Keras's names: ``total``, path ``<metric name>/total``
                array.name, array.path = name, f"{scope}/{name}"
            except AttributeError:  # a tracer, or an array type that takes no attributes
                pass
        return out

    def _variable_path_scope(self) -> str:
        """The name scope Keras made the variables in: the metric's name when it made them
        (``compile(metrics=["mae"])`` renames a ``mean_absolute_error`` metric)."""
        return (self.__dict__.get("_variable_scope") or self.name).replace("/", ">")

    def _variable_names(self, state) -> list:
        """Keras's name of each array :attr:`variables` lists (a flat state's keys)."""
        if _flat_dict(state):
            return list(state)
        import jax

        leaves = jax.tree_util.tree_flatten_with_path(state)[0]
        return [str(getattr(p[-1], "key", getattr(p[-1], "idx", ""))) for p, _ in leaves]

    def _assign_variable(self, i, value):
        leaves = list(_state_leaves(self._get_state()))
        leaves[i] = jnp.asarray(value, dtype=leaves[i].dtype).reshape(jnp.shape(leaves[i]))
        self._state = self._state_from(leaves)

    # ---- Keras 3's stateless API (custom ``train_step(self, state, data)``)
    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """``update_state`` on ``metric_variables`` (as :attr:`variables` lists them);
        returns the new variables and leaves the metric unchanged.

        >>> from lamina import metrics
        >>> m = metrics.Mean()
        >>> v = m.stateless_update_state(m.stateless_reset_state(), 3.0)
        >>> float(m.stateless_result(m.stateless_update_state(v, 5.0)))
        4.0
        """
        state = self._state_from(metric_variables)
        return _state_leaves(self.update(state, *args, **kwargs))

    def stateless_result(self, metric_variables):
        """``result()`` of the metric whose state is ``metric_variables``."""
        return self.compute(self._state_from(metric_variables))

    def stateless_reset_state(self):
        """The variables of a freshly reset metric."""
        return _state_leaves(self.init())

    def _state_from(self, metric_variables):
        template = self.init()
        metric_variables = list(metric_variables)
        leaves = _state_leaves(template)
        if len(metric_variables) != len(leaves):
            raise ValueError(
                f"Metric {self.name!r} keeps {len(leaves)} variables; received "
                f"{len(metric_variables)}. Pass the slice of metrics_variables that belongs to "
                f"this metric (len(metric.variables) entries)."
            )
        if _flat_dict(template):
            return dict(zip(template, metric_variables))
        import jax

        return jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(template), metric_variables
        )

    # ---- config / identity
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _key(self):
        return (type(self), repr(sorted(self.get_config().items(), key=lambda kv: kv[0])))

    def __eq__(self, other):
        return isinstance(other, Metric) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _flat_dict(state) -> bool:
    return isinstance(state, dict) and all(hasattr(v, "shape") for v in state.values())


def _state_leaves(state) -> list:
    """A metric state's arrays: a flat dict in insertion (creation) order, else its leaves."""
    if _flat_dict(state):
        return list(state.values())
    import jax

    return jax.tree_util.tree_leaves(state)


def _f32(x):
    x = jnp.asarray(x)
    return x if x.dtype == jnp.float32 else x.astype(jnp.float32)


def reduce_to_samplewise_values(values, sample_weight, reduce_fn):
    """Keras's ``reduce_to_samplewise_values`` with explicit (rank-safe) broadcasting."""
    values = _f32(values)
    if values.ndim == 0 and sample_weight is not None and jnp.ndim(sample_weight) > 0:
        # A metric function that already reduced the batch (Keras 2 style) under the engine's
        # per-row weights: one value per batch, as Keras counts it.  A scalar weight (the loss
        # tracker's batch size) still weights the value, as in Keras.
        return values, None
    if sample_weight is not None:
        sample_weight = _f32(sample_weight)
        values, sample_weight = _losses.squeeze_or_expand_to_same_rank(values, sample_weight)
        w_nd, v_nd = sample_weight.ndim, values.ndim
        if v_nd > w_nd:
            values = reduce_fn(values, axis=tuple(range(w_nd, v_nd)))
        if sample_weight.ndim < values.ndim:
            sample_weight = jnp.reshape(
                sample_weight, sample_weight.shape + (1,) * (values.ndim - sample_weight.ndim)
            )
        sample_weight = jnp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_nd > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, w_nd)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def _legacy_reset(inherited):
    """``reset_state`` of a class overriding only Keras 2's ``reset_states``: runs the
    override (whose ``super().reset_states()`` reaches the reset it replaced)."""

    def reset_state(self):
        return self.reset_states()

    reset_state._inherited = inherited
    return reset_state


class Sum(Metric):
    """Weighted sum of values: ``update(state, values, sample_weight=None)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return {"total": jnp.zeros((), jnp.float32)}

    def update(self, state, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, jnp.sum)
        return {"total": state["total"] + jnp.sum(values)}

    def compute(self, state):
        return state["total"]


class Mean(Metric):
    """Weighted mean of values: ``update(state, values, sample_weight=None)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return {"total": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.float32)}

    def update(self, state, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, jnp.mean)
        if sample_weight is not None:
            n = jnp.sum(sample_weight)
        elif values.ndim >= 1:
            n = values.shape[0]
        else:
            n = 1
        return {
            "total": state["total"] + jnp.sum(values),
            "count": state["count"] + jnp.asarray(n, jnp.float32),
        }

    def compute(self, state):
        return divide_no_nan(state["total"], state["count"])


class MeanMetricWrapper(Mean):
    """Mean of ``fn(y_true, y_pred, **kwargs)`` over samples (weighted)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def values(self, y_true, y_pred):
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def update(self, state, y_true, y_pred, sample_weight=None):
        return super().update(state, self.values(y_true, y_pred), sample_weight)

    def get_config(self):
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            if isinstance(self._fn, _losses.Loss):
                config["fn"] = _losses.serialize(self._fn)
            else:
                config["fn"] = _losses._serialize_fn(self._fn)
            config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            from lamina.metrics import _FUNCTIONS

            fn = config["fn"]
            if isinstance(fn, dict) and fn.get("class_name") not in (None, "function"):
                fn = _losses.deserialize(fn)  # a loss object
            elif isinstance(fn, dict):
                fn = fn.get("config")
            if isinstance(fn, str):
                from lamina.object_registry import get_registered_object

                found = get_registered_object(fn) or _FUNCTIONS.get(fn)
                if found is None:
                    raise ValueError(
                        f"Unknown metric function {fn!r}: pass it in custom_objects "
                        f"(load_model(..., custom_objects={{{fn!r}: {fn}}})) or register it "
                        "with keras.saving.register_keras_serializable()."
                    )
                fn = found
            config["fn"] = fn
        return cls(**config)


def check_not_in_traced_call(metric, args, kwargs) -> bool:
    """Whether ``metric.update_state(*args, **kwargs)`` must be discarded: it runs inside a
    layer's ``call`` traced on symbolic inputs (a functional model being built) or by
    ``predict``, where Keras's stateless calls drop it too.  Inside ``fit``/``evaluate`` a
    metric held by a layer is bound to the compiled step's state
    (:mod:`lamina.training.layer_metric_state`), as are a custom ``train_step``'s metrics;
    called eagerly (``layer(x)``) it updates the metric, as in Keras."""
    from lamina.training.layer_metric_state import discards_update

    return discards_update(metric, args, kwargs)
