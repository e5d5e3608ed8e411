"""Initializers with fixed values: ``Zeros``, ``Ones``, ``Constant`` and ``Identity``.

They draw nothing: the same values with a JAX key, a host key (NumPy arrays) or no key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.initializers.base import Initializer, _dtype, _host


class Zeros(Initializer):
    """All zeros.

    >>> Zeros()((2,)).tolist()
    [0.0, 0.0]
    """

    def __call__(self, shape, dtype=None, key=None):
        if _host(key):
            return np.zeros(tuple(shape), dtype=_dtype(dtype))
        return jnp.zeros(tuple(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones.

    >>> Ones()((2,)).tolist()
    [1.0, 1.0]
    """

    def __call__(self, shape, dtype=None, key=None):
        if _host(key):
            return np.ones(tuple(shape), dtype=_dtype(dtype))
        return jnp.ones(tuple(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element equal to the scalar ``value``.

    >>> Constant(3.0)((2,)).tolist()
    [3.0, 3.0]
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None, key=None):
        dt = _dtype(dtype)
        if _host(key):
            return np.asarray(self.value, dtype=dt) * np.ones(tuple(shape), dtype=dt)
        return jnp.asarray(self.value, dtype=dt) * jnp.ones(tuple(shape), dtype=dt)

    def get_config(self):
        value = self.value
        if isinstance(value, (np.ndarray, jax.Array)):
            value = np.asarray(value).tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only).

    >>> Identity(2.0)((2, 2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None, key=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={tuple(shape)} of rank {len(shape)}."
            )
        if _host(key):
            return (self.gain * np.eye(*shape)).astype(_dtype(dtype))
        return self.gain * jnp.eye(*shape, dtype=_dtype(dtype))

    def get_config(self):
        # Keras's own get_config is empty (it drops ``gain``); keep that form for the default.
        return {} if self.gain == 1.0 else {"gain": self.gain}
