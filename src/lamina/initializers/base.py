"""The initializer contract: the :class:`Initializer` base class and the helpers every
initializer uses to resolve its ``dtype`` and to tell a host key from a JAX key.

An initializer is called as ``init(shape, dtype=None, key=None)``; with a
:class:`lamina.utils.random.HostKey` it returns a NumPy array (see :mod:`lamina.initializers`).

A user subclass written Keras's way, ``__call__(self, shape, dtype=None)`` (perhaps with
``**kwargs``, perhaps drawing with ``keras.random``), is adapted when the class is defined: the
layer's ``key`` is taken off the call, unseeded ``keras.random`` draws inside it come from that
key, and the result is cast to the weight's dtype, as Keras's ``Variable`` casts it.

>>> from lamina.initializers import Ones
>>> isinstance(Ones(), Initializer)
True
>>> import jax
>>> class Half(Initializer):
...     def __call__(self, shape, dtype=None):
...         return jnp.full(shape, 0.5)
>>> Half()((2,), "float32", key=jax.random.key(0)).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

import functools
import inspect

import jax.numpy as jnp

from lamina.utils.random import HostKey


def _dtype(dtype, floating=False):
    dt = jnp.dtype("float32" if dtype is None else dtype)
    if floating and not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"Expected a floating dtype for a random initializer, got {dt}.")
    return dt


def _host(key) -> bool:
    return isinstance(key, HostKey)


_UNSET = object()


def _takes_key(call) -> bool:
    """Whether ``call`` names a ``key`` parameter (Lamina's convention, not Keras's)."""
    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return True  # not introspectable: leave it as written
    return "key" in params and params["key"].kind is not inspect.Parameter.VAR_KEYWORD


def _dtype_name(dtype):
    """``dtype`` as Keras passes it to an initializer: a name (``"float32"``) or None."""
    try:
        return None if dtype is None else jnp.dtype(dtype).name
    except TypeError:  # not a NumPy dtype (a policy object): hand it over unchanged
        return dtype


def _keras_call(call):
    """Wraps a Keras-style ``__call__(self, shape, dtype=None, ...)`` so that layers can pass
    ``key=``: Keras never passes one, so the user's method must not see it."""

    @functools.wraps(call)
    def __call__(self, shape, dtype=_UNSET, *args, key=None, **kwargs):
        want = None
        if dtype is not _UNSET:
            # Keras passes the weight's dtype by keyword, as a name ("float32").
            want = _dtype_name(dtype)
            if args:
                args = (want, *args)
            else:
                kwargs["dtype"] = want
        if key is None:  # called directly: exactly as Keras would
            return call(self, shape, *args, **kwargs)
        from lamina.random import drawing_from

        if _host(key):  # user code draws with JAX, not with the host key's NumPy generator
            key = key.to_jax()
        with drawing_from(key):  # unseeded keras.random draws: this weight's own numbers
            value = call(self, shape, *args, **kwargs)
        if not isinstance(want, str) or getattr(value, "dtype", None) == want:
            return value
        return jnp.asarray(value, want)  # Keras's Variable converts to its dtype likewise

    return __call__


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None, key=None)``.

    A subclass may also implement Keras's ``__call__(shape, dtype=None)`` (without ``key``):
    it is wrapped by :meth:`__init_subclass__` so layers can call it like a built-in one.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if inspect.isfunction(call) and not _takes_key(call):
            cls.__call__ = _keras_call(call)

    def __call__(self, shape, dtype=None, key=None):
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

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
