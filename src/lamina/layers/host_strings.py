"""Host-side string data for the preprocessing layers that take strings.

JAX arrays hold no strings, so layers given strings (``Hashing``, ``StringLookup``,
``TextVectorization``, ``HashedCrossing``) run them eagerly on the host with NumPy:
:func:`is_host_input` tells such data apart, :func:`as_host_strings` normalizes it,
:class:`HostCallMixin` routes a layer call on it to the layer's ``host_apply``, and
:func:`hash_bucket` hashes a string into a bin exactly as TensorFlow (and so Keras) does.

Example:

>>> import numpy as np
>>> from lamina.layers.host_strings import as_host_strings, hash_bucket, is_host_input
>>> is_host_input(np.array(["a", "b"])), is_host_input(np.array([1, 2]))
(True, False)
>>> as_host_strings([b"x", "y"]).tolist()
['x', 'y']
>>> hash_bucket(b"A", 3)
1
"""

from __future__ import annotations

import numpy as np


def is_host_input(x) -> bool:
    """True for strings (NumPy ``U``/``S``/object arrays, Python str lists): host-only data."""
    if hasattr(x, "aval") or type(x).__name__ in ("KerasTensor", "Variable"):
        return False
    if isinstance(x, str | bytes):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "OUS"
    if isinstance(x, list | tuple):
        try:
            return np.asarray(x).dtype.kind in "OUS"
        except ValueError:
            return False
    return False


def as_host_strings(x) -> np.ndarray:
    """Strings as a NumPy array of Python ``str`` (bytes decoded as UTF-8)."""
    arr = np.asarray(x, dtype=object)
    flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.reshape(-1)]
    return np.array(flat, dtype=object).reshape(arr.shape)


def parse_salt(salt, owner):
    """Keras's ``salt``: ``None``, an int (``[salt, salt]``) or a pair of ints."""
    if salt is None:
        return None
    if isinstance(salt, tuple | list) and len(salt) == 2:
        return [int(v) for v in salt]
    if isinstance(salt, int) and not isinstance(salt, bool):
        return [salt, salt]
    raise ValueError(
        f"The `salt` argument for `{owner}` can only be a tuple of size 2 integers, or a "
        f"single integer. Received: salt={salt}."
    )


def hash_bucket(data: bytes, bins: int, salt=None) -> int:
    """TensorFlow's ``to_hash_bucket_fast`` (FarmHash) or, with a salt, ``_strong`` (SipHash)."""
    from lamina.layers._farmhash import fingerprint64, siphash64

    if salt is None:
        return fingerprint64(data) % bins
    return siphash64(salt[0], salt[1], data) % bins


class HostCallMixin:
    """Routes a call on strings to ``host_apply`` (NumPy) instead of the compiled path."""

    def __call__(self, *args, **kwargs):
        x = args[0] if args else kwargs.get("inputs")
        if is_host_input(x):
            return self.host_apply(x)
        return super().__call__(*args, **kwargs)
