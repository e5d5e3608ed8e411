"""``model.train_state`` of a model with custom steps (:mod:`lamina.models.custom_training`).

The custom engine carries ``model.optimizer``'s state itself (``optimizer.variables``, the
flat leaves of its optax state over the trainable variables), not in the model's
``TrainState``.  :func:`read` shows that state as ``train_state.opt_state`` and :func:`write`
stores it back, so callbacks written against ``train_state`` work on these models as Keras's
work on its optimizer variables: ``LearningRateScheduler``/``ReduceLROnPlateau`` change the
rate of the next epochs, ``SwapEMAWeights`` swaps the moving averages in (they are laid out per
layer, as ``train_state.params``), ``BackupAndRestore`` saves and restores the optimizer too.
"""

from __future__ import annotations

import dataclasses


def read(model):
    """The model's ``TrainState`` with the optimizer's own state as ``opt_state`` (the
    optimizer is built for the model's weights first when needed)."""
    from lamina.models.custom_binding import _parts
    from lamina.training import custom_state

    ts = model._train_state
    opt = model.optimizer
    if ts is None:
        return ts
    if not opt.built:
        custom_state.read_state(_parts(model))  # builds it for the model's weights
    state = opt._optax_state()
    return ts if state is None else ts._replace(opt_state=_ema_per_layer(model, state))


def write(model, ts):
    """Stores ``ts.opt_state`` as the optimizer's state (when it has its structure); returns
    the ``TrainState`` to keep on the model."""
    opt = model.optimizer
    if ts is None or ts.opt_state is None:
        return ts
    if not opt._set_optax_state(_ema_flat(model, ts.opt_state)):
        return ts
    opt._sync_learning_rate()  # optimizer.learning_rate reads the new rate
    old = model._train_state
    return ts._replace(opt_state=None if old is None else old.opt_state)


# ------------------------------------------------------------ the EMA, per layer
def _with_ema(state, convert):
    from lamina.optimizers.state import _find_state, _replace_state

    try:
        found = _find_state(state)
    except TypeError:
        return state
    ema = None if found.ema is None else convert(found.ema)
    if ema is None:
        return state
    return _replace_state(state, dataclasses.replace(found, ema=ema))


def _ema_per_layer(model, state):
    """The optimizer state with its moving averages (a flat list over the trainable
    variables) laid out as ``train_state.params`` is, per layer (what ``SwapEMAWeights``
    swaps with the weights)."""
    t_slots = model._variable_slots()[0]
    n_layers = len(model._train_state.params)

    def convert(ema):
        if not isinstance(ema, list) or len(ema) != len(t_slots):
            return None
        out: list[dict] = [{} for _ in range(n_layers)]
        for (i, k, _), e in zip(t_slots, ema):
            out[i][k] = e
        return tuple(out)

    return _with_ema(state, convert)


def _ema_flat(model, state):
    """Inverse of :func:`_ema_per_layer`."""
    t_slots = model._variable_slots()[0]

    def convert(ema):
        if not isinstance(ema, tuple) or not all(isinstance(d, dict) for d in ema):
            return None
        try:
            return [ema[i][k] for i, k, _ in t_slots]
        except (IndexError, KeyError):
            return None

    return _with_ema(state, convert)
