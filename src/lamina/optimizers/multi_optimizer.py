"""Keras 3's ``MultiOptimizer`` and ``OptimizerMap``: one optimizer per group of variables.

A :class:`MultiOptimizer` is an optax transformation like every other Lamina optimizer: each
trained weight gets a *label*, the index of the inner optimizer its Keras path (``variable.path``,
``"sequential/dense_1/kernel"``) selects, and every step each inner optimizer's transform
updates its own weights (a list of leaves, in the parameter pytree's order) inside the same
compiled program.  The labels are static (part of the state's tree structure), so the engine
needs no special case: ``compile`` asks the optimizer for its transform *for the model*
(:func:`lamina.optimizers.multi_models.optimizer_tx`), which names the trained weights.

The state (:class:`MultiOptimizerState`) holds the wrapper's own ``iteration`` and
``learning_rate`` (0, as Keras's) and each inner optimizer's state; it is listed and saved as
Keras lists ``optimizer.variables`` (``optimizer/vars``: the wrapper's two, then each inner
optimizer's), and written again per inner optimizer under ``optimizer/optimizers/<name>/vars``.

>>> from lamina import optimizers
>>> opt_map = optimizers.OptimizerMap(optimizers.SGD(), {"encoder/.*": optimizers.Adam()})
>>> opt_map["encoder/dense/kernel"].name.startswith("adam"), opt_map["head/bias"] is opt_map.default_optimizer
(True, True)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers.base import Optimizer
from lamina.optimizers.loss_scale import LossScaleOptimizer
from lamina.optimizers.optimizer_map import OptimizerMap

__all__ = ["OptimizerMap", "MultiOptimizer", "MultiOptimizerState", "multi_transform"]


@dataclasses.dataclass
class MultiOptimizerState:
    """The state of a :class:`MultiOptimizer` transform (a JAX pytree).

    Attributes:
        iterations: int32 scalar, the wrapper's own step count.
        learning_rate: float32 scalar, 0 (Keras keeps the variable; nothing reads it).
        inner: one state per inner optimizer, over the list of leaves it updates.
        labels: static; per parameter leaf, the index of its inner optimizer.
    """

    iterations: Any
    learning_rate: Any
    inner: tuple
    labels: tuple = ()


jax.tree_util.register_dataclass(
    MultiOptimizerState,
    data_fields=["iterations", "learning_rate", "inner"],
    meta_fields=["labels"],
)


@dataclasses.dataclass(frozen=True)
class _VariableInfo:
    """What a selector sees of a trained weight: Keras's ``path``, ``name``, ``shape``."""

    path: str
    shape: tuple
    dtype: Any
    trainable: bool = True

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class MultiOptimizer(Optimizer):
    """Delegates each variable to the optimizer an :class:`OptimizerMap` or a function picks.

    As in Keras, the inner optimizers are the map's values and its default (in that order,
    each once), then any other optimizer the selector returns; each updates only its own
    variables, and keeps its own state.  ``learning_rate`` cannot be read or set on the
    wrapper: use ``.optimizers``.  ``LearningRateScheduler`` and ``ReduceLROnPlateau`` change
    each inner optimizer's rate and log ``learning_rate_<name>``, as Keras's do.

    Args:
        optimizer_map: an :class:`OptimizerMap`, or a function ``(variable) -> Optimizer``
            (called once per trained variable; ``variable.path`` is its Keras path).
        loss_scale_factor: set on every inner optimizer (overriding theirs), as in Keras.
        name: the optimizer's name.

    Example:

    >>> import numpy as np
    >>> import lamina as keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
    ...                           keras.layers.Dense(1, name="head")])
    >>> opt = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
    ...     keras.optimizers.SGD(0.1), {".*/head/.*": keras.optimizers.Adam(0.01)}))
    >>> model.compile(optimizer=opt, loss="mse")
    >>> _ = model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    >>> [type(o).__name__ for o in opt.optimizers], int(opt.iterations)
    (['Adam', 'SGD'], 1)
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        self.__dict__["_initializing"] = True
        try:
            super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        finally:
            self.__dict__["_initializing"] = False
        if not callable(optimizer_map):
            raise TypeError(
                "MultiOptimizer expects an OptimizerMap or a function (variable) -> optimizer. "
                f"Received: optimizer_map={optimizer_map!r}"
            )
        self._optimizer_map = optimizer_map
        inners: list = []
        candidates = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        candidates.append(getattr(optimizer_map, "default_optimizer", None))
        for opt in candidates:
            if opt is not None and not any(opt is o for o in inners):
                opt.loss_scale_factor = loss_scale_factor
                inners.append(opt)
        self.__dict__["_inner_optimizers"] = inners
        self.__dict__["_assigned"] = {}  # variable path -> inner index (asked once per path)

    # ---------------------------------------------------------------- Keras's attributes
    @property
    def optimizers(self) -> list:
        """The inner optimizers, in Keras's order."""
        return self.__dict__["_inner_optimizers"]

    @property
    def learning_rate(self):
        if self.__dict__.get("_initializing"):
            return 0.0
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead."
        )

    @learning_rate.setter
    def learning_rate(self, value):
        if self.__dict__.get("_initializing"):
            self.__dict__["_learning_rate"] = 0.0
            return
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. "
            "Set the learning rate on the individual sub-optimizers instead."
        )

    lr = learning_rate

    @property
    def loss_scale_factor(self):
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self.__dict__["_loss_scale_factor"] = value
        for opt in self.__dict__.get("_inner_optimizers", ()):
            opt.loss_scale_factor = value

    @property
    def iterations(self):
        """The wrapper's step count (int32 scalar), from the model training with it."""
        from lamina.optimizers.multi_models import _model_state
        from lamina.stateless_scope import _state_values

        own = self._state_tree(_state_values(self))  # inside a custom step: its traced state
        candidates = (own,) if self.__dict__.get("_bound") is not None else ()
        for state in (*candidates, _model_state(self), own):
            if isinstance(state, MultiOptimizerState):
                return state.iterations
        return jnp.zeros((), jnp.int32)

    # ---------------------------------------------------------------- labels
    def _index_for(self, variable) -> int:
        path = getattr(variable, "path", None)
        assigned = self.__dict__["_assigned"]
        if path is not None and path in assigned:
            return assigned[path]
        opt = self._optimizer_map(variable)
        if not isinstance(opt, Optimizer):
            raise ValueError(f"Optimizer for variable {variable} is not an Optimizer instance.")
        if isinstance(opt, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        inners = self.optimizers
        # By identity, as Keras: two equal Adam() are two optimizers.
        i = next((k for k, o in enumerate(inners) if o is opt), None)
        if i is None:
            opt.loss_scale_factor = self.loss_scale_factor
            inners.append(opt)
            i = len(inners) - 1
        if path is not None:
            assigned[path] = i
        return i

    def labels_for(self, variables) -> tuple:
        """Per variable (``.path`` read by the map), the index of its inner optimizer."""
        return tuple(self._index_for(v) for v in variables)

    def build(self, var_list):
        """Keras's ``build``: assigns each variable its optimizer, creates the state."""
        var_list = list(var_list)
        try:
            labels = self.labels_for(var_list)
        except AttributeError as e:  # plain arrays: no ``path`` to look up
            labels = self.__dict__.get("_built_labels")
            if labels is None or len(labels) != len(var_list):
                raise ValueError(
                    "MultiOptimizer.build() picks each variable's optimizer from its `path`; "
                    f"received objects without one ({e}). Expected Keras variables: call "
                    "optimizer.build(model.trainable_variables) (a custom train_step's "
                    "optimizer too, before fit)."
                ) from None
        self.__dict__["_built_labels"] = labels
        super().build(var_list)

    def apply(self, grads, trainable_variables=None):
        """Keras's ``apply``: builds for ``trainable_variables`` first (their paths pick the
        optimizers), then updates each group with its optimizer."""
        grads = list(grads)
        if not grads:
            return None
        if trainable_variables is not None and not self.built:
            self.build(trainable_variables)
        return super().apply(grads, trainable_variables)

    def bind_owners(self, owners) -> None:
        """Labels the trainable weights of the models a custom ``train_step`` trains (in
        Keras's order, the order ``stateless_apply`` receives them)."""
        from lamina.layers.variable_paths import weight_path
        from lamina.models.state_access import trained_slots

        infos = [
            _VariableInfo(weight_path(layer, k), tuple(value.shape), value.dtype)
            for owner in owners
            for layer, k, value in trained_slots(owner)
        ]
        self.__dict__["_built_labels"] = self.labels_for(infos)

    def to_optax(self, variables=None) -> optax.GradientTransformation:
        """The transform for ``variables`` (one per parameter leaf, with ``.path``), or for
        the variables :meth:`build` was given."""
        if variables is not None:
            labels = self.labels_for(variables)
        else:
            labels = self.__dict__.get("_built_labels")
            if labels is None:
                raise ValueError(
                    "MultiOptimizer.to_optax() needs the variables to split: call "
                    "optimizer.build(variables) first, or compile a model with it."
                )
        return multi_transform(self, labels)

    def _key(self):
        # The map (or function) decides the labels: only this very wrapper is equal.
        return (type(self), id(self))

    def __repr__(self):
        return f"MultiOptimizer(optimizers={self.optimizers!r}, name={self.name!r})"

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        return {
            "optimizer_map": _serialize_map(self._optimizer_map),
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer_map"] = _deserialize_map(config["optimizer_map"], custom_objects)
        return cls(**config)


def _serialize_map(obj):
    if isinstance(obj, OptimizerMap):
        return {
            "module": "keras.optimizers",
            "class_name": "OptimizerMap",
            "config": obj.get_config(),
            "registered_name": None,
        }
    from lamina.object_registry import get_registered_name

    # Keras's entry for a function: loaded back by name (custom_objects, registration).
    return {
        "module": getattr(obj, "__module__", "builtins"),
        "class_name": "function",
        "config": getattr(obj, "__name__", type(obj).__name__),
        "registered_name": get_registered_name(obj),
    }


def _deserialize_map(cfg, custom_objects):
    if not isinstance(cfg, dict):
        return cfg
    if cfg.get("class_name") == "OptimizerMap":
        return OptimizerMap.from_config(cfg.get("config") or {}, custom_objects)
    from lamina.object_registry import get_registered_object

    name = cfg.get("config")
    fn = None
    for key in (cfg.get("registered_name"), name):
        if fn is None and isinstance(key, str):
            fn = get_registered_object(key, custom_objects)
    if fn is None:
        raise ValueError(
            f"Could not find the MultiOptimizer's selector function {name!r}: pass it in "
            "custom_objects={name: function} or register it with "
            "keras.saving.register_keras_serializable()."
        )
    return fn


# -------------------------------------------------------------------- the transform
def multi_transform(opt: MultiOptimizer, labels: tuple) -> optax.GradientTransformation:
    """Each inner optimizer's transform over the leaves labelled with its index."""
    labels = tuple(labels)
    txs = [o.to_optax() for o in opt.optimizers]
    groups = [[i for i, k in enumerate(labels) if k == j] for j in range(len(txs))]

    def check(leaves):
        if len(leaves) != len(labels):
            raise ValueError(
                f"MultiOptimizer was set up for {len(labels)} variables; received "
                f"{len(leaves)}. Compile the model again (or build the optimizer) for them."
            )

    def init_fn(params):
        leaves = jax.tree_util.tree_leaves(params)
        check(leaves)
        inner = tuple(tx.init([leaves[i] for i in g]) for tx, g in zip(txs, groups))
        return MultiOptimizerState(
            jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32), inner, labels
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("MultiOptimizer.to_optax().update requires `params`.")
        grads, treedef = jax.tree_util.tree_flatten(updates)
        check(grads)
        values = treedef.flatten_up_to(params)
        out = list(grads)
        new_inner = []
        for tx, g, st in zip(txs, groups, state.inner):
            if not g:  # Keras never applies an optimizer without variables: its count stays
                new_inner.append(st)
                continue
            ups, st = tx.update([grads[i] for i in g], st, [values[i] for i in g])
            for i, u in zip(g, ups):
                out[i] = u
            new_inner.append(st)
        new = MultiOptimizerState(
            state.iterations + 1, state.learning_rate, tuple(new_inner), labels
        )
        return jax.tree_util.tree_unflatten(treedef, out), new

    return optax.GradientTransformation(init_fn, update_fn)
