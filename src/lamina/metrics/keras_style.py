"""Keras-style custom metrics: ``add_variable`` in ``__init__``, ``update_state`` with
``assign``/``assign_add``, ``result()`` and ``reset_state()``, turned into Lamina's pure
``init``/``update``/``compute`` so they run inside the compiled epoch.

The metric's variables are the entries of a state dict: ``init()`` returns their initial
values; ``update(state, ...)`` runs the user's ``update_state`` with the variables bound to
``state`` and returns what ``assign`` recorded; ``compute(state)`` runs ``result()`` likewise.
Called eagerly (``m.update_state(y, p); m.result()``), the variables read and write the
metric's own state, as in Keras.

Inside ``fit``/``evaluate``, a full batch calls ``update_state(y_true, y_pred,
sample_weight=None)`` for an unweighted metric (as Keras does); the short last batch passes
the padding mask as ``sample_weight``, so a metric that ignores ``sample_weight`` counts the
padding rows of that one batch.

>>> import jax.numpy as jnp
>>> from lamina import metrics
>>> class Positives(metrics.Metric):
...     def __init__(self, name="positives", **kwargs):
...         super().__init__(name=name, **kwargs)
...         self.count = self.add_variable(shape=(), initializer="zeros", name="count")
...     def update_state(self, y_true, y_pred, sample_weight=None):
...         self.count.assign_add(jnp.sum(y_pred > 0.5))
...     def result(self):
...         return self.count.value
>>> m = Positives()
>>> m.update_state(jnp.zeros(3), jnp.array([0.9, 0.2, 0.7]))
>>> float(m.result())
2.0
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np

_LOCAL = threading.local()


def _bindings() -> dict:
    if not hasattr(_LOCAL, "bound"):
        _LOCAL.bound = {}
    return _LOCAL.bound


class MetricVariable:
    """A metric's variable: reads and writes the bound state inside ``update``/``compute``,
    else the metric's own eager state."""

    __array_priority__ = 100

    def __init__(self, metric, key, initial):
        self._metric = metric
        self._key = key
        self.name = key
        self._initial = initial

    @property
    def value(self):
        bound = _bindings().get(id(self._metric))
        if bound is not None:
            return bound[self._key]
        return self._metric._get_state()[self._key]

    @property
    def shape(self):
        return tuple(self._initial.shape)

    @property
    def dtype(self):
        return str(self._initial.dtype)

    def numpy(self):
        return np.asarray(jax.device_get(self.value))

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        out = self.numpy()
        return out if dtype is None else out.astype(dtype)

    def __float__(self):
        return float(self.numpy())

    def __int__(self):
        return int(self.numpy())

    def assign(self, value):
        value = jnp.asarray(value, self._initial.dtype).reshape(self._initial.shape)
        bound = _bindings().get(id(self._metric))
        if bound is not None:
            bound[self._key] = value
        else:
            self._metric._state = {**self._metric._get_state(), self._key: value}
        return value

    def assign_add(self, value):
        return self.assign(self.value + value)

    def assign_sub(self, value):
        return self.assign(self.value - value)

    def __repr__(self):
        return f"<MetricVariable {self._metric.name}/{self.name} shape={self.shape}>"


def _binary(name):
    def op(self, other):
        other = other.value if isinstance(other, MetricVariable) else other
        return getattr(jnp.asarray(self.value), name)(other)

    return op


for _op in ("add", "sub", "mul", "truediv", "radd", "rsub", "rmul", "rtruediv", "pow"):
    setattr(MetricVariable, f"__{_op}__", _binary(f"__{_op}__"))


_KERAS2_ORDER = ("name", "shape", "aggregation", "synchronization", "initializer", "dtype")


