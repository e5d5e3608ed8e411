"""JAX's Threefry-2x32 draws computed with NumPy: Keras's initial weights without compiling.

Keras's JAX backend draws an initializer's weights with ``jax.random`` from the raw key
``[seed, 0]``.  Doing the same with JAX compiles a program per weight shape (about a second
for a small model); this module computes the same bits on the host: the Threefry-2x32 block
cipher over the element counters of JAX's partitionable scheme (``jax_threefry_partitionable``,
JAX's default), then JAX's conversions of bits to uniform, normal and truncated normal floats.
The bits and the uniform floats are computed here; the inverse error function of the normal
draws runs as one small jitted XLA program over fixed-size chunks (compiled once per process,
whatever the shapes), so every draw is bit-identical to JAX's.  ``tests/test_keras_seeds.py``
checks them against ``jax.random``.

>>> import numpy as np
>>> import jax
>>> key = np.array([42, 0], np.uint32)
>>> np.array_equal(uniform(key, (3, 2)), jax.random.uniform(key, (3, 2)))
True
"""

from __future__ import annotations

import math

import numpy as np

from lamina.utils.random import HostKey

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(v: np.ndarray, r: int) -> np.ndarray:
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def threefry2x32(key, x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Threefry-2x32 block cipher (20 rounds) of the counter pairs ``(x0, x1)``.

    Args:
        key: two uint32 words.
        x0: first counter words (uint32 array).
        x1: second counter words (uint32 array, the shape of ``x0``).

    Returns:
        The two enciphered words, uint32 arrays shaped as ``x0``.
    """
    k0, k1 = (np.uint32(k) for k in np.asarray(key, np.uint32).reshape(2))
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    with np.errstate(over="ignore"):
        v0 = x0.astype(np.uint32) + ks[0]
        v1 = x1.astype(np.uint32) + ks[1]
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                v0 = v0 + v1
                v1 = _rotl(v1, r) ^ v0
            v0 = v0 + ks[(i + 1) % 3]
            v1 = v1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return v0, v1


def random_bits(key, shape) -> np.ndarray:
    """32 random bits per element, as ``jax.random.bits(key, shape)`` for a raw Threefry key."""
    n = math.prod(shape)
    counts = np.arange(n, dtype=np.uint64)
    hi = (counts >> np.uint64(32)).astype(np.uint32)
    lo = counts.astype(np.uint32)
    b0, b1 = threefry2x32(key, hi, lo)
    return (b0 ^ b1).reshape(shape)


def uniform(key, shape, minval=0.0, maxval=1.0) -> np.ndarray:
    """float32 draws on ``[minval, maxval)``, as ``jax.random.uniform`` (bit-identical)."""
    bits = random_bits(key, tuple(shape))
    floats = ((bits >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.0)
    lo, hi = np.float32(minval), np.float32(maxval)
    # XLA fuses ``floats * (hi - lo) + lo`` into one fused multiply-add: the product of two
    # float32 numbers is exact in float64, so one float64 sum rounds as the FMA does.
    scaled = (floats.astype(np.float64) * np.float64(hi - lo) + np.float64(lo)).astype(np.float32)
    return np.maximum(lo, scaled)


_CHUNK = 1 << 16
_PROGRAMS: dict = {}


def _program(name):
    """The jitted XLA pieces (compiled once per process): ``sqrt(2) * erf_inv(u)`` over a
    chunk, and ``erf`` of the truncation bounds."""
    if name not in _PROGRAMS:
        import jax

        sqrt2 = np.float32(np.sqrt(2))
        if name == "erf_inv":
            _PROGRAMS[name] = jax.jit(lambda u: sqrt2 * jax.lax.erf_inv(u))
        else:
            _PROGRAMS[name] = jax.jit(lambda a, b: (jax.lax.erf(a / sqrt2), jax.lax.erf(b / sqrt2)))
    return _PROGRAMS[name]


def _sqrt2_erf_inv(u: np.ndarray) -> np.ndarray:
    flat = u.ravel()
    n = flat.size
    padded = np.zeros(-(-n // _CHUNK) * _CHUNK, np.float32)
    padded[:n] = flat
    run = _program("erf_inv")
    out = np.concatenate([np.asarray(run(c)) for c in padded.reshape(-1, _CHUNK)])
    return out[:n].reshape(u.shape)


def normal(key, shape) -> np.ndarray:
    """Standard normal float32 draws, as ``jax.random.normal`` (bit-identical)."""
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    return _sqrt2_erf_inv(uniform(key, shape, lo, 1.0))


def truncated_normal(key, shape, lower=-2.0, upper=2.0) -> np.ndarray:
    """Standard normal float32 draws truncated to ``[lower, upper]``, as
    ``jax.random.truncated_normal`` (bit-identical)."""
    lower, upper = np.float32(lower), np.float32(upper)
    a, b = (np.float32(v) for v in _program("erf")(lower, upper))
    out = _sqrt2_erf_inv(uniform(key, shape, a, b))
    low = np.nextafter(lower, np.float32(np.inf))
    high = np.nextafter(upper, np.float32(-np.inf))
    return np.clip(out, low, high).astype(np.float32)


class ThreefryKey(HostKey):
    """Keras's raw key ``[seed, 0]`` on the host: initializers draw JAX's Threefry numbers
    for it with NumPy (:func:`uniform`, :func:`normal`, :func:`truncated_normal`).

    >>> key = ThreefryKey(7)
    >>> key.raw.tolist()
    [7, 0]
    """

    __slots__ = ()

    def __init__(self, seed: int):
        super().__init__((int(seed) & 0xFFFFFFFF, 0))

    @property
    def raw(self) -> np.ndarray:
        """The key's two uint32 words, as Keras's ``draw_seed`` makes them."""
        return np.asarray(self.words, np.uint32)

    def to_jax(self):
        """The raw key as a JAX array (``jax.random`` reads it as a Threefry key)."""
        import jax.numpy as jnp

        return jnp.asarray(self.raw)
