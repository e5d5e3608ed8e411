"""Keras 3's stateless optimizer API: ``optimizer.build``, ``optimizer.variables`` and
``optimizer.stateless_apply``, as a custom JAX-style ``train_step(self, state, data)`` uses
them.

An optimizer's variables are the flat leaves of its optax state over a *list* of trainable
arrays.  Inside a compiled custom step, :mod:`lamina.training.custom_state` binds ``_bound``
to the traced leaves: ``optimizer.variables`` reads them and ``stateless_apply`` records its
result there, which is how an optimizer other than ``model.optimizer`` (a GAN's two) keeps its
state from step to step.

As Keras's optimizer does, ``stateless_apply`` projects each updated variable with its
constraint (``kernel_constraint=...``) after the update, and the state's ``learning_rate``
leaf follows ``optimizer.learning_rate = x`` (see :meth:`StatelessOptimizerMixin.__setattr__`),
so a learning-rate callback reaches a custom step's optimizer state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


class StatelessOptimizerMixin:
    """``build``/``variables``/``stateless_apply`` over ``self.to_optax()``."""

    def build(self, var_list):
        """Creates the optimizer's state for ``var_list`` (Keras variables or arrays).

        >>> import jax.numpy as jnp
        >>> from lamina import optimizers
        >>> opt = optimizers.Adam()
        >>> opt.build([jnp.zeros((2, 3)), jnp.zeros((3,))])
        >>> len(opt.variables) > 2
        True
        """
        var_list = list(var_list)
        arrays = [jnp.asarray(getattr(v, "value", v)) for v in var_list]
        zeros = [jnp.zeros(a.shape, a.dtype) for a in arrays]
        state = jax.jit(self.to_optax().init)(zeros)
        leaves, treedef = jax.tree_util.tree_flatten(state)
        self.__dict__["_built_state"] = list(leaves)
        self.__dict__["_state_treedef"] = treedef
        self.__dict__["_constraints"] = [_variable_constraint(v) for v in var_list]
        # Keras names each slot after its variable's path (``dense_kernel_momentum``).
        self.__dict__["_built_names"] = [
            v if hasattr(v, "path") or hasattr(v, "name") else f"variable_{i}"
            for i, v in enumerate(var_list)
        ]

    @property
    def built(self) -> bool:
        return self.__dict__.get("_built_state") is not None

    @property
    def variables(self) -> list:
        """The optimizer's state as a flat list of arrays (``[]`` before ``build``); each
        has Keras's ``assign(value)``, ``value`` and ``numpy()``."""
        from lamina._assignable import assignable

        bound = self.__dict__.get("_bound")
        if bound is not None:
            return list(bound)
        built = self.__dict__.get("_built_state")
        if built is None:
            trained = _model_variables(self)
            if trained is not None:
                return trained
        return _named(self, assignable(list(built or []), self._assign_slot))

    def set_weights(self, weights):
        """Keras's ``optimizer.set_weights``: assigns ``weights`` (arrays in the order of
        :attr:`variables`) to the optimizer's variables.

        Raises:
            ValueError: the optimizer has no variables yet (build it, or compile and fit a
                model with it), or the count or a shape does not match.

        >>> import numpy as np, jax.numpy as jnp
        >>> from lamina import optimizers
        >>> opt = optimizers.SGD(0.1, momentum=0.9)
        >>> opt.build([jnp.zeros(2)])
        >>> opt.set_weights([np.int32(3), np.float32(0.1), np.ones(2, "float32")])
        >>> int(opt.iterations), opt.get_weights()[2].tolist()
        (3, [1.0, 1.0])
        """
        variables = self.variables
        if not variables:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. "
                "Please call `optimizer.build(trainable_variables)` to create the optimizer "
                "weights before calling `set_weights()`."
            )
        weights = list(weights)
        if len(weights) != len(variables):
            raise ValueError(
                f"`set_weights()` expected {len(variables)} arrays (one per optimizer "
                f"variable, in `optimizer.variables` order); received {len(weights)}."
            )
        for v, w in zip(variables, weights):
            if tuple(np.shape(w)) != tuple(np.shape(v)):
                raise ValueError(
                    f"Optimizer variable {getattr(v, 'path', None) or '?'} has shape "
                    f"{tuple(np.shape(v))} not compatible with provided weight shape "
                    f"{tuple(np.shape(w))}."
                )
        for v, w in zip(variables, weights):
            v.assign(w)

    def get_weights(self) -> list:
        """Keras 2's ``optimizer.get_weights()``: the values of :attr:`variables` as NumPy
        arrays (``set_weights`` takes them back)."""
        return [np.asarray(v) for v in self.variables]

    @property
    def iterations(self):
        """Keras's ``optimizer.iterations`` (see :func:`lamina.stateless_scope.iterations`)."""
        from lamina import stateless_scope

        return stateless_scope.iterations(self)

    def apply(self, grads, trainable_variables=None):
        """Keras's ``optimizer.apply`` (see :func:`lamina.stateless_scope.apply`)."""
        from lamina import stateless_scope

        return stateless_scope.apply(self, grads, trainable_variables)

    def apply_gradients(self, grads_and_vars):
        """Keras's ``optimizer.apply_gradients(zip(grads, variables))``; returns
        :attr:`iterations`."""
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))
        return self.iterations

    # ------------------------------------------------ the state as the optax tree
    def _optax_state(self):
        """The built state as its optax tree (an ``OptimizerState``), or ``None``."""
        return self._state_tree(self.__dict__.get("_built_state"))

    def _state_tree(self, values):
        """``values`` (one per optimizer variable, in :attr:`variables` order: the built
        leaves, or a custom step's traced ones) as the built state's optax tree; ``None``
        when the optimizer is not built or the count differs."""
        treedef = self.__dict__.get("_state_treedef")
        if values is None or treedef is None or treedef.num_leaves != len(values):
            return None
        return jax.tree_util.tree_unflatten(treedef, list(values))

    def _variable_owners(self) -> list | None:
        """For each optimizer variable (in :attr:`variables` order), the index in ``build``'s
        ``var_list`` of the variable it mirrors (a slot, a moving average), or ``None`` for
        an optimizer-wide one (``iterations``, ``learning_rate``); ``None`` when not built
        (Adam over two variables: ``[None, None, 0, 0, 1, 1]``)."""
        treedef = self.__dict__.get("_state_treedef")
        if treedef is None:
            return None
        count = treedef.num_leaves
        tree = jax.tree_util.tree_unflatten(treedef, list(range(count)))
        owners: list = [None] * count
        # The key paths end as the variables' own in the built list: ``SequenceKey(i)``.
        for path, j in jax.tree_util.tree_flatten_with_path(tree)[0]:
            last = path[-1] if path else None
            owners[j] = last.idx if isinstance(last, jax.tree_util.SequenceKey) else None
        return owners

    def _set_optax_state(self, state) -> bool:
        """Stores an optax tree of the built state's structure; ``False`` if it differs."""
        leaves, treedef = jax.tree_util.tree_flatten(state)
        if treedef != self.__dict__.get("_state_treedef"):
            return False
        self.__dict__["_built_state"] = list(leaves)
        return True

    def ema_values(self):
        """The moving averages of the variables the optimizer was built for (``use_ema``),
        as a list, or ``None`` (no EMA, or not built): what Keras's
        ``finalize_variable_values`` writes into the model at the end of ``fit``.

        >>> import jax.numpy as jnp
        >>> from lamina import optimizers
        >>> opt = optimizers.SGD(0.5, use_ema=True)
        >>> opt.build([jnp.ones(2)])
        >>> new, _ = opt.stateless_apply(opt.variables, [jnp.ones(2)], [jnp.ones(2)])
        >>> [a.tolist() for a in opt.ema_values()]
        [[0.0, 0.0]]
        """
        from lamina.optimizers.state import get_ema_params

        state = self._optax_state() if getattr(self, "use_ema", False) else None
        ema = None if state is None else get_ema_params(state)
        return None if ema is None else list(jax.tree_util.tree_leaves(ema))

    def _sync_learning_rate(self) -> None:
        """``learning_rate`` set to the built state's rate (a callback changed the state)."""
        from lamina.optimizers.state import _find_state

        state = self._optax_state()
        try:
            found = None if state is None else _find_state(state)
        except TypeError:  # a state without a learning rate
            return
        if found is not None and not found.lr_is_schedule and "_learning_rate" in self.__dict__:
            # The state holds float32: read it back as the shortest decimal (0.01).
            self.__dict__["_learning_rate"] = float(str(np.float32(found.learning_rate)))

    def __getstate__(self):
        # The (layer, key) constraint pairs stay with the live model: the engine sets them
        # again when it reads the state; a pickled optimizer does not drag the layers along.
        state = dict(self.__dict__)
        state.pop("_constraints", None)
        state.pop("_bound", None)
        return state

    def __setattr__(self, name, value):
        """``optimizer.learning_rate = x`` (a float) also sets the rate in the state the
        optimizer's models train with, as Keras assigns its learning-rate variable."""
        super().__setattr__(name, value)
        if name != "learning_rate" or isinstance(value, bool):
            return
        if not isinstance(value, int | float | np.floating | np.integer):
            return
        _follow_learning_rate(self, float(value))

    def _assign_slot(self, i, value):
        state = self.__dict__["_built_state"]
        state[i] = jnp.asarray(value, dtype=state[i].dtype).reshape(jnp.shape(state[i]))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """One update, purely: returns ``(new_trainable_variables, new_optimizer_variables)``.

        As in Keras, a variable built with a constraint (``kernel_constraint=...``; the
        engine builds ``model.optimizer`` for the model's weights, ``build(layer.weights)``
        does it for other optimizers) is projected by it after the update.

        Args:
            optimizer_variables: :attr:`variables` (the state leaves), or ``[]`` for an
                optimizer not built yet (its state starts fresh for these variables).
            grads: one gradient per trainable variable, in the same order.
            trainable_variables: the arrays to update.

        Raises:
            ValueError: the lists do not match in length, or the state was built for other
                variables.

        >>> import jax.numpy as jnp
        >>> from lamina import optimizers
        >>> opt = optimizers.SGD(0.5)
        >>> opt.build([jnp.ones(2)])
        >>> new, opt_vars = opt.stateless_apply(opt.variables, [jnp.ones(2)], [jnp.ones(2)])
        >>> new[0].tolist()
        [0.5, 0.5]
        """
        tv = [jnp.asarray(getattr(v, "value", v)) for v in trainable_variables]
        grads = list(grads)
        if len(grads) != len(tv):
            raise ValueError(
                f"stateless_apply expected one gradient per trainable variable: received "
                f"{len(grads)} gradients for {len(tv)} variables."
            )
        tx = self.to_optax()
        template = jax.eval_shape(tx.init, tv)
        leaves, treedef = jax.tree_util.tree_flatten(template)
        optimizer_variables = list(optimizer_variables)
        if not optimizer_variables:
            # Not built: the engine builds it for these shapes before compiling the step.
            self.__dict__["_seen_shapes"] = [(a.shape, a.dtype) for a in tv]
            state = tx.init(tv)
        else:
            if len(optimizer_variables) != len(leaves) or any(
                tuple(jnp.shape(a)) != tuple(t.shape) for a, t in zip(optimizer_variables, leaves)
            ):
                raise ValueError(
                    f"stateless_apply: the {len(optimizer_variables)} optimizer variables do "
                    f"not match the {len(leaves)} this optimizer keeps for the {len(tv)} given "
                    f"trainable variables. Pass optimizer.variables of an optimizer built for "
                    f"these variables (optimizer.build(variables))."
                )
            state = jax.tree_util.tree_unflatten(treedef, optimizer_variables)
        updates, new_state = tx.update(grads, state, tv)
        new_tv = list(optax.apply_updates(tv, updates))
        constraints = self.__dict__.get("_constraints")
        if constraints and len(constraints) == len(new_tv):
            # Keras: "Apply variable constraints after applying gradients."
            new_tv = [_constrained(c, v) for c, v in zip(constraints, new_tv)]
        new_vars = list(jax.tree_util.tree_leaves(new_state))
        if self.__dict__.get("_bound") is not None:
            self.__dict__["_bound"] = new_vars
        return new_tv, new_vars


