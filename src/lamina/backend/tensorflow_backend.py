"""Keras 2.0-2.3's module path ``keras.backend.tensorflow_backend``.

Keras 2 scripts reach TensorFlow's session through it (``set_session(tf.Session(config=...))``
to let GPU memory grow) and list GPUs with ``K.tensorflow_backend._get_available_gpus()``.
Lamina runs on JAX, which has no session: ``set_session`` accepts its argument and does
nothing, and ``_get_available_gpus`` lists the GPUs JAX sees.  Every other name reads
:mod:`lamina.backend`'s (``tensorflow_backend.floatx()``), as the module re-exported the
backend functions in Keras 2.

>>> from lamina import backend as K
>>> K.tensorflow_backend.set_session(None)
>>> K.tensorflow_backend.floatx()
'float32'
"""

from __future__ import annotations

import jax


def set_session(session) -> None:
    """Accepted for Keras 2 code and ignored: JAX has no TensorFlow session.

    Keras 2 scripts pass a ``tf.Session`` configured for GPU memory growth or device
    placement; JAX allocates device memory itself (its ``XLA_PYTHON_CLIENT_PREALLOCATE`` and
    ``XLA_PYTHON_CLIENT_MEM_FRACTION`` environment variables set how much, before JAX starts).

    Args:
        session: anything (the TensorFlow session); not used.
    """


def _get_available_gpus() -> list[str]:
    """The names of the GPUs JAX sees, in Keras 2's form
    (``'/job:localhost/replica:0/task:0/device:GPU:0'``); ``[]`` without a GPU.

    >>> import jax
    >>> len(_get_available_gpus()) == sum(d.platform == "gpu" for d in jax.devices())
    True
    """
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this JAX installation or on this machine
        return []
    return [f"/job:localhost/replica:0/task:0/device:GPU:{i}" for i in range(len(gpus))]


def __getattr__(name: str):
    import lamina.backend as backend

    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(backend, name)


__all__ = ["set_session"]
