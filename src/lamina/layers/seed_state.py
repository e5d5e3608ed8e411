"""A layer's ``SeedGenerator`` state: Keras's dropout numbers inside compiled programs.

Keras's ``Dropout`` draws its mask from the raw key ``[seed, k]`` of its ``SeedGenerator``
and advances ``k`` by one at every training call; the state is a non-trainable variable,
outside ``get_weights()`` and weight files.  Lamina keeps it in the layer's ``state`` dict
under :data:`STATE_KEY` (a ``uint32[2]`` array), so the compiled training step carries it from
batch to batch and from one ``fit`` to the next, and a fit draws Keras's masks.

>>> import numpy as np
>>> from lamina.layers import Dropout
>>> layer = Dropout(0.5, seed=7)
>>> state = generator_state(layer)
>>> state[STATE_KEY].tolist()
[7, 0]
>>> seed, state = next_seed(state, None)
>>> seed.tolist(), state[STATE_KEY].tolist()
([7, 0], [7, 1])
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

#: The state entry holding ``[seed, calls]`` (Keras's variable ``seed_generator_state``).
STATE_KEY = "seed_generator_state"


def generator_state(layer) -> dict:
    """``{STATE_KEY: [seed, 0]}`` for a layer whose Keras twin holds a ``SeedGenerator``
    (the seed drawn at construction), else ``{}``."""
    seed = getattr(layer, "_generator_seed", None)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        return {}
    return {STATE_KEY: np.asarray([int(seed) & 0xFFFFFFFF, 0], np.uint32)}


def next_seed(state: dict, key):
    """The raw key to draw from now, and ``state`` advanced by one call (Keras's
    ``SeedGenerator.next``).  A state without a generator (a layer built before this existed,
    or a hand-made one) draws from ``key``, the step's key, instead."""
    current = state.get(STATE_KEY)
    if current is None:
        return key, state
    current = jnp.asarray(current, jnp.uint32)
    return current, {**state, STATE_KEY: current + jnp.asarray([0, 1], jnp.uint32)}


def _draws_from_step_key(layer) -> bool:
    if "_uses_rng_set" in layer.__dict__:  # set explicitly (a subclass drawing more numbers)
        return layer.__dict__["_uses_rng_set"]
    if "_generator_seed" not in layer.__dict__:
        return True  # made without one (an older pickle): draws from the step's key
    if layer.__dict__["_generator_seed"] is None:
        return False  # no generator, as Keras's (rate 0): draws nothing
    return not generator_state(layer)


def _set_uses_rng(layer, value) -> None:
    layer.__dict__["_uses_rng_set"] = bool(value)


#: ``uses_rng`` of a layer holding a generator: it needs the step's key only without one (the
#: engine then passes none, and ``stateless_call`` asks for none); settable, as every layer's.
uses_step_key = property(_draws_from_step_key, _set_uses_rng)
