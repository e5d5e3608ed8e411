"""``lamina.backend``: Keras 3's backend helpers and Keras 2's ``keras.backend`` functions.

Keras 3: ``floatx``/``set_floatx``, ``epsilon``/``set_epsilon``,
``image_data_format``/``set_image_data_format``, ``backend()`` (``'jax'``),
``clear_session``, ``is_keras_tensor``, ``standardize_dtype``, ``result_type``.
Keras 2 (``from keras import backend as K``): variables and values (``K.variable``,
``K.get_value``, ``K.set_value``, ``K.eval``, ``K.int_shape``...), math with Keras 2's
argument names (``K.mean(x, axis=None, keepdims=False)``...), crossentropies, random tensors,
convolutions and pooling (``K.conv2d``...), ``K.function`` and ``K.gradients`` on a functional
graph, and the ``'th'``/``'tf'`` dim ordering.

>>> from lamina import backend as K
>>> def rmse(y_true, y_pred):
...     return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))
>>> rmse(K.constant([[1.0, 2.0]]), K.constant([[1.0, 4.0]])).tolist()
[1.4142135381698608]
"""

import builtins

import jax.numpy as _jnp

from lamina.backend import (
    eager_numpy,  # TensorFlow's ``.numpy()`` on eager results
    keras2_functional,
    keras2_layers_ops,
    keras2_math,
    keras2_nn,
    keras2_session,
    keras2_state,
    keras2_tensors,
    tensorflow_backend,  # Keras 2.0-2.3's module path
)
from lamina.backend.batch_dot import batch_dot
from lamina.backend.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from lamina.backend.keras2_functional import *  # noqa: F403
from lamina.backend.keras2_layers_ops import *  # noqa: F403
from lamina.backend.keras2_math import *  # noqa: F403
from lamina.backend.keras2_nn import *  # noqa: F403
from lamina.backend.keras2_rnn import rnn
from lamina.backend.keras2_session import *  # noqa: F403
from lamina.backend.keras2_state import *  # noqa: F403
from lamina.backend.keras2_tensors import *  # noqa: F403
from lamina.ops._tensor import convert_to_tensor, standardize_dtype


def result_type(*dtypes):
    """The dtype an op on these dtypes returns, Keras's rules (Python ``float`` is weak).

    >>> from lamina import backend
    >>> backend.result_type("int32", float)
    'float32'
    """
    if not dtypes:
        return floatx()
    resolved = [d if d in (int, float, bool) else _jnp.dtype(standardize_dtype(d)) for d in dtypes]
    out = _jnp.result_type(*resolved)
    if float in dtypes and not _jnp.issubdtype(out, _jnp.inexact):
        return floatx()  # int + Python float -> floatx, Keras's rule
    if _jnp.issubdtype(out, _jnp.floating) and builtins.all(
        d in (int, float, bool) for d in dtypes
    ):
        return floatx()
    return standardize_dtype(out)


def is_float_dtype(dtype):
    """Whether ``dtype`` is a float dtype (``keras.backend.is_float_dtype``).

    >>> from lamina import backend
    >>> backend.is_float_dtype("float16"), backend.is_float_dtype("int8")
    (True, False)
    """
    return "float" in standardize_dtype(dtype)


def is_int_dtype(dtype):
    """Whether ``dtype`` is an integer dtype (``keras.backend.is_int_dtype``).

    >>> from lamina import backend
    >>> backend.is_int_dtype("uint8")
    True
    """
    return "int" in standardize_dtype(dtype)


__all__ = sorted(
    {
        *keras2_functional.__all__,
        *keras2_layers_ops.__all__,
        *keras2_math.__all__,
        *keras2_nn.__all__,
        "rnn",
        *keras2_session.__all__,
        *keras2_state.__all__,
        *keras2_tensors.__all__,
        "backend", "batch_dot", "convert_to_tensor", "epsilon", "floatx", "image_data_format",
        "is_float_dtype", "is_int_dtype", "result_type", "set_epsilon", "set_floatx",
        "set_image_data_format", "standardize_dtype",
    }
)  # fmt: skip

# Keras 2 backend functions Lamina lacks: an
# AttributeError that names the missing function and the closest Lamina name.
from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("backend", globals())
