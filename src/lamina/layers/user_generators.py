"""A user layer's ``SeedGenerator`` carried in its ``state``: Keras's numbers in compiled steps.

Keras's guide layers hold a generator (``self.seed_generator = keras.random.SeedGenerator(1337)``
in ``__init__``) and draw with it in ``call`` (``keras.random.normal(shape,
seed=self.seed_generator)``, the VAE's ``Sampling``).  Keras keeps the generator's state
``[seed, k]`` in a non-trainable variable, outside ``get_weights()``, and threads it through
``fit``, ``predict`` and eager calls, so every call draws from ``[seed, k]`` and advances ``k``.

A Keras-style layer does the same, seeded by :func:`~lamina.utils.set_random_seed` or not:
``init`` adds each held generator's state to the layer's ``state``
(``"<attribute>/seed_generator_state"``) and ``apply`` binds the generator to that state for
the call (:meth:`lamina.random.SeedGenerator.bound`) and returns it advanced, so two
``predict`` calls draw different numbers, Keras's.

>>> import numpy as np
>>> from lamina.layers import Layer
>>> from lamina.random import SeedGenerator
>>> class Noise(Layer):
...     def __init__(self):
...         super().__init__()
...         self.gen = SeedGenerator(3)
>>> [path for path, _ in held_generators(Noise())]
['gen']
"""

from __future__ import annotations

import contextlib

import numpy as np

from lamina.layers.seed_state import STATE_KEY


def held_generators(layer) -> list:
    """``[(path, generator)]``: the ``SeedGenerator`` objects ``layer``'s attributes hold
    (directly, or in a list, tuple or dict), each once."""
    from lamina.layers.tracing import _SKIP
    from lamina.random import SeedGenerator

    out, seen = [], set()
    for name, value in vars(layer).items():
        if name in _SKIP:
            continue
        if isinstance(value, dict):
            items = [(f"{name}/{k}", v) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            items = [(f"{name}/{i}", v) for i, v in enumerate(value)]
        else:
            items = [(name, value)]
        for path, v in items:
            if isinstance(v, SeedGenerator) and id(v) not in seen:
                seen.add(id(v))
                out.append((path, v))
    return out


def initial_states(layer) -> dict:
    """The generators' states for ``layer``'s ``state``: ``{"<path>/seed_generator_state":
    [seed, k]}``, ``{}`` for a layer holding none."""
    return {
        f"{path}/{STATE_KEY}": np.asarray(gen.state, np.uint32)
        for path, gen in held_generators(layer)
    }


def split(layer, state: dict):
    """``({key: generator}, the rest of state)``: the entries of ``state`` holding the
    states of ``layer``'s own generators."""
    found = {f"{path}/{STATE_KEY}": gen for path, gen in held_generators(layer)}
    mine = {k: g for k, g in found.items() if k in state}
    if not mine:
        return {}, state
    return mine, {k: v for k, v in state.items() if k not in mine}


@contextlib.contextmanager
def bound(generators: dict, state: dict):
    """Binds each generator to its entry of ``state`` for the block; yields a function
    returning the advanced entries.  A generator bound already (a custom ``train_step``
    threads every generator of the model) keeps its binding, and its entry is unchanged."""
    with contextlib.ExitStack() as stack:
        reads = {}
        for key, gen in generators.items():
            if gen.__dict__.get("_bound_depth"):
                reads[key] = (lambda v: lambda: v)(state[key])
            else:
                reads[key] = stack.enter_context(gen.bound(state[key]))
        yield lambda: {key: read() for key, read in reads.items()}
