"""What other packages may read of a model's state, without building or changing it.

Optimizers (a learning rate set mid-fit, ``optimizer.iterations``, ``optimizer.variables``)
need a compiled model's current state; the model owns that state, so they read it through
these functions instead of the model's attributes.  Unlike ``model.train_state``, nothing
here builds the model or creates its optimizer state.

>>> import numpy as np
>>> import lamina as keras
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> opt = keras.optimizers.SGD(0.1)
>>> model.compile(optimizer=opt, loss="mse")
>>> built_state(model) is None, models_training_with(opt) == []
(True, True)
>>> _ = model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
>>> built_state(model).opt_state is not None, models_training_with(opt) == [model]
(True, True)
"""

from __future__ import annotations

__all__ = ["built_state", "trains_with_custom_step", "models_training_with", "trained_slots"]


def built_state(model):
    """``model``'s :class:`~lamina.training.state.TrainState` as it is now: ``None`` before the
    model is built (its optimizer state is ``None`` before the first fit of a compiled model).

    Args:
        model: any Lamina model.

    Returns:
        The state, or ``None``.
    """
    # Not ``model.__dict__``: a model sharing layers with others reads its state through a
    # property that pulls in the weights they wrote (:mod:`lamina.models.weight_sync`).
    return getattr(model, "_train_state", None)


def trains_with_custom_step(model) -> bool:
    """Whether ``model`` trains through its own ``train_step`` (built already): such a model
    trains from its optimizer's own state, not from the state in its ``TrainState``."""
    return "_custom_program" in model.__dict__


def models_training_with(opt) -> list:
    """The live, built models whose optimizer is ``opt`` (the models a learning rate assigned
    to ``opt`` must reach).

    Args:
        opt: an optimizer.

    Returns:
        The models, oldest first.
    """
    from lamina.layers.stateful import MODELS

    out = []
    for model in list(MODELS.values()):
        if getattr(model, "optimizer", None) is not opt:
            continue
        if built_state(model) is not None:
            out.append(model)
    return out


def trained_slots(model) -> list:
    """``(layer, key, array)`` for each trainable variable of a built ``model``, in Keras's
    ``trainable_variables`` order."""
    ts = built_state(model)
    layers = model._engine_network().layers
    return [(layers[i], k, ts.params[i][k]) for i, k, _ in model._variable_slots()[0]]


def variable_arrays(model) -> tuple[list, list]:
    """``(trainable, non_trainable)`` arrays of a built ``model``, in Keras's
    ``trainable_variables``/``non_trainable_variables`` order."""
    if not hasattr(model, "_variable_slots"):  # a built layer a model without call holds
        return [v.value for v in model.trainable_variables], [
            v.value for v in model.non_trainable_variables
        ]
    ts = built_state(model)
    t_slots, nt_slots = model._variable_slots()
    tv = [ts.params[i][k] for i, k, _ in t_slots]
    ntv = [(ts.params if p else ts.state)[i][k] for i, k, p in nt_slots]
    return tv, ntv


def variable_counts(model) -> tuple[int, int]:
    """``(len(trainable_variables), len(non_trainable_variables))`` of a built ``model``."""
    if not hasattr(model, "_variable_slots"):  # a built layer
        return len(model.trainable_variables), len(model.non_trainable_variables)
    t_slots, nt_slots = model._variable_slots()
    return len(t_slots), len(nt_slots)


def write_variable_arrays(model, tv, ntv) -> None:
    """Stores arrays in :func:`variable_arrays`'s order as ``model``'s weights (a custom
    ``train_step``'s results)."""
    if not hasattr(model, "_variable_slots"):  # a built layer: through its weight views
        views = list(model.trainable_variables) + list(model.non_trainable_variables)
        for view, v in zip(views, [*tv, *ntv]):
            model._write_weight(view._key, view._trainable, v)
        return
    ts = built_state(model)
    params = [dict(p) for p in ts.params]
    state = [dict(s) for s in ts.state]
    t_slots, nt_slots = model._variable_slots()
    for (i, k, _), v in zip(t_slots, tv):
        params[i][k] = v
    for (i, k, p), v in zip(nt_slots, ntv):
        (params if p else state)[i][k] = v
    model._train_state = ts._replace(params=tuple(params), state=tuple(state))


def trained_layer_keys(model) -> list:
    """Per trainable variable of ``model``, ``(layer, key)`` (the layer owning it, whose
    constraint projects it after an optimizer step), or ``None`` for each where ``model``
    has no layer graph."""
    if not hasattr(model, "_variable_slots"):  # a built layer projects its own weights
        return [(v._layer, v._key) for v in model.trainable_variables]
    try:
        layers = model._engine_network().layers
    except (AttributeError, ValueError):
        return [None] * len(model._variable_slots()[0])
    return [(layers[i], k) for i, k, _ in model._variable_slots()[0]]
