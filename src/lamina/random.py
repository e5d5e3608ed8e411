"""``lamina.random``: Keras 3's random ops (``keras.random``) and ``SeedGenerator``.

``seed`` may be an int, a :class:`SeedGenerator`, a JAX key, or ``None``. An int seed gives
the same numbers as Keras on its JAX backend (the key is the raw ``uint32 [seed, 0]``);
``None`` draws from a global generator (reproducible after ``lamina.utils.set_random_seed``)
and is refused inside a JAX trace, where it would freeze into a constant, as Keras refuses.

**Seed generators inside traced code.** A ``SeedGenerator``'s whole state is one
``uint32[2]`` array, ``generator.state`` (``[seed, counter]``). ``next()`` returns the current
state as a key and stores the state advanced by one. Code that traces a layer's ``call`` (the
functional API) threads it like a non-trainable weight: before the call, set
``generator.state = traced_value``; after it, read ``generator.state`` back as the layer's new
state, then restore the concrete value. :meth:`SeedGenerator.bound` does exactly this.

>>> from lamina import random
>>> gen = random.SeedGenerator(7)
>>> random.uniform((2,), seed=gen).shape, gen.state.tolist()
((2,), [7, 1])
"""

from __future__ import annotations

import contextlib
import random as _py_random
import threading

import jax
import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops._tensor import jdtype, shape_arg, tensor

__all__ = [
    "SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal",
    "randint", "shuffle", "truncated_normal", "uniform",
]  # fmt: skip

_GLOBAL: dict = {"generator": None, "seed": object()}