# ------------------------------------------------------------------------ constraints
def _variable_constraint(v):
    """``(layer, key)`` for a layer's weight (a Lamina ``Variable``, whose layer projects it
    with its constraints), a callable for any other object with a ``constraint``, or
    ``None`` (a plain array: nothing to project)."""
    layer, key = getattr(v, "_layer", None), getattr(v, "_key", None)
    if layer is not None and key is not None and hasattr(layer, "apply_constraints"):
        return (layer, key)
    return getattr(v, "constraint", None)


def _constrained(constraint, value):
    if constraint is None:
        return value
    if isinstance(constraint, tuple):
        layer, key = constraint
        out = layer.apply_constraints({key: value}).get(key, value)
    else:
        out = constraint(value)
    return jnp.asarray(out, value.dtype)


# ---------------------------------------------------------------------- learning rate
def _follow_learning_rate(opt, value) -> None:
    """Sets ``value`` in the built state (a custom step's) and in the state of every compiled
    model that trains with ``opt`` (no recompilation: the rate is a leaf of the state)."""
    if not np.isfinite(value) or value < 0:
        return  # the constructor's checks report it
    state = opt._optax_state() if "_built_state" in opt.__dict__ else None
    if state is not None:
        from lamina.optimizers.state import _find_state, set_learning_rate

        try:
            if not _find_state(state).lr_is_schedule:
                opt._set_optax_state(set_learning_rate(state, value))
        except TypeError:  # a state without a learning rate: nothing to follow
            pass
    from lamina.models.state_access import (
        built_state,
        models_training_with,
        trains_with_custom_step,
    )

    for model in models_training_with(opt):
        if trains_with_custom_step(model):
            continue  # trains from the built state, set above
        if built_state(model).opt_state is not None:
            from lamina.callbacks.extra import set_lr

            set_lr(model, value)


