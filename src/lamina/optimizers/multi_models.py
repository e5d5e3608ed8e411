"""A :class:`~lamina.optimizers.MultiOptimizer` and the models that train with it.

``compile`` gets the optimizer's transform for the model's trained weights from
:func:`optimizer_tx` (the weights' Keras paths pick the inner optimizers); the inner
optimizers' learning rates and step counts live in the model's state, and
:func:`follow_inner_rate`, :func:`inner_state` reach them there, so ``inner.learning_rate =
x`` (a learning-rate callback) and ``inner.iterations`` behave as Keras's.

>>> import numpy as np
>>> import lamina as keras
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> sgd = keras.optimizers.SGD(0.1)
>>> model.compile(optimizer=keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(sgd)),
...               loss="mse")
>>> _ = model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
>>> sgd.learning_rate = 0.05; float(inner_state(sgd).learning_rate), int(sgd.iterations)
(0.05000000074505806, 1)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers.multi_optimizer import MultiOptimizer, MultiOptimizerState, _VariableInfo

__all__ = ["optimizer_tx", "follow_inner_rate", "inner_state", "inner_optimizers"]


def optimizer_tx(model, optimizer) -> optax.GradientTransformation:
    """``optimizer``'s transform for ``model``'s trained weights (a :class:`MultiOptimizer`
    needs their Keras paths; any other optimizer is ``optimizer.to_optax()``)."""
    # A MultiOptimizer, or one inside the LossScaleOptimizer mixed_float16's compile adds.
    inner = getattr(optimizer, "inner_optimizer", None)
    multi = optimizer if isinstance(optimizer, MultiOptimizer) else inner
    if not isinstance(multi, MultiOptimizer):
        return optimizer.to_optax()
    from lamina.saving.weights_h5 import leaf_order
    from lamina.training.state import split_trainable

    view = model.saving_view()
    trained, _ = split_trainable(view.train_state.params, view.trainable_mask())
    leaves = jax.tree_util.tree_leaves(trained)
    names, order = leaf_order(model, keras_paths=True)
    infos = [
        _VariableInfo(n, tuple(jnp.shape(a)), jnp.result_type(a)) for n, a in zip(names, leaves)
    ]
    # Keras asks the map in ``trainable_variables`` order: a selector making a new optimizer
    # per variable gives Keras's order of inner optimizers.
    multi.labels_for([infos[i] for i in order])
    if multi is optimizer:
        return multi.to_optax(infos)
    multi.__dict__["_built_labels"] = multi.labels_for(infos)  # what the wrapper's to_optax uses
    return optimizer.to_optax()


def _model_state(opt):
    from lamina.models.state_access import (
        built_state,
        models_training_with,
        trains_with_custom_step,
    )

    for model in models_training_with(opt):
        if trains_with_custom_step(model):
            continue  # a custom train_step trains from the optimizer's own (built) state
        state = built_state(model).opt_state
        if state is not None:
            return state
    return None


# -------------------------------------------------------------------- learning rates
def follow_inner_rate(inner, rate: float) -> None:
    """``inner.learning_rate = rate`` on an optimizer inside a compiled model's
    ``MultiOptimizer``: the model's state (or a custom step's built state) takes the rate
    without recompiling, as assigning Keras's learning-rate variable changes the next steps."""
    from lamina.models.state_access import (
        built_state,
        models_training_with,
        trains_with_custom_step,
    )

    for multi in _multis_holding(inner):
        k = next(i for i, o in enumerate(multi.optimizers) if o is inner)
        for model in models_training_with(multi):
            ts = built_state(model)
            if isinstance(ts.opt_state, MultiOptimizerState) and not trains_with_custom_step(model):
                model.train_state = ts._replace(opt_state=_with_rate(ts.opt_state, k, rate))
        own = multi._optax_state()
        if isinstance(own, MultiOptimizerState):
            multi._set_optax_state(_with_rate(own, k, rate))


def _multis_holding(inner) -> list:
    """The compiled models' ``MultiOptimizer``s that hold ``inner`` (each once)."""
    from lamina.layers.stateful import MODELS

    out: list = []
    for model in list(MODELS.values()):
        multi = getattr(model, "optimizer", None)
        if (
            isinstance(multi, MultiOptimizer)
            and any(o is inner for o in multi.optimizers)
            and not any(m is multi for m in out)
        ):
            out.append(multi)
    return out


def _with_rate(state: MultiOptimizerState, k: int, rate: float) -> MultiOptimizerState:
    from lamina.optimizers.state import _find_state, set_learning_rate

    inner_states = list(state.inner)
    if k < len(inner_states) and not _find_state(inner_states[k]).lr_is_schedule:
        inner_states[k] = set_learning_rate(inner_states[k], rate)
    return dataclasses.replace(state, inner=tuple(inner_states))


def inner_optimizers(model) -> list | None:
    """The inner optimizers of ``model``'s ``MultiOptimizer`` (``None`` for any other):
    Keras's learning-rate callbacks change and log each one's rate."""
    opt = getattr(model, "optimizer", None)
    return opt.optimizers if isinstance(opt, MultiOptimizer) else None


def log_inner_rates(model, logs: dict) -> None:
    """``logs["learning_rate_<name>"]`` per inner optimizer, as Keras's callbacks log them."""
    for opt in inner_optimizers(model) or ():
        logs[f"learning_rate_{opt.name}"] = float(opt.learning_rate)


def inner_state(inner):
    """The state of ``inner`` inside the ``MultiOptimizer`` of a model training with it
    (``inner.iterations`` reads its count, as Keras's sub-optimizers count their own steps),
    or ``None``."""
    from lamina.optimizers.state import _find_state

    for multi in _multis_holding(inner):
        states = (_model_state(multi), multi._optax_state())
        for state in states:
            if not isinstance(state, MultiOptimizerState):
                continue
            for k, opt in enumerate(multi.optimizers):
                if opt is inner and k < len(state.inner):
                    try:
                        return _find_state(state.inner[k])
                    except TypeError:
                        return None
    return None