class SeedGenerator:
    """A stateful source of keys for seeded random ops (``keras.random.SeedGenerator``).

    Args:
        seed: an int (a random one when None).
        name: an optional name.

    Raises:
        ValueError: for a non-integer seed or unknown keyword arguments.

    >>> from lamina import random
    >>> gen = random.SeedGenerator(1337)
    >>> a, b = random.normal((2,), seed=gen), random.normal((2,), seed=gen)
    >>> bool((a != b).all())
    True
    """

    def __init__(self, seed=None, name=None, **kwargs):
        kwargs.pop("backend", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        self._initial_seed = seed
        if seed is None:
            seed = _py_random.randint(1, int(1e9))
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
        self.name = name or "seed_generator"
        self.state = jnp.asarray([seed & 0xFFFFFFFF, 0], dtype=jnp.uint32)

    def next(self, ordered=True):
        """Returns the current state as a key and advances the state.

        Args:
            ordered: advance the counter by one (True), or scramble the state (False, used
                by the global generator).

        Returns:
            A ``uint32[2]`` array usable as a JAX key.
        """
        if not self.__dict__.get("_bound_depth"):
            key = _step_key()
            if key is not None:  # a traced training step: a fresh key per step and draw
                return key
        state = jnp.asarray(self.state)
        if ordered:
            new = state + jnp.asarray([0, 1], jnp.uint32)
        else:
            new = (state + 1) * 5387 % 933199
        # Inside a trace that does not thread this generator (shape inference of a functional
        # graph), Keras's stateless scope drops the update: storing it would leak a tracer.
        # Building a model by running its ``call`` (Keras builds symbolically) draws nothing.
        if self.__dict__.get("_bound_depth") or not (
            isinstance(new, jax.core.Tracer) or _building()
        ):
            self.state = new
        return state

    @contextlib.contextmanager
    def bound(self, state):
        """Binds ``state`` (e.g. a traced array) for the duration of a traced call.

        Yields a function returning the advanced state; the concrete state is restored after.

        >>> from lamina import random
        >>> gen = random.SeedGenerator(3)
        >>> with gen.bound(gen.state) as new_state:
        ...     _ = random.normal((1,), seed=gen)
        ...     new_state().tolist()
        [3, 1]
        >>> gen.state.tolist()
        [3, 0]
        """
        saved = self.state
        self.state = state
        self.__dict__["_bound_depth"] = self.__dict__.get("_bound_depth", 0) + 1
        try:
            yield lambda: self.state
        finally:
            self.state = saved
            self.__dict__["_bound_depth"] -= 1

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator name={self.name!r}>"


_KEYS = threading.local()


@contextlib.contextmanager
def drawing_from(key):
    """Unseeded random ops inside the block draw from ``key`` (a user's initializer function,
    ``keras.random.normal(shape)``, runs while the weights are drawn, perhaps traced).

    >>> import jax
    >>> with drawing_from(jax.random.key(0)):
    ...     a = normal((2,))
    >>> a.shape
    (2,)
    """
    stack = getattr(_KEYS, "stack", None)
    if stack is None:
        stack = _KEYS.stack = []
    stack.append((key, 0))
    try:
        yield
    finally:
        stack.pop()


@contextlib.contextmanager
def counting_draws():
    """Counts the unseeded random ops run inside the block (they draw from a fixed key, so a
    function can be traced to learn whether it draws): ``drawn[0]`` after the block.

    >>> with counting_draws() as drawn:
    ...     a = normal((2,))
    >>> drawn[0]
    1
    """
    drawn = [0]
    with drawing_from(jax.random.key(0)):
        try:
            yield drawn
        finally:
            drawn[0] = _KEYS.stack[-1][1]


def _step_key():
    """A key for one draw of a generator held by a layer running inside a traced training
    step (the step threads no generator state, so the state would never advance and every
    batch would draw the same numbers); ``None`` elsewhere."""
    from lamina.layers.variables import current_scope

    scope = current_scope()
    if scope is None or scope.key is None:
        return None
    key = scope.next_key()
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        # The step's key may use another implementation: draw the generator's own form,
        # two words (a ``threefry`` key, as the generator's state is).
        return jax.random.bits(key, (2,), jnp.uint32)
    key = jnp.asarray(key).astype(jnp.uint32).ravel()
    return key[:2]


def _building() -> bool:
    """Whether a model is being built by running its ``call`` (a scope with an init key,
    however deep the layer drawing sits)."""
    from lamina.layers.variables import _stack

    return any(scope.init_key is not None for scope in _stack())


def _in_trace() -> bool:
    return isinstance(jnp.ones(()), jax.core.Tracer)


def _global_generator() -> SeedGenerator:
    from lamina.utils import random as _utils_random

    seed = _utils_random._STATE.get("seed")
    if _GLOBAL["generator"] is None or _GLOBAL["seed"] != seed:
        # set_random_seed seeds Python's random, from which this generator's seed comes.
        _GLOBAL["generator"], _GLOBAL["seed"] = SeedGenerator(), seed
    return _GLOBAL["generator"]


def draw_seed(seed):
    """The key for ``seed``: an int, a SeedGenerator, a JAX key or None.

    Raises:
        ValueError: for another type, or ``None`` inside a JAX trace.
    """
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, jax.Array):
        return seed
    if isinstance(seed, int) and not isinstance(seed, bool):
        return jnp.asarray([seed & 0xFFFFFFFF, 0], dtype=jnp.uint32)
    if seed is None:
        given = getattr(_KEYS, "stack", None)
        if given:  # an initializer function drawing unseeded numbers: the weight's own key
            key, count = given[-1]
            given[-1] = (key, count + 1)
            return jax.random.bits(jax.random.fold_in(key, count), (2,), jnp.uint32)
        if _in_trace():
            raise ValueError(
                "[JAX RNG] When tracing a JAX function, use only seeded random ops: create a "
                "SeedGenerator, attach it to your layer (self.seed_generator = "
                "lamina.random.SeedGenerator(1337)) and pass seed=self.seed_generator. An "
                "unseeded op would become a constant after tracing."
            )
        return _global_generator().next(ordered=False)
    raise ValueError(
        "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed!r} (of type {type(seed)})"
    )


