"""Keras 2's ``keras.backend`` functions a script calls outside a model: variables and their
values (``K.variable``, ``K.get_value``, ``K.set_value``), shapes (``K.int_shape``, ``K.count_params``).

>>> from lamina import backend as K
>>> v = K.variable([[1.0, 2.0]])
>>> K.set_value(v, [[3.0, 4.0]]); K.get_value(v).tolist(), K.int_shape(v)
([[3.0, 4.0]], (1, 2))
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lamina.backend import config as _config
from lamina.ops._tensor import jdtype, standardize_dtype, tensor

__all__ = [
    "BackendVariable", "batch_get_value", "batch_set_value", "constant", "count_params",
    "dtype", "eval", "eye", "get_value", "int_shape", "is_keras_tensor", "is_tensor", "ndim",
    "ones", "ones_like", "set_value", "shape", "update", "update_add", "update_sub",
    "variable", "zeros", "zeros_like",
]  # fmt: skip


class BackendVariable:
    """A standalone variable from :func:`variable`: an array that ``assign`` replaces.

    Works wherever an array does (``__jax_array__``, ``__array__``, arithmetic).
    """

    __array_priority__ = 100

    def __init__(self, value, dtype=None, name=None, constraint=None):
        self.value = jnp.asarray(tensor(value), dtype=jdtype(dtype or _default_dtype(value)))
        self.name = name or "variable"
        self.constraint = constraint

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: standardize_dtype(self.value.dtype))
    ndim = property(lambda self: self.value.ndim)

    def assign(self, value):
        value = jnp.asarray(tensor(value), dtype=self.value.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Variable {self.name!r} has shape {self.value.shape}; assign() received a value "
                f"of shape {value.shape}."
            )
        self.value = value
        return value

    def assign_add(self, value):
        return self.assign(self.value + tensor(value))

    def assign_sub(self, value):
        return self.assign(self.value - tensor(value))

    def numpy(self):
        return np.asarray(self.value)

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.value)
        return out if dtype is None else out.astype(dtype)

    def __repr__(self):
        return f"<BackendVariable name={self.name!r} shape={self.shape} dtype={self.dtype}>"


def _op(fn, reverse=False):
    def method(self, other):
        if type(other).__name__ == "KerasTensor":
            # ``loss = K.variable(0.); loss += K.sum(...)`` (Keras 2's deep dream): the
            # symbolic tensor's own operator records the op with this value in the graph.
            return NotImplemented
        other = other.value if isinstance(other, BackendVariable) else other
        return fn(other, self.value) if reverse else fn(self.value, other)

    return method


for _name, _fn in {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "truediv": jnp.true_divide,
    "pow": jnp.power, "matmul": jnp.matmul, "lt": jnp.less, "le": jnp.less_equal,
    "gt": jnp.greater, "ge": jnp.greater_equal,
}.items():  # fmt: skip
    setattr(BackendVariable, f"__{_name}__", _op(_fn))
    setattr(BackendVariable, f"__r{_name}__", _op(_fn, reverse=True))
BackendVariable.__neg__ = lambda self: -self.value
BackendVariable.__getitem__ = lambda self, idx: self.value[idx]


def _default_dtype(value):
    dt = getattr(value, "dtype", None)
    if dt is not None and not jnp.issubdtype(dt, jnp.floating):
        return None if dt == np.int64 else dt
    return _config.floatx()


def variable(value, dtype=None, name=None, constraint=None):
    """A variable holding ``value`` (``K.variable``); float values use ``floatx()``.

    >>> from lamina import backend as K
    >>> K.variable([1, 2]).dtype
    'float32'
    """
    if dtype is None and not hasattr(value, "dtype"):
        dtype = _config.floatx()
    return BackendVariable(value, dtype=dtype, name=name, constraint=constraint)


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor, broadcast to ``shape`` when given (``K.constant``).

    >>> from lamina import backend as K
    >>> K.constant(2.0, shape=(2,)).tolist()
    [2.0, 2.0]
    """
    x = jnp.asarray(tensor(value), dtype=jdtype(dtype or _config.floatx()))
    return x if shape is None else jnp.broadcast_to(x, tuple(shape))


def _filled(name, fn):
    def op(shape, dtype=None, name=None):
        return fn(
            tuple(shape) if not isinstance(shape, int) else (shape,),
            dtype=jdtype(dtype or _config.floatx()),
        )

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"A tensor of {name} (``K.{name}``), ``floatx()`` by default.\n\n>>> from lamina import "
        f"backend as K\n>>> K.{name}((2, 3)).shape\n(2, 3)\n"
    )
    return op


zeros = _filled("zeros", jnp.zeros)
ones = _filled("ones", jnp.ones)


