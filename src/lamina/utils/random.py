"""Lamina's random keys: one global seed reproduces initialization, shuffling and dropout."""

from __future__ import annotations

import random as _py_random

import numpy as np

_STATE = {"seed": None, "counter": 0}


def set_random_seed(seed: int) -> None:
    """Seeds Python's ``random``, NumPy's global generator and Lamina's JAX keys.

    Two runs that call ``set_random_seed(s)`` first build, shuffle and drop out identically.

    >>> import lamina
    >>> lamina.utils.set_random_seed(42)
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"set_random_seed expects an integer seed. Received: {seed!r}.")
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _STATE["seed"] = int(seed)
    _STATE["counter"] = 0


def next_key():
    """A fresh JAX PRNG key: deterministic after ``set_random_seed``, else from OS entropy.

    The key's bits come from NumPy's ``SeedSequence(seed, counter)`` and are wrapped as a key of
    JAX's "rbg" implementation (XLA's RngBitGenerator: as reproducible on one machine as
    threefry, and about half the compile time of a small model's first fit).  Making the key
    on the host compiles nothing.
    """
    import jax

    from lamina.training.compilation import enable_persistent_cache

    enable_persistent_cache()  # before the first compilation (weight initialization)
    if _STATE["seed"] is None:
        _STATE["seed"] = int(np.random.SeedSequence().entropy % 2**63)
    _STATE["counter"] += 1
    words = np.random.SeedSequence([_STATE["seed"] % 2**63, _STATE["counter"]]).generate_state(4)
    return jax.random.wrap_key_data(words.astype(np.uint32), impl="rbg")
