"""The initializer contract: the :class:`Initializer` base class and the helpers every
initializer uses to resolve its ``dtype`` and to tell a host key from a JAX key.

An initializer is called as ``init(shape, dtype=None, key=None)``; with a
:class:`lamina.utils.random.HostKey` it returns a NumPy array (see :mod:`lamina.initializers`).

>>> from lamina.initializers import Ones
>>> isinstance(Ones(), Initializer)
True
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.utils.random import HostKey


def _dtype(dtype, floating=False):
    dt = jnp.dtype("float32" if dtype is None else dtype)
    if floating and not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"Expected a floating dtype for a random initializer, got {dt}.")
    return dt


def _host(key) -> bool:
    return isinstance(key, HostKey)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None, key=None)``."""

    def __call__(self, shape, dtype=None, key=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def _identity(self):
        return (type(self), repr(sorted(self.get_config().items())))

    def __eq__(self, other):
        return type(other) is type(self) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