def eye(size, dtype=None, name=None):
    """The identity matrix (``K.eye``).

    >>> from lamina import backend as K
    >>> K.eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    return jnp.eye(size, dtype=jdtype(dtype or _config.floatx()))


def zeros_like(x, dtype=None, name=None):
    """Zeros shaped like ``x`` (``K.zeros_like``).

    >>> from lamina import backend as K
    >>> K.zeros_like(K.ones((2,))).tolist()
    [0.0, 0.0]
    """
    return jnp.zeros_like(jnp.asarray(tensor(x)), dtype=jdtype(dtype))


def ones_like(x, dtype=None, name=None):
    """Ones shaped like ``x`` (``K.ones_like``).

    >>> from lamina import backend as K
    >>> K.ones_like(K.zeros((2,))).tolist()
    [1.0, 1.0]
    """
    return jnp.ones_like(jnp.asarray(tensor(x)), dtype=jdtype(dtype))


def get_value(x):
    """``x``'s value as NumPy (``K.get_value``); Python numbers pass through.

    As TensorFlow's ``numpy()``, which Keras 2 called, a scalar comes back as a NumPy scalar
    of the variable's dtype (``np.float32`` for a learning rate), not as a 0-d array, so
    ``np.array([K.get_value(lr) for ...])`` is float32.

    >>> from lamina import backend as K
    >>> K.get_value(K.variable(0.5))
    np.float32(0.5)
    >>> K.get_value(K.variable([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    if isinstance(x, int | float) and not isinstance(x, np.generic):
        return x
    if hasattr(x, "numpy") and callable(x.numpy):
        value = x.numpy()
    else:
        value = np.asarray(jax.device_get(tensor(x)))
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


eval = get_value  # noqa: A001 - Keras 2's K.eval
eval.__doc__ = get_value.__doc__


def set_value(x, value):
    """Sets the value of a variable (``K.set_value``).

    ``x`` may be anything with an ``assign`` method (``K.variable``, a layer's weight, an
    optimizer hyperparameter object) or a writable NumPy array.

    Raises:
        TypeError: for a plain number or an immutable array, which cannot be changed in place.

    >>> from lamina import backend as K
    >>> v = K.variable(1.0)
    >>> K.set_value(v, 0.01); round(float(K.get_value(v)), 4)
    0.01
    """
    if hasattr(x, "assign"):
        x.assign(value)
        return
    if isinstance(x, np.ndarray) and x.flags.writeable:
        x[...] = value
        return
    raise TypeError(
        f"K.set_value needs a variable (an object with .assign) or a writable NumPy array; "
        f"received {type(x).__name__} {x!r}, which cannot change in place. To change a "
        "learning rate, set model.optimizer.learning_rate = value or use "
        "lamina.callbacks.LearningRateScheduler."
    )


def batch_get_value(tensors):
    """``[get_value(x) for x in tensors]`` (``K.batch_get_value``).

    >>> from lamina import backend as K
    >>> [v.tolist() for v in K.batch_get_value([K.variable(1.0)])]
    [1.0]
    """
    return [get_value(x) for x in tensors]


def batch_set_value(tuples):
    """``set_value(x, value)`` for each ``(x, value)`` pair (``K.batch_set_value``).

    >>> from lamina import backend as K
    >>> v = K.variable(1.0); K.batch_set_value([(v, 2.0)]); float(K.get_value(v))
    2.0
    """
    for x, value in tuples:
        set_value(x, value)


def update(x, new_x):
    """``x.assign(new_x)`` (``K.update``)."""
    return x.assign(new_x)


def update_add(x, increment):
    """``x.assign_add(increment)`` (``K.update_add``)."""
    return x.assign_add(increment)


def update_sub(x, decrement):
    """``x.assign_sub(decrement)`` (``K.update_sub``)."""
    return x.assign_sub(decrement)


def int_shape(x):
    """``x``'s shape as a tuple of ints (``None`` where unknown) (``K.int_shape``).

    >>> from lamina import backend as K
    >>> K.int_shape(K.zeros((2, 3)))
    (2, 3)
    """
    shape_ = getattr(x, "shape", None)
    if shape_ is None:
        shape_ = np.shape(x)
    return tuple(None if d is None else int(d) for d in shape_)


def shape(x):
    """``x``'s shape (``K.shape``); static in JAX, so a tuple of ints.

    A symbolic tensor with unknown dimensions (``(None, None, None, 3)``) gets Keras 2's
    answer, a symbolic int32 vector of its shape when the graph runs, so
    ``K.prod(K.cast(K.shape(x), "float32"))`` (Keras 2's deep dream) counts its elements.

    >>> from lamina import backend as K
    >>> K.shape(K.zeros((2, 3)))
    (2, 3)
    >>> import lamina
    >>> K.shape(lamina.Input((None, 3)))
    <KerasTensor shape=(3,), dtype=int32, name=None>
    """
    dims = int_shape(x)
    if None in dims and type(x).__name__ == "KerasTensor":
        from lamina.ops._symbolic import symbolic_aware

        return symbolic_aware(_run_time_shape, "keras2_shape", saveable=False)(x)
    return dims


def _run_time_shape(x):
    return jnp.asarray(jnp.shape(x), jnp.int32)


def ndim(x):
    """The number of axes (``K.ndim``).

    >>> from lamina import backend as K
    >>> K.ndim(K.zeros((2, 3)))
    2
    """
    return len(int_shape(x))


def dtype(x):
    """``x``'s dtype name (``K.dtype``).

    >>> from lamina import backend as K
    >>> K.dtype(K.zeros((2,)))
    'float32'
    """
    dt = getattr(x, "dtype", None)
    return standardize_dtype(dt if dt is not None else jnp.asarray(tensor(x)).dtype)


def count_params(x):
    """The number of scalars in ``x`` (``K.count_params``).

    >>> from lamina import backend as K
    >>> K.count_params(K.zeros((2, 3)))
    6
    """
    return int(math.prod(int_shape(x)))


def is_tensor(x):
    """Whether ``x`` is a JAX array (``K.is_tensor``).

    >>> from lamina import backend as K
    >>> K.is_tensor(K.zeros((2,)))
    True
    """
    return isinstance(x, jax.Array)


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor from ``lamina.Input`` (``K.is_keras_tensor``).

    >>> from lamina import backend as K
    >>> K.is_keras_tensor(K.zeros((2,)))
    False
    """
    try:
        from lamina.layers.symbolic import KerasTensor
    except ImportError:  # the functional API is not available
        return False
    return isinstance(x, KerasTensor)
