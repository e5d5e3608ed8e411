"""Random initializers: the seeded :class:`RandomInitializer` base, ``RandomNormal``,
``TruncatedNormal``, ``RandomUniform`` and ``Orthogonal``, and the draws they share.

Each draw uses ``jax.random`` with a JAX key, or NumPy's generator with a
:class:`lamina.utils.random.HostKey`.  A seeded initializer always draws from Keras's key for
its seed (``[seed, 0]``), so it gives Keras's numbers, in a layer or alone.  An unseeded one
draws a seed from Python's ``random`` when it is constructed, as Keras's does; called alone it
draws from that seed's key (the same instance returns the same values on every call, as
Keras's), and in a layer from the layer's key (drawn on the host, nothing to compile) unless
:func:`lamina.utils.set_random_seed` was called: then from its seed's key too, so a seeded
script builds the weights Keras builds.
"""

from __future__ import annotations

import math
import random as _py_random

import jax
import jax.numpy as jnp
import numpy as np

from lamina.initializers.base import Initializer, _dtype, _host
from lamina.utils import threefry
from lamina.utils.random import user_seeded
from lamina.utils.threefry import ThreefryKey


def _threefry(key, dt) -> bool:
    """Whether to draw JAX's Threefry numbers on the host (float32 weights only)."""
    return isinstance(key, ThreefryKey) and dt == np.float32


def _uniform(key, shape, dt, minval, maxval):
    if _threefry(key, dt):
        return threefry.uniform(key.raw, shape, minval, maxval)
    if isinstance(key, ThreefryKey):
        key = key.to_jax()
    if _host(key):
        return key.generator().uniform(minval, maxval, shape).astype(dt)
    return jax.random.uniform(key, shape, dtype=dt, minval=minval, maxval=maxval)


def _normal(key, shape, dt):
    if _threefry(key, dt):
        return threefry.normal(key.raw, shape)
    if isinstance(key, ThreefryKey):
        key = key.to_jax()
    if _host(key):
        return key.generator().standard_normal(shape).astype(dt)
    return jax.random.normal(key, shape, dtype=dt)


def _truncated_normal(key, shape, dt):
    """Standard normal truncated to [-2, 2], as ``jax.random.truncated_normal(key, -2, 2)``."""
    if _threefry(key, dt):
        return threefry.truncated_normal(key.raw, shape)
    if isinstance(key, ThreefryKey):
        key = key.to_jax()
    if not _host(key):
        return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype=dt)
    gen = key.generator()
    out = gen.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # rejection: each round keeps ~95% of what it redraws
        out[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out.astype(dt)


class RandomInitializer(Initializer):
    """Base of the random initializers: stores ``seed`` and resolves the PRNG key."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` argument should be an integer or None. Received: seed={seed}")
        self.seed = seed
        # Keras's ``make_default_seed``: one draw from Python's generator per unseeded
        # initializer, at construction, so a seeded script's draws line up with Keras's.
        self._default_seed = _py_random.randint(1, int(1e9)) if seed is None else seed

    def _key(self, key):
        if self.seed is not None or key is None or user_seeded():
            # Keras: an initializer draws from the raw key ``[seed, 0]`` its ``draw_seed``
            # makes, wherever it runs; on the host (a model's weights) the same numbers are
            # computed without compiling.
            if _host(key):
                return ThreefryKey(self._default_seed)
            return jnp.asarray([self._default_seed & 0xFFFFFFFF, 0], dtype=jnp.uint32)
        return key  # the layer's key (JAX or host): every weight gets its own draw

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal distribution ``N(mean, stddev**2)``.

    >>> RandomNormal(seed=0)((3, 4)).shape
    (3, 4)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        sample = _normal(self._key(key), tuple(shape), _dtype(dtype, True))
        return sample * sample.dtype.type(self.stddev) + sample.dtype.type(self.mean)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal ``N(mean, stddev**2)`` truncated to two standard deviations around the mean.

    >>> bool(abs(TruncatedNormal(seed=0)((100,))).max() <= 0.1)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        sample = _truncated_normal(self._key(key), tuple(shape), _dtype(dtype, True))
        return sample * sample.dtype.type(self.stddev) + sample.dtype.type(self.mean)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform distribution on ``[minval, maxval)``.

    >>> bool(abs(RandomUniform(seed=0)((100,))).max() <= 0.05)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        return _uniform(self._key(key), tuple(shape), _dtype(dtype, True), self.minval, self.maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class Orthogonal(RandomInitializer):
    """Random orthogonal matrix (rows or columns orthonormal) times ``gain``.

    Shapes of rank > 2 are flattened to ``(prod(shape[:-1]), shape[-1])`` first.

    >>> q = Orthogonal(seed=0)((3, 3))
    >>> bool(jnp.allclose(q @ q.T, jnp.eye(3), atol=1e-5))
    True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        num_rows = math.prod(shape[:-1])
        num_cols = shape[-1]
        flat_shape = (max(num_cols, num_rows), min(num_cols, num_rows))
        a = _normal(self._key(key), flat_shape, _dtype(dtype, True))
        if _host(key):
            q, r = np.linalg.qr(a)
            q = (q * np.sign(np.diag(r))[None, :]).astype(a.dtype)
            if num_rows < num_cols:
                q = q.T
            return (self.gain * q.reshape(shape)).astype(a.dtype)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.sign(jnp.diag(r))[None, :]
        if num_rows < num_cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}
