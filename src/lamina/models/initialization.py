"""A model's initial weights, drawn on the host so that building a model compiles nothing.

``initial_weights(layers, input_shape)`` runs every layer's ``init(key, input_shape)`` in order
and returns the parameters, the non-trainable state, the two JAX keys that start training's
random streams (shuffling; dropout and noise), and each layer's weight names in Keras's order.
A layer repeated in the stack is initialized at its first position only: its weights exist
once (one entry per distinct layer, in order of first use), as Keras's layer builds once.

Lamina's built-in layers and initializers accept a :class:`lamina.utils.random.HostKey`: they
draw with NumPy and return NumPy arrays, which go to the device in one transfer.  That matters
for small models, whose first ``fit`` would otherwise spend more time compiling the random
number generators of one initialization program than training.  A model with a custom layer
written with its own ``init`` or holding a custom initializer (either may call ``jax.random``
on its key) is initialized by one jitted program over JAX keys instead.  Keras-style user
layers (``build``/``add_weight``/``call``) take the host path too.

>>> from lamina.layers import Dense
>>> init = initial_weights((Dense(2, name="d"),), (None, 3))
>>> init.params[0]["kernel"].shape, init.order
((3, 2), ((('kernel', 'bias'), ()),))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from lamina.layers.borrowed import offer, offering
from lamina.layers.core_methods import layer_init
from lamina.layers.stateful import weight_names
from lamina.utils import random as _random


class InitialWeights(NamedTuple):
    params: tuple
    state: tuple
    shuffle_rng: Any
    step_rng: Any
    #: Per layer, ``(param names, state names)`` in the order ``init`` created them (Keras's
    #: weight order; pytrees sort dict keys, so the order is kept here).
    order: tuple


def initial_weights(layers, input_shape) -> InitialWeights:
    """Initial weights of ``layers`` (a stack, first to last) for inputs of ``input_shape``
    (batch dimension included): one entry per distinct layer, in order of first use."""
    layers = tuple(layers)
    if all(_host_ready(layer) for layer in layers):
        key = _random.next_host_key()
        try:
            return _host_init(layers, input_shape, key)
        except (TypeError, AttributeError):
            # A JAX function met the host key: some init is not host-ready after all.
            pass
    key = _random.next_key()
    if isinstance(jax.numpy.ones(()), jax.core.Tracer):
        # A model first called inside another's trace (a global augmentation ``Sequential`` a
        # subclassed model's ``call`` uses) still gets concrete weights: they outlive the
        # trace, so they are computed eagerly here rather than staged into it.
        with jax.ensure_compile_time_eval():
            (shuffle_rng, step_rng), params, state = _jit_init_impl(layers, input_shape, key)
    else:
        (shuffle_rng, step_rng), params, state = _jit_init(layers, input_shape, key)
    return InitialWeights(
        tuple(params), tuple(state), shuffle_rng, step_rng, _order(layers, input_shape, key)
    )


def _host_init(layers, input_shape, key) -> InitialWeights:
    keys = key.split(len(layers) + 2)
    params, state, order = [], [], []
    shape = input_shape
    with offering():  # a layer reading an earlier one's variables (tied weights) finds them
        for layer, k, first in zip(layers, keys[2:], _firsts(layers)):
            if first:
                p, s = layer_init(layer)(k, shape)
                offer(layer, p, s)
                params.append(p)
                state.append(s)
                order.append((tuple(p), weight_names(s)))
            shape = tuple(layer.compute_output_shape(shape))
    host = jax.tree_util.tree_map(np.asarray, (tuple(params), tuple(state)))
    params, state = jax.device_put(host)
    # keys[0] shuffles the data; keys[1] starts the per-step stream (dropout, noise).
    return InitialWeights(params, state, keys[0].to_jax(), keys[1].to_jax(), tuple(order))


def _jit_init_impl(layers, input_shape, key):
    """All layers' initial weights in one compiled program (eager init would compile every
    small random op separately)."""
    keys = jax.random.split(key, len(layers) + 2)
    params, state = [], []
    shape = input_shape
    with offering():
        for layer, k, first in zip(layers, keys[2:], _firsts(layers)):
            if first:
                p, s = layer_init(layer)(k, shape)
                offer(layer, p, s)
                params.append(p)
                state.append(s)
            shape = tuple(layer.compute_output_shape(shape))
    return (keys[0], keys[1]), params, state


_jit_init = jax.jit(_jit_init_impl, static_argnums=(0, 1))


def _order(layers, input_shape, key):
    orders = []

    def trace(k):
        shape = input_shape
        with offering():
            for layer, first in zip(layers, _firsts(layers)):
                if first:
                    p, s = layer_init(layer)(k, shape)
                    offer(layer, p, s)
                    orders.append((tuple(p), weight_names(s)))
                shape = tuple(layer.compute_output_shape(shape))

    jax.eval_shape(trace, key)
    return tuple(orders)


def _firsts(layers) -> list[bool]:
    """Per position of the stack, whether it is its layer's first use (the one that builds
    it; the repeats apply the same weights)."""
    seen: set[int] = set()
    out = []
    for layer in layers:
        out.append(id(layer) not in seen)
        seen.add(id(layer))
    return out


def _keras_style(obj) -> bool:
    """A user layer written Keras's way (``build``/``add_weight``/``call``, no ``init`` of its
    own): ``add_weight`` draws from the scope's key, so a ``HostKey`` works when its
    initializers are built in; a JAX function meeting the key makes the caller fall back."""
    from lamina.layers.base import Layer

    return bool(getattr(obj, "_traced", False)) and type(obj).init is Layer.init


def _host_ready(obj, depth=0) -> bool:
    """Whether ``obj`` (a layer, or a layer's part such as an RNN cell) is built into Lamina
    (``lamina.layers``, or an application's own layer such as ConvNeXt's ``LayerScale``), or a
    Keras-style user layer, and holds only built-in initializers, so its ``init`` accepts a
    ``HostKey``."""
    if depth > 4:
        return False
    if getattr(obj, "_is_model", False) and type(obj).__module__.startswith("lamina."):
        # A nested Sequential/functional model (a transfer-learning base): host-ready when
        # its layers are; otherwise one compiled program over hundreds of layers costs seconds.
        return all(_host_ready(layer, depth) for layer in getattr(obj, "layers", ()))
    module = type(obj).__module__
    if not module.startswith(("lamina.layers", "lamina.applications")) and not _keras_style(obj):
        return False
    for name, value in vars(obj).items():
        if name.endswith("initializer"):
            if value is not None and not type(value).__module__.startswith("lamina.initializers."):
                return False
        elif type(value).__module__.startswith("lamina.layers"):
            if not _host_ready(value, depth + 1):
                return False
    return True
