"""``lamina.StatelessScope``: Keras 3's ``keras.StatelessScope``, for custom JAX steps.

Inside the scope, the variables named in ``state_mapping`` read the values given there, and
updates made by Keras's stateful APIs are recorded in the scope instead of being applied:

* layer weights (``model.trainable_variables``, ``layer.kernel``): a ``layer(x)`` call inside
  runs on the mapped values; a non-trainable weight it assigns (BatchNormalization's moving
  statistics) is recorded;
* ``optimizer.variables``: ``optimizer.apply(grads)`` (and ``apply_gradients``) computes the
  update with the mapped state and records the new weights and optimizer state;
  ``optimizer.iterations`` reads the mapped (or updated) counter;
* ``metric.variables`` / ``model.metrics_variables``: ``metric.update_state``,
  ``model.compute_metrics`` and ``model.get_metrics_result`` run on the mapped state and the
  new state is recorded.

After the block, ``scope.get_current_value(v)`` returns each variable's new value (its mapped
value when nothing updated it; ``None`` for a variable the scope never saw), as in Keras.
Optimizer and metric variables are Lamina's state arrays (``optimizer.variables`` lists
arrays): they are matched by identity, so map the very objects those properties return.

>>> import jax.numpy as jnp
>>> import lamina
>>> layer = lamina.layers.Dense(1, kernel_initializer="zeros")
>>> _ = layer(jnp.ones((1, 2)))
>>> mapping = [(layer.kernel, jnp.ones((2, 1))), (layer.bias, jnp.full((1,), 0.5))]
>>> with lamina.StatelessScope(state_mapping=mapping) as scope:
...     out = layer(jnp.ones((1, 2)))
>>> float(out[0, 0]), float(layer.kernel.numpy().sum())
(2.5, 0.0)
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp

_LOCAL = threading.local()


def _stack() -> list:
    if not hasattr(_LOCAL, "scopes"):
        _LOCAL.scopes = []
    return _LOCAL.scopes


def get_stateless_scope():
    """The innermost active :class:`StatelessScope`, or ``None``."""
    stack = _stack()
    return stack[-1] if stack else None


def in_stateless_scope() -> bool:
    """Whether a :class:`StatelessScope` is active (Keras's ``in_stateless_scope``)."""
    return bool(_stack())


def _ident(k):
    """The mapping key of a variable: a layer weight by ``(layer, name)`` (its views are
    created on demand), any other array by identity."""
    from lamina.layers.variables import Variable

    if isinstance(k, Variable) and k._layer is not None:
        return ("weight", id(k._layer), k._key)
    if isinstance(k, tuple) and len(k) == 3 and k[0] == "weight":
        return k
    return ("array", id(k))


def _is_variable(k) -> bool:
    from lamina.layers.variables import Variable

    return isinstance(k, Variable | jax.Array | jax.core.Tracer)


def _owner(k):
    """The metric or optimizer whose ``variables`` listed the concrete array ``k``."""
    write = getattr(k, "assign", None)
    return getattr(getattr(write, "func", None), "__self__", None)


class StatelessScope:
    """Scope in which mapped variables read given values and updates are recorded.

    Args:
        state_mapping: pairs ``(variable, value)``: a layer weight (``model.weights``), an
            entry of ``optimizer.variables``, ``metric.variables`` or
            ``model.metrics_variables``, and the array it reads inside the scope.
        collect_losses: Keras's argument (losses added inside are kept in ``losses``).
        initialize_variables: Keras's argument (accepted; Lamina creates weights eagerly).

    Raises:
        ValueError: a key is not a variable, or a value's shape differs from its variable's.
    """

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        self.collect_losses = collect_losses
        self.initialize_variables = initialize_variables
        self.losses = []
        self._values: dict = {}
        self._refs: list = []  # the keys stay alive, so their ids are not reused
        for k, v in state_mapping or []:
            if not _is_variable(k):
                raise ValueError(
                    "Invalid reference variable in StatelessScope: every key of "
                    "`state_mapping` must be a variable (model.weights, optimizer.variables, "
                    f"metric.variables). Received instead: {k!r}"
                )
            ref = jnp.asarray(getattr(k, "value", k))
            v = jnp.asarray(getattr(v, "value", v), dtype=ref.dtype)
            if tuple(v.shape) != tuple(ref.shape):
                raise ValueError(
                    f"Invalid variable value in StatelessScope: the value for {k!r} has shape "
                    f"{tuple(v.shape)}; the variable has shape {tuple(ref.shape)}. Map each "
                    f"variable to an array of its own shape."
                )
            self._refs.append(k)
            self._values[_ident(k)] = v
        self._layers: dict = {}
        self._metrics: list = []
        self._layer_scope = None

    # ------------------------------------------------------------------ Keras's API
    def get_current_value(self, variable):
        """The variable's value in this scope (mapped or updated), or ``None``."""
        return self._values.get(_ident(variable))

    def add_update(self, update):
        """Records ``(variable, new_value)``."""
        variable, value = update
        self._refs.append(variable)
        self._values[_ident(variable)] = value

    def add_loss(self, loss):
        self.losses.append(loss)

    def _lookup(self, k):
        return self._values.get(_ident(k))

    # ------------------------------------------------------------------ entering
    def __enter__(self):
        self._bind_layers()
        self._bind_metrics()
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        self._collect_metrics()
        self._collect_layers()
        return False

    def _bind_layers(self):
        from lamina.layers.variables import Scope, current_scope, find_binding

        layers = {}
        for k in self._refs:
            layer = getattr(k, "_layer", None)
            if layer is not None and getattr(k, "_key", None) is not None:
                layers[id(layer)] = layer
        if not layers:
            return
        outer = current_scope()
        key = outer.next_key() if outer is not None and outer.key is not None else None
        scope = Scope(training=bool(outer.training) if outer else False, key=key)
        for lid, layer in layers.items():
            entry = find_binding(layer)
            if entry is not None:
                params, state = dict(entry[0]), dict(entry[2])
            else:
                p, s, _ = layer._weights_source()
                params, state = dict(p), dict(s)
            for k in list(params):
                params[k] = self._values.get(("weight", lid, k), params[k])
            for k in list(state):
                state[k] = self._values.get(("weight", lid, k), state[k])
            scope.bind(layer, params, state)
            self._layers[lid] = layer
        self._layer_scope = scope.__enter__()

    def _collect_layers(self):
        scope, self._layer_scope = self._layer_scope, None
        if scope is None:
            return
        scope.__exit__(None, None, None)
        for lid, entry in scope.bound.items():
            _, state, new_state, _ = entry
            for k, v in new_state.items():
                if v is not state.get(k):
                    self._values[("weight", lid, k)] = v

    def _set_weight(self, layer, key, value):
        """An update of a trainable layer weight (``optimizer.apply``), visible to the layer
        calls made later in the scope."""
        self._values[("weight", id(layer), key)] = value
        if self._layer_scope is not None:
            entry = self._layer_scope.lookup(layer)
            if entry is not None:
                entry[0][key] = value

    def _bind_metrics(self):
        from lamina.metrics.base import Metric, _state_leaves
        from lamina.training.custom_state import bound_metrics

        candidates = list(bound_metrics())
        for k in self._refs:
            owner = _owner(k)
            if isinstance(owner, Metric) and all(owner is not m for m in candidates):
                candidates.append(owner)
        for m in candidates:
            keys = list(_state_leaves(m._get_state()))
            if not any(("array", id(a)) in self._values for a in keys):
                continue
            saved = m.__dict__.get("_state")
            values = [self._values.get(("array", id(a)), a) for a in keys]
            m._state = m._state_from(values)
            self._metrics.append((m, saved, keys))

    def _collect_metrics(self):
        from lamina.metrics.base import _state_leaves

        for m, saved, keys in self._metrics:
            for k, v in zip(keys, _state_leaves(m._get_state())):
                self._values[("array", id(k))] = v
            m._state = saved
        self._metrics = []


# ------------------------------------------------------------------------ optimizers
def _state_values(opt) -> list:
    """The optimizer's state leaves as the active scopes see them."""
    base = opt.__dict__.get("_bound")
    if base is None:
        base = opt.__dict__.get("_built_state") or []
    out = []
    for a in base:
        for scope in reversed(_stack()):
            v = scope._lookup(a)
            if v is not None:
                a = v
                break
        out.append(a)
    return out


def iterations(opt):
    """Keras's ``optimizer.iterations``: the number of updates made (int32 scalar).

    Inside a :class:`StatelessScope` mapping ``optimizer.variables`` it is the mapped (or
    updated) count; inside a custom step, the step's own count.
    """
    found = _own_state(opt)
    if found is not None:
        return found.iterations
    from lamina.optimizers.keras2 import models_using

    for model in models_using(opt):  # an optimizer a compiled model trains with: its count
        ts = model.train_state
        if ts is not None and ts.opt_state is not None:
            from lamina.optimizers.state import get_iterations

            return get_iterations(ts.opt_state)
    from lamina.optimizers.multi_models import inner_state

    found = inner_state(opt)  # an optimizer inside a model's MultiOptimizer
    return jnp.zeros((), jnp.int32) if found is None else found.iterations


def learning_rate(opt):
    """The learning rate in the optimizer's own state (a custom step's or a scope's, as
    :func:`iterations`), or ``None`` when it has none (a model's optimizer)."""
    found = _own_state(opt)
    return None if found is None or found.lr_is_schedule else found.learning_rate


def _own_state(opt):
    from lamina.optimizers.state import _find_state

    state = opt._state_tree(_state_values(opt)) if hasattr(opt, "_state_tree") else None
    if state is None:
        return None
    try:
        return _find_state(state)
    except TypeError:  # a state without a learning rate (a wrapped optax transform)
        return None


def _targets(opt, trainable_variables):
    """``(keys, values, constraints)`` of the variables an ``apply`` updates."""
    from lamina.layers.variables import find_binding
    from lamina.optimizers.stateless import _variable_constraint

    if trainable_variables is None:
        pairs = opt.__dict__.get("_constraints") or []
        if not pairs or not all(isinstance(p, tuple) for p in pairs):
            raise ValueError(
                f"{type(opt).__name__}.apply(grads) without trainable_variables updates the "
                f"variables the optimizer was built for, but it was built on plain arrays. "
                f"Pass them: optimizer.apply(grads, model.trainable_variables)."
            )
        keys = [("weight", id(layer), k) for layer, k in pairs]
        current = []
        for layer, k in pairs:
            entry = find_binding(layer)
            current.append(entry[0][k] if entry is not None else layer._current_weight(k, True))
        return keys, pairs, current, list(pairs)
    variables = list(trainable_variables)
    keys = [_ident(v) for v in variables]
    current = [jnp.asarray(getattr(v, "value", v)) for v in variables]
    owners = [
        (v._layer, v._key) if getattr(v, "_layer", None) is not None else None for v in variables
    ]
    return keys, owners, current, [_variable_constraint(v) for v in variables]


def apply(opt, grads, trainable_variables=None):
    """Keras's ``optimizer.apply(grads, trainable_variables=None)``.

    Inside a :class:`StatelessScope` the new weights and optimizer state are recorded in the
    scope.  Outside one, on concrete values, they are written to the variables and the
    optimizer.

    Raises:
        ValueError: called inside a traced custom ``train_step`` without a scope (in-place
            updates cannot leave a compiled JAX step), or on arrays that cannot be written.
    """
    scope = get_stateless_scope()
    if trainable_variables is not None:  # read twice below (a zip or generator once)
        trainable_variables = list(trainable_variables)
    keys, owners, current, constraints = _targets(opt, trainable_variables)
    values = []
    for key, value in zip(keys, current):
        for s in reversed(_stack()):
            mapped = s._values.get(key)
            if mapped is not None:
                value = mapped
                break
        values.append(value)
    grads = list(grads)
    if not opt.built:
        opt.build(values)
    state = _state_values(opt)
    base = list(opt.__dict__.get("_bound") or opt.__dict__.get("_built_state") or [])
    traced = any(isinstance(a, jax.core.Tracer) for a in [*values, *grads, *state])
    if scope is None and (traced or opt.__dict__.get("_bound") is not None):
        raise ValueError(
            f"{type(opt).__name__}.apply() inside a compiled train_step would update the "
            f"variables in place, which a traced JAX step cannot do. Use the stateless form: "
            f"`trainable_variables, optimizer_variables = self.optimizer.stateless_apply("
            f"optimizer_variables, grads, trainable_variables)` and return them in the step's "
            f"state, or call apply() inside `lamina.StatelessScope(state_mapping=...)` and read "
            f"the new values with `scope.get_current_value(variable)`."
        )
    saved = {k: opt.__dict__.get(k) for k in ("_bound", "_constraints")}
    try:
        opt.__dict__["_bound"] = None  # the scope records the update, not the step's binding
        opt.__dict__["_constraints"] = constraints
        new_values, new_state = opt.stateless_apply(state, grads, values)
    finally:
        opt.__dict__.update(saved)
    if scope is not None:
        for a, v in zip(base, new_state):
            scope._refs.append(a)
            scope._values[("array", id(a))] = v
        for key, owner, v in zip(keys, owners, new_values):
            if owner is not None:
                scope._set_weight(owner[0], owner[1], v)
            else:
                scope._values[key] = v
        return
    # A free-standing keras.Variable (the image neural style transfer optimizes) is written
    # through assign(); a layer's weight through its layer.
    free = [t if owner is None and _is_free(t) else None
            for owner, t in zip(owners, trainable_variables or [None] * len(owners))]  # fmt: skip
    if any(owner is None and t is None for owner, t in zip(owners, free)):
        raise ValueError(
            f"{type(opt).__name__}.apply() outside a StatelessScope writes the new values into "
            f"the variables, but some of trainable_variables are plain arrays. Pass the "
            f"model's variables (model.trainable_variables) or keras.Variable objects, or use "
            f"stateless_apply."
        )
    opt.__dict__["_built_state"] = list(new_state)
    for owner, t, v in zip(owners, free, new_values):
        if owner is None:
            t.assign(v)
        else:
            owner[0]._write_weight(owner[1], True, v)


def _is_free(v) -> bool:
    """Whether ``v`` is a free-standing ``keras.Variable`` (held by no layer)."""
    from lamina.layers.variables import Variable

    return isinstance(v, Variable) and v._layer is None
