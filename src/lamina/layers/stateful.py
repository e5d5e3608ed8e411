"""The carried states of ``stateful=True`` recurrent layers.

A stateful layer keeps its last states (``h``; LSTM ``h, c``) in its non-trainable ``state``
dict under :data:`STATE_KEYS`, shaped ``(batch_size, units)``.  ``apply`` starts from them and
returns the final ones, so the compiled training epoch carries them from batch to batch (the
scan carry holds the whole training state) and from one ``fit`` call to the next;
``reset_states`` zeroes them in the models that hold the layer.

Models register themselves in :data:`MODELS` when created (``LegacyAPIMixin.__new__``) so
``layer.reset_states()`` can find the arrays, which live in the model, not on the layer.

>>> import jax, numpy as np
>>> from lamina.layers import LSTM
>>> lstm = LSTM(2, stateful=True, batch_input_shape=(3, 4, 1))
>>> params, state = lstm.init(jax.random.key(0), (3, 4, 1))
>>> sorted(state), state["rnn_state_0"].shape
(['rnn_state_0', 'rnn_state_1'], (3, 2))
>>> _, state = lstm.apply(params, state, np.ones((3, 4, 1), "float32"))
>>> bool(np.any(np.asarray(state["rnn_state_0"]) != 0))
True
"""

from __future__ import annotations

import weakref

import jax.numpy as jnp
import numpy as np

#: State names, one per cell state (Keras names its state variables ``rnn_state``); an
#: ``RNN`` over stacked cells has one per state of every cell.
STATE_KEYS = tuple(f"rnn_state_{i}" for i in range(32))

#: Every live model by ``id`` (weakly; ids need no ``__hash__``), so a layer can reset its
#: states in the models holding it.
MODELS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


#: State names that are not weights: carried RNN states and ``SeedGenerator`` states.
_NOT_WEIGHTS = (*STATE_KEYS, "seed_generator_state")


def weight_names(state: dict) -> tuple:
    """The names in a layer's ``state`` that are weights: all but carried RNN states and
    seed-generator states, which Keras keeps out of ``get_weights()``, ``count_params()`` and
    weight files.

    >>> weight_names({"moving_mean": 0, "rnn_state_0": 0, "forward_layer/rnn_state_1": 0,
    ...               "seed_generator_state": 0})
    ('moving_mean',)
    """
    return tuple(k for k in state if not k.endswith(_NOT_WEIGHTS))


def zero_states(cell, batch: int) -> dict:
    """``{rnn_state_i: zeros((batch, units))}`` for each of ``cell``'s states (host arrays)."""
    return {STATE_KEYS[i]: np.zeros((batch, cell.units), np.float32) for i in range(cell.n_states)}


def carried(layer, state: dict, batch: int) -> tuple:
    """The states a stateful ``layer`` starts this batch from; checks the batch size."""
    states = tuple(state[STATE_KEYS[i]] for i in range(layer.cell.n_states))
    expected = states[0].shape[0]
    if batch != expected:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}(stateful=True)) was built for batches "
            f"of exactly {expected} samples, but received a batch of {batch}. Pass "
            f"batch_size={expected} to fit/evaluate/predict and give them a number of samples "
            f"that is a multiple of {expected}, as Keras requires of stateful models."
        )
    return tuple(jnp.asarray(s, jnp.float32) for s in states)


def with_states(state: dict, final: tuple) -> dict:
    """``state`` with the carried states replaced by ``final``."""
    out = dict(state)
    for key, value in zip(STATE_KEYS, final):
        out[key] = value
    return out


def stateful_layers(model) -> list:
    """The model's layers with ``stateful=True`` (inside wrappers and nested models too)."""
    found: dict = {}  # by id: a layer shared by two nested models is listed once
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            found.setdefault(id(layer), layer)
        elif getattr(layer, "_is_model", False) and layer is not model:
            for la in stateful_layers(layer):
                found.setdefault(id(la), la)
    return list(found.values())


