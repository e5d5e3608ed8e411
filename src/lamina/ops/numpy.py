"""``lamina.ops.numpy``: Keras 3's NumPy-style ops (``keras.ops.numpy``) on ``jax.numpy``.

Keras's names, argument names and defaults; Keras's dtype rules where they differ from
JAX's (integer inputs to float functions give ``floatx()``; new float tensors default to
``floatx()``). Every op accepts JAX and NumPy arrays, Python scalars and lists, and Lamina
``Variable``s, and works inside ``jax.jit``. The ops live in small private modules by kind;
this module gathers them.

>>> from lamina.ops import numpy as knp
>>> knp.mean(knp.arange(4)).dtype
dtype('float32')
"""

from lamina.ops import _creation, _elementwise, _misc, _reductions, _shaping
from lamina.ops._creation import *  # noqa: F403
from lamina.ops._elementwise import *  # noqa: F403
from lamina.ops._misc import *  # noqa: F403
from lamina.ops._reductions import *  # noqa: F403
from lamina.ops._shaping import *  # noqa: F403

__all__ = sorted(
    {
        *_creation.__all__,
        *_elementwise.__all__,
        *_misc.__all__,
        *_reductions.__all__,
        *_shaping.__all__,
    }
)