def _float(dtype):
    return jdtype(dtype or _config.floatx())


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution (``keras.random.normal``).

    >>> from lamina import random
    >>> random.normal((2, 3), seed=42).shape
    (2, 3)
    """
    return jax.random.normal(draw_seed(seed), shape_arg(shape), _float(dtype)) * stddev + mean


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniformly from ``[minval, maxval)`` (``keras.random.uniform``).

    Raises:
        ValueError: for an integer ``dtype`` (use :func:`randint`).

    >>> from lamina import random
    >>> float(random.uniform((), minval=2.0, maxval=3.0, seed=1)) >= 2.0
    True
    """
    dt = _float(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(
            "`keras.random.uniform` requires a floating point `dtype`; use "
            f"`keras.random.randint` for integers. Received: dtype={dtype!r}."
        )
    return jax.random.uniform(draw_seed(seed), shape_arg(shape), dt, minval=minval, maxval=maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples truncated to two standard deviations (``keras.random.truncated_normal``).

    >>> from lamina import random
    >>> bool((abs(random.truncated_normal((100,), seed=0)) <= 2.0).all())
    True
    """
    sample = jax.random.truncated_normal(
        draw_seed(seed), -2.0, 2.0, shape_arg(shape), _float(dtype)
    )
    return sample * stddev + mean


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniformly from ``[minval, maxval)`` (``keras.random.randint``).

    >>> from lamina import random
    >>> random.randint((3,), 0, 10, seed=0).dtype
    dtype('int32')
    """
    return jax.random.randint(draw_seed(seed), shape_arg(shape), minval, maxval, jdtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Class ids drawn from ``(batch, classes)`` logits: ``(batch, num_samples)``
    (``keras.random.categorical``).

    Raises:
        ValueError: for logits that are not 2-D.

    >>> from lamina import random
    >>> random.categorical([[0.0, 0.0, 0.0]], 4, seed=0).shape
    (1, 4)
    """
    logits = jnp.asarray(tensor(logits))
    if logits.ndim != 2:
        raise ValueError(
            f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: logits.shape={logits.shape}."
        )
    shape = (logits.shape[0], int(num_samples))
    out = jax.random.categorical(draw_seed(seed), logits[..., None], shape=shape, axis=1)
    return out.astype(jdtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes entries with probability ``rate`` and scales the rest by ``1 / (1 - rate)``
    (``keras.random.dropout``).

    >>> from lamina import random
    >>> import numpy as np
    >>> random.dropout(np.ones((2, 4), "float32"), 0.5, seed=1).shape
    (2, 4)
    """
    x = jnp.asarray(tensor(inputs))
    if rate == 1.0:
        return jnp.zeros_like(x)
    if rate == 0.0:
        return x
    key = draw_seed(seed)
    shape = (
        x.shape
        if noise_shape is None
        else tuple(x.shape[i] if d is None else int(d) for i, d in enumerate(noise_shape))
    )
    keep = jnp.broadcast_to(jax.random.bernoulli(key, 1.0 - rate, shape), x.shape)
    return jax.lax.select(keep, x / (1.0 - rate), jnp.zeros_like(x))


def shuffle(x, axis=0, seed=None):
    """``x`` shuffled along ``axis`` (``keras.random.shuffle``).

    >>> from lamina import random
    >>> sorted(random.shuffle([1, 2, 3], seed=0).tolist())
    [1, 2, 3]
    """
    return jax.random.permutation(draw_seed(seed), jnp.asarray(tensor(x)), axis, independent=True)


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from a gamma distribution with concentration ``alpha`` (``keras.random.gamma``).

    >>> from lamina import random
    >>> random.gamma((3,), 2.0, seed=0).shape
    (3,)
    """
    return jax.random.gamma(draw_seed(seed), alpha, shape=shape_arg(shape), dtype=_float(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples from binomial distributions (``keras.random.binomial``).

    >>> from lamina import random
    >>> random.binomial((3,), 10, 0.5, seed=0).shape
    (3,)
    """
    return jax.random.binomial(
        draw_seed(seed), jnp.asarray(tensor(counts)), jnp.asarray(tensor(probabilities)),
        shape=shape_arg(shape), dtype=_float(dtype),
    )  # fmt: skip


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from beta distributions (``keras.random.beta``).

    >>> from lamina import random
    >>> random.beta((3,), 2.0, 5.0, seed=0).shape
    (3,)
    """
    return jax.random.beta(
        draw_seed(seed), jnp.asarray(tensor(alpha)), jnp.asarray(tensor(beta)),
        shape=shape_arg(shape), dtype=_float(dtype),
    )  # fmt: skip