def fixed_batch(model) -> int | None:
    """The batch size ``model``'s stateful layers take (from their carried states once built,
    else from the batch size their input declares); None when unknown or not one size.

    >>> from lamina import Input, Model
    >>> from lamina.layers import LSTM
    >>> inp = Input(batch_shape=(3, 5, 1))
    >>> fixed_batch(Model(inp, LSTM(2, stateful=True)(inp)))
    3
    """
    layers = stateful_layers(model)
    if not layers:
        return None
    sizes = {getattr(la, "_model_batch", None) or la._batch_size_arg for la in layers} - {None}
    from lamina.models.state_access import built_state

    ts = built_state(model)
    for s in getattr(ts, "state", ()) or ():
        sizes.update(int(np.shape(v)[0]) for k, v in s.items() if k.endswith(STATE_KEYS))
    return sizes.pop() if len(sizes) == 1 else None


def _holds(model, layer) -> bool:
    """Whether ``layer`` is ``model`` itself or one of the layers of ``model``'s graph, at any
    depth of nesting."""
    if model is layer:
        return True
    subs = getattr(model, "_layers", None) if getattr(model, "_is_model", False) else None
    return any(_holds(sub, layer) for sub in subs or ())


def reset_model(model, only=None, states=None) -> None:
    """Zeroes (or sets) the carried states of ``model``'s stateful layers (``only``: one).

    Bidirectional and other wrappers keep their inner layers' states under prefixed keys, and
    a nested model keeps its layers' under ``layer_name/``; every key ending in a state name
    is reset (with ``only``, just the keys of that layer).
    """
    ts = model.train_state
    if ts is None:
        return  # not built yet: the states start at zero anyway
    new_state = []
    for layer, s in zip(getattr(model, "_layers", model.layers), ts.state):  # one per entry
        # Wrappers (Bidirectional) hold their inner layers' states under prefixed keys.
        carries = getattr(layer, "stateful", False) or bool(weight_names(s) != tuple(s))
        if (only is None and carries) or layer is only:
            s = _reset_dict(layer, s, states)
        elif only is not None and layer is not model and _holds(layer, only):
            s = _reset_dict(only, s, states, _prefix_of(layer, only))
        new_state.append(s)
    model.train_state = ts._replace(state=tuple(new_state))


def _prefix_of(model, layer) -> str:
    """The prefix of ``layer``'s keys in the flat state of ``model``, a model nesting it."""
    for sub in getattr(model, "_layers", ()):
        if sub is layer:
            return f"{sub.name}/"
        if getattr(sub, "_is_model", False) and _holds(sub, layer):
            return f"{sub.name}/{_prefix_of(sub, layer)}"
    return ""


def _reset_dict(layer, s: dict, states, prefix: str = "") -> dict:
    keys = [k for k in s if k.startswith(prefix) and k.endswith(STATE_KEYS)]
    out = dict(s)
    if states is not None:
        states = list(states) if isinstance(states, list | tuple) else [states]
        if len(states) != len(keys):
            raise ValueError(
                f"Layer {layer.name!r}.reset_states(states=...) expects {len(keys)} array(s) "
                f"(one per state); received {len(states)}."
            )
    for i, k in enumerate(sorted(keys)):
        shape = tuple(np.shape(s[k]))
        value = np.zeros(shape, np.float32) if states is None else np.asarray(states[i], "f4")
        if value.shape != shape:
            raise ValueError(
                f"Layer {layer.name!r}.reset_states: state {i} must have shape {shape}; "
                f"received {value.shape}."
            )
        out[k] = jnp.asarray(value)
    return out


def reset_layer(layer, states=None) -> None:
    """``layer.reset_states()``: resets the layer's states in each model that holds it."""
    if not getattr(layer, "stateful", False):
        raise AttributeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) is not stateful: reset_states() "
            "applies to recurrent layers built with stateful=True."
        )
    for model in list(MODELS.values()):
        if model is not layer and _holds(model, layer):  # directly or in a nested model
            reset_model(model, only=layer, states=states)
    store = layer.__dict__.get("_standalone")
    if store is not None:  # a layer called on its own (its states live on the layer)
        store[1] = _reset_dict(layer, store[1], states)


def state_views(layer) -> list | None:
    """Keras's ``layer.states``: the carried state variables of a stateful layer (``None``
    when it is not stateful or not built)."""
    from lamina.layers.variables import layer_view

    if not getattr(layer, "stateful", False):
        return None
    try:
        _, state, _ = layer._weights_source(build=False)
    except ValueError:
        return None
    keys = sorted((k for k in state if k in STATE_KEYS), key=STATE_KEYS.index)
    return [layer_view(layer, k, False, state[k]) for k in keys] or None