def _model_variables(opt) -> list | None:
    """The state of a compiled model that trains with ``opt`` (``model.optimizer`` after
    ``fit``), as Keras lists its variables: ``iteration``, ``learning_rate``, then each
    trained weight's slots (``adam/dense_kernel_momentum``, ...); ``None`` when no such
    model has a state.  ``assign`` writes back into the model's state."""
    from lamina._assignable import assignable
    from lamina.optimizers.keras2 import models_using
    from lamina.saving import weights_h5

    for model in models_using(opt):
        ts = getattr(model, "train_state", None)
        if ts is None or getattr(ts, "opt_state", None) is None:
            continue
        pairs = weights_h5.optimizer_variables(model, keras_paths=True)
        values = [jnp.asarray(v) for _, v in pairs]

        def write(i, value, model=model, values=values):
            values[i] = jnp.asarray(value, values[i].dtype).reshape(values[i].shape)
            weights_h5.set_optimizer_variables(model, values, "optimizer.variables")

        out = assignable(values, write)
        _set_names(opt, out, [name for name, _ in pairs])
        return out
    return None


def _set_names(opt, arrays, names) -> None:
    """Keras's ``name`` and ``path`` on each listed array."""
    from lamina.optimizers.slots import Unscoped

    for name, v in zip(names, arrays):
        # A MultiOptimizer's inner variables are named "<inner>/<name>" already; Keras makes
        # a few (Nadam's ``variable``) outside the optimizer's name scope.
        scoped = "/" not in name and not isinstance(name, Unscoped)
        path = f"{opt.name}/{name}" if scoped else str(name)
        try:
            v.name, v.path = path.rsplit("/", 1)[-1], path
        except AttributeError:  # an array type (or a tracer) that takes no attributes
            pass


def _named(opt, leaves: list) -> list:
    """The built state's leaves named as Keras names ``optimizer.variables`` (they are in
    its order: see :class:`lamina.optimizers.state.OptimizerState`)."""
    names = opt.__dict__.get("_built_names")
    state = opt._optax_state()
    if names is None or state is None or not leaves:
        return leaves
    from lamina.optimizers.slots import slot_variables

    try:
        pairs = slot_variables(opt, state, names)
    except (TypeError, ValueError, AttributeError, KeyError):  # a state it cannot list
        return leaves
    if len(pairs) == len(leaves) - 1 and getattr(state, "lr_is_schedule", False):
        pairs = [*pairs, ("learning_rate", None)]  # a schedule's rate, which Keras omits
    if len(pairs) != len(leaves) or any(
        a is not None and jnp.shape(a) != jnp.shape(b) for (_, a), b in zip(pairs, leaves)
    ):
        return leaves
    _set_names(opt, leaves, [n for n, _ in pairs])
    return leaves
