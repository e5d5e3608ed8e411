"""Lamina's random keys: one global seed reproduces initialization, shuffling and dropout."""

from __future__ import annotations

import random as _py_random

import numpy as np

_STATE = {"seed": None, "counter": 0, "user_seeded": False}


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
    _STATE["user_seeded"] = True


def user_seeded() -> bool:
    """Whether :func:`set_random_seed` has been called in this process.

    From then on, unseeded random initializers draw Keras's numbers from the seed each drew
    from Python's ``random`` when it was constructed (as Keras's do), so a script that seeds and
    builds the same model in Keras and in Lamina starts from the same weights.

    >>> import lamina
    >>> lamina.utils.set_random_seed(0)
    >>> user_seeded()
    True
    """
    return _STATE["user_seeded"]



def generator_seed(seed, active: bool = True):
    """The seed a Keras layer's ``SeedGenerator(seed)`` starts from, drawn at construction.

    Keras gives Dropout, noise, recurrent and augmentation layers a ``SeedGenerator`` in their
    constructor; an unseeded one takes ``random.randint(1, 10**9)`` from Python's generator
    then.  Lamina's layers make the same draw at the same point, so the initializers of the
    layers built after them draw Keras's seeds too (see :func:`user_seeded`).

    Args:
        seed: the layer's ``seed`` argument (returned unchanged unless None).
        active: whether Keras creates the generator (e.g. only for ``rate > 0``).

    Returns:
        ``seed``, or the drawn seed when ``seed`` is None and ``active``.

    >>> import random
    >>> random.seed(0); a = generator_seed(None)
    >>> random.seed(0); a == random.randint(1, int(1e9))
    True
    >>> generator_seed(7)
    7
    """
    if seed is None and active:
        return _py_random.randint(1, int(1e9))
    return seed

def next_key():
    """A fresh JAX PRNG key: deterministic after ``set_random_seed``, else from OS entropy.

    The key's bits come from NumPy's ``SeedSequence(seed, counter)`` and are wrapped as a key of
    JAX's "rbg" implementation (XLA's RngBitGenerator: as reproducible on one machine as
    threefry, and about half the compile time of a small model's first fit).  Making the key
    on the host compiles nothing.
    """
    import jax

    from lamina.training.compilation import enable_persistent_cache

    enable_persistent_cache()  # before the first compilation
    return jax.random.wrap_key_data(_next_words(), impl="rbg")


def _next_words() -> np.ndarray:
    """Four uint32 words from ``SeedSequence(seed, counter)``; bumps the counter."""
    if _STATE["seed"] is None:
        _STATE["seed"] = int(np.random.SeedSequence().entropy % 2**63)
    _STATE["counter"] += 1
    seq = np.random.SeedSequence([_STATE["seed"] % 2**63, _STATE["counter"]])
    return seq.generate_state(4).astype(np.uint32)


class HostKey:
    """A PRNG key that lives on the host: weight initialization without compiling anything.

    Building a model draws its initial weights once.  Doing that with JAX's random functions
    means compiling an XLA program (RngBitGenerator and friends), which for a small model takes
    longer than the whole training run.  ``HostKey`` stands in for a JAX key during
    ``Sequential.build``: :func:`split` splits it like ``jax.random.split`` and Lamina's
    initializers draw from :meth:`generator` with NumPy.  It is deterministic: the same words
    give the same draws in every process.

    >>> k = HostKey((1, 2, 3, 4))
    >>> a, b = split(k)
    >>> a.generator().random() == HostKey(a.words).generator().random()
    True
    """

    __slots__ = ("words",)

    def __init__(self, words):
        self.words = tuple(int(w) % 2**32 for w in words)

    def split(self, num: int = 2) -> tuple[HostKey, ...]:
        """``num`` independent child keys (NumPy's SeedSequence spawning)."""
        children = np.random.SeedSequence(self.words).spawn(int(num))
        return tuple(HostKey(c.generate_state(4)) for c in children)

    def generator(self) -> np.random.Generator:
        """A NumPy generator seeded by this key."""
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.words)))

    def to_jax(self):
        """The JAX ("rbg") key with this key's bits, for the compiled training steps."""
        import jax

        return jax.random.wrap_key_data(np.asarray(self.words[:4], np.uint32), impl="rbg")

    def __repr__(self):
        return f"HostKey({self.words})"


def split(key, num: int = 2):
    """``jax.random.split`` that also splits a :class:`HostKey` (layers' ``init`` use it)."""
    if isinstance(key, HostKey):
        return key.split(num)
    import jax

    return jax.random.split(key, num)


def next_host_key() -> HostKey:
    """Like :func:`next_key`, as a :class:`HostKey` (same seed and counter stream)."""
    return HostKey(_next_words())