def keras3_weight_args(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``Metric.add_weight``'s arguments for ``add_variable``: tf.keras 2's positional order
    (name first) when the first argument is a string, and a ``"zeros"`` initializer by default.

    >>> keras3_weight_args(("total",), {"initializer": "zeros"})
    ((), {'name': 'total', 'initializer': 'zeros'})
    """
    if args and isinstance(args[0], str):
        keras2 = dict(zip(_KERAS2_ORDER, args))
        overlap = sorted(keras2.keys() & kwargs.keys())
        if overlap:
            raise TypeError(
                f"add_weight() got multiple values for {overlap}: tf.keras 2's order is "
                f"add_weight(name, shape, aggregation, synchronization, initializer, dtype); "
                "pass each argument once."
            )
        # tf's VariableAggregation/Synchronization: one device here, nothing to combine.
        kwargs = {
            k: v
            for k, v in {**keras2, **kwargs}.items()
            if k not in ("aggregation", "synchronization")
        }
        args = ()
    if len(args) < 2 and kwargs.get("initializer") is None:  # Keras 3: (shape, initializer)
        kwargs = {**kwargs, "initializer": "zeros"}
    return args, kwargs


def add_variable(metric, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
    """Creates a metric variable (Keras's ``Metric.add_variable``)."""
    from lamina import initializers

    init = initializers.get(initializer)
    names = metric.__dict__.setdefault("_keras_vars", [])
    key = name or f"variable_{len(names)}"
    if any(v._key == key for v in names):
        raise ValueError(f"Metric {metric.name!r} already has a variable named {key!r}.")
    shape = tuple(int(d) for d in (shape or ()))
    initial = jnp.asarray(init(shape, dtype=dtype or "float32"))
    var = MetricVariable(metric, key, initial)
    names.append(var)
    metric._state = None
    return var


class _Bound:
    def __init__(self, metric, state):
        self.metric, self.state = metric, dict(state)

    def __enter__(self):
        self.previous = _bindings().get(id(self.metric))
        _bindings()[id(self.metric)] = self.state
        return self.state

    def __exit__(self, *exc):
        if self.previous is None:
            _bindings().pop(id(self.metric), None)
        else:
            _bindings()[id(self.metric)] = self.previous
        return False


def _builtin_parent_update(cls):
    """The pure ``update`` ``cls`` inherits from a built-in metric (``Mean``, ...), or None
    (a subclass of ``Metric`` itself, or of another Keras-style metric)."""
    from lamina.metrics.base import Metric

    for base in cls.__mro__[1:]:
        if "update" in base.__dict__:
            found = base.__dict__["update"]
            if base is Metric or getattr(base, "_keras_style", False):
                return None
            return found
    return None


def _derived(user_update, parent_update):
    """``(update, update_state)`` of a built-in metric's subclass overriding only
    ``update_state`` and calling ``super().update_state(values, sample_weight)`` (Géron's
    ``HuberMetric(Mean)``): the override runs with the state given, its inner ``super()``
    call running the parent's pure update."""

    def update(self, state, *args, **kwargs):
        if self.__dict__.get("_in_user_update"):  # the override's super().update_state(...)
            return parent_update(self, state, *args, **kwargs)
        saved = self.__dict__.get("_state")
        self.__dict__["_in_user_update"] = True
        self._state = state
        try:
            with jax.numpy_rank_promotion("allow"):
                user_update(self, *args, **kwargs)
            return self._state
        finally:
            self._state = saved
            self.__dict__["_in_user_update"] = False

    def update_state(self, *args, **kwargs):
        if self.__dict__.get("_in_user_update"):
            return user_update(self, *args, **kwargs)
        self._state = update(self, self._get_state(), *args, **kwargs)

    return update, update_state


def _values(result):
    """``result`` with each :class:`MetricVariable` read (Keras's ``result()`` may return
    the variable itself, ``return self.true_positives``), read while the state is bound."""
    return jax.tree_util.tree_map(
        lambda v: v.value if isinstance(v, MetricVariable) else v,
        result,
        is_leaf=lambda v: isinstance(v, MetricVariable),
    )


def _own_variables(metric) -> bool:
    return bool(metric.__dict__.get("_keras_vars"))


def make_pure(cls) -> None:
    """Gives a Keras-style metric class (one overriding ``update_state``) the pure protocol."""
    parent_update = _builtin_parent_update(cls)
    user_update = cls.update_state
    user_result = cls.result

    def init(self):
        return {v._key: v._initial for v in self.__dict__.get("_keras_vars", [])}

    def update(self, state, y_true, y_pred, sample_weight=None):
        def run(weights):
            with _Bound(self, state) as bound, jax.numpy_rank_promotion("allow"):
                user_update(self, y_true, y_pred, sample_weight=weights)
            return {k: jnp.asarray(bound[k], state[k].dtype) for k in state}

        if sample_weight is None:
            return run(None)
        sw = jnp.asarray(sample_weight)
        # Full batches without weights: sample_weight=None, as Keras passes it.
        return jax.lax.cond(jnp.all(sw == 1), lambda: run(None), lambda: run(sw))

    def compute(self, state):
        with _Bound(self, state), jax.numpy_rank_promotion("allow"):
            return _values(user_result(self))

    def result(self, state=None):
        if state is None:
            return user_result(self)
        return compute(self, state)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if id(self) in _bindings():
            return user_update(self, y_true, y_pred, sample_weight=sample_weight)
        from lamina.metrics.base import check_not_in_traced_call

        if check_not_in_traced_call(self, (y_true, y_pred, sample_weight), {}):
            return
        self._state = update(self, self._get_state(), y_true, y_pred, sample_weight)

    def reset_state(self):
        self._state = init(self)

    methods = {"init": init, "update": update, "compute": compute, "result": result,
               "update_state": update_state, "reset_state": reset_state}  # fmt: skip
    if parent_update is not None:
        methods = _dispatching(cls, parent_update, methods, user_update, user_result)
    for name, method in methods.items():
        if name != "reset_state" or "reset_state" not in cls.__dict__:
            setattr(cls, name, method)
    cls._keras_style = True


def _dispatching(cls, parent_update, ks, user_update, user_result) -> dict:
    """The methods of a built-in metric's subclass overriding ``update_state``: the
    Keras-style ones ``ks`` when an instance made its own variables, else the parent's
    state with the override feeding the parent's update (:func:`_derived`)."""
    parent = cls.__mro__[1]
    own_result = "result" in cls.__dict__
    d_update, d_update_state = _derived(user_update, parent_update)

    def init(self):
        return ks["init"](self) if _own_variables(self) else parent.init(self)

    def update(self, state, *args, **kwargs):
        if _own_variables(self):
            return ks["update"](self, state, *args, **kwargs)
        return d_update(self, state, *args, **kwargs)

    def compute(self, state):
        if _own_variables(self):
            return ks["compute"](self, state)
        return parent.compute(self, state)

    def result(self, state=None):
        if _own_variables(self):
            return ks["result"](self, state)
        if not own_result:
            return parent.result(self, state)
        if state is None:
            return user_result(self)
        saved = self._state
        self._state = state
        try:
            return user_result(self)
        finally:
            self._state = saved

    def update_state(self, *args, **kwargs):
        if _own_variables(self):
            return ks["update_state"](self, *args, **kwargs)
        return d_update_state(self, *args, **kwargs)

    def reset_state(self):
        self._state = init(self)

    return {"init": init, "update": update, "compute": compute, "result": result,
            "update_state": update_state, "reset_state": reset_state}  # fmt: skip
