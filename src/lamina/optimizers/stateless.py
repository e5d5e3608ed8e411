"""Keras 3's stateless optimizer API: ``optimizer.build``, ``optimizer.variables`` and
``optimizer.stateless_apply``, as a custom JAX-style ``train_step(self, state, data)`` uses
them.

An optimizer's variables are the flat leaves of its optax state over a *list* of trainable
arrays.  Inside a compiled custom step, :mod:`lamina.training.custom_state` binds ``_bound``
to the traced leaves: ``optimizer.variables`` reads them and ``stateless_apply`` records its
result there, which is how an optimizer other than ``model.optimizer`` (a GAN's two) keeps its
state from step to step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
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
        arrays = [jnp.asarray(getattr(v, "value", v)) for v in var_list]
        zeros = [jnp.zeros(a.shape, a.dtype) for a in arrays]
        state = jax.jit(self.to_optax().init)(zeros)
        self.__dict__["_built_state"] = list(jax.tree_util.tree_leaves(state))

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
        return assignable(list(self.__dict__.get("_built_state") or []), self._assign_slot)

    def _assign_slot(self, i, value):
        state = self.__dict__["_built_state"]
        state[i] = jnp.asarray(value, dtype=state[i].dtype).reshape(jnp.shape(state[i]))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """One update, purely: returns ``(new_trainable_variables, new_optimizer_variables)``.

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
        new_vars = list(jax.tree_util.tree_leaves(new_state))
        if self.__dict__.get("_bound") is not None:
            self.__dict__["_bound"] = new_vars
        return new_tv, new_vars
