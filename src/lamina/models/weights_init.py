"""Initial weights of a graph of layers, each with its own input shape (functional, subclassed
and nested models; ``Sequential`` chains shapes in :mod:`lamina.models.initialization`).

Built-in layers draw on the host (nothing compiles); a model holding a custom layer or
initializer draws in one jitted program, as ``initialization.initial_weights`` does.  A layer
that already has weights (a standalone layer called before, a built model nested in another)
keeps them, as Keras's layers keep their variables.

>>> from lamina.layers import Dense
>>> params, state, order = init_layers([Dense(2)], [(None, 3)])
>>> params[0]["kernel"].shape, order
((3, 2), ((('kernel', 'bias'), ()),))
"""

from __future__ import annotations

import jax
import numpy as np

from lamina.layers.borrowed import offer, offering, with_copies
from lamina.layers.core_methods import layer_init
from lamina.layers.stateful import weight_names
from lamina.models.initialization import _host_ready
from lamina.utils import random as _random


def _existing(layer, builder=None):
    """The layer's current ``(params, state, order)`` if it has weights already, else None:
    its own (a built model, a standalone layer), or those of another model holding it."""
    if getattr(layer, "_is_model", False) and layer._train_state is not None:
        p, s = layer._flat_arrays()
        return p, s, (tuple(p), weight_names(s))
    store = layer.__dict__.get("_standalone")
    if store is not None:
        return store[0], store[1], store[2]
    owner = layer._owner_model()
    if owner is not None and owner is not builder:
        found = owner._arrays_of(layer)
        if found is not None:
            return found
    return None


def init_layers(layers, shapes, key=None, builder=None):
    """``(params, state, order)``: per layer, its initial weights and their Keras order.

    Args:
        layers: the layers.
        shapes: per layer, its input shape (a tuple, or a list of tuples), or None for a
            layer that is never called (it gets no weights).
        key: a JAX key or ``HostKey``; drawn from Lamina's seed when None.
        builder: the model being built (its own, not yet built, arrays are not reused).
    """
    layers, shapes = tuple(layers), tuple(shapes)
    existing = [_existing(layer, builder) for layer in layers]
    host = key is None and all(_host_ready(la) or e is not None for la, e in zip(layers, existing))
    if key is None:
        key = _random.next_host_key() if host else _random.next_key()
    if isinstance(key, _random.HostKey):
        keys = key.split(len(layers) + 1)[1:]
    else:
        keys = list(jax.random.split(key, len(layers) + 1))[1:]
    if not host and not isinstance(key, _random.HostKey) and not _is_tracer(key):
        return _jit_init(layers, shapes, key, existing)
    params, state, order = [], [], []
    with offering():  # a layer reading an earlier one's variables (tied weights) finds them
        for layer, shape, k, e in zip(layers, shapes, keys, existing):
            if e is not None:  # held by another model: with its own home for what it reads
                p, s, o = with_copies(layer, *e)
            elif shape is None:
                p, s = {}, {}
                o = ((), ())
            else:
                p, s = layer_init(layer)(k, shape)
                o = (tuple(p), weight_names(s))
            offer(layer, p, s)
            params.append(p)
            state.append(s)
            order.append(o)
    if isinstance(key, _random.HostKey):
        params, state = jax.device_put(
            jax.tree_util.tree_map(np.asarray, (tuple(params), tuple(state)))
        )
    return tuple(params), tuple(state), tuple(order)


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _jit_init(layers, shapes, key, existing):
    keys = list(jax.random.split(key, len(layers) + 1))[1:]
    order = []

    def run(keys):
        params, state = [], []
        order.clear()
        with offering():
            for layer, shape, k, e in zip(layers, shapes, keys, existing):
                if e is not None or shape is None:
                    p, s, o = ({}, {}, ((), ())) if e is None else with_copies(layer, *e)
                else:
                    p, s = layer_init(layer)(k, shape)
                    o = (tuple(p), weight_names(s))
                offer(layer, p, s)
                params.append(p)
                state.append(s)
                order.append(o)
        return tuple(params), tuple(state)

    params, state = jax.jit(run)(keys)
    return params, state, tuple(order)
