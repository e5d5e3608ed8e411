"""TensorFlow's eager-tensor ``.numpy()`` on the concrete JAX arrays Lamina returns.

tf.keras code reads eager results with ``.numpy()``: TensorFlow's beginner quickstart runs
``predictions = model(x_train[:1]).numpy()`` and ``loss_fn(y_train[:1], predictions).numpy()``,
the regression tutorial ``normalizer(first).numpy()``.  Lamina's eager results are JAX arrays,
which have no such method; this gives their class one that returns the NumPy array
(``np.asarray``), as TensorFlow's does.  Traced values inside ``jit`` get none: ``.numpy()``
there fails as it fails inside a ``tf.function``.

>>> import numpy as np
>>> import lamina
>>> layer = lamina.layers.Dense(2, kernel_initializer="ones")
>>> layer(np.ones((1, 3), "float32")).numpy()
array([[3., 3.]], dtype=float32)
"""

from __future__ import annotations

import jax
import numpy as np


def _numpy(self) -> np.ndarray:
    """The array's value as a NumPy array (TensorFlow's ``EagerTensor.numpy()``)."""
    return np.asarray(self)


def install() -> bool:
    """Adds ``numpy()`` to JAX's concrete array classes; True when one has the method after.

    The classes are found among ``jax.Array``'s subclasses rather than from a created array:
    creating one would start JAX's backend at ``import lamina``, after which
    ``jax.distributed.initialize`` (multi-process training) refuses to run.
    """
    done = False
    for cls in jax.Array.__subclasses__():
        if cls.__name__ != "ArrayImpl":
            continue
        if not hasattr(cls, "numpy"):
            try:
                cls.numpy = _numpy
            except (AttributeError, TypeError):  # a future JAX whose array class is sealed
                continue
        done = True
    return done


install()
