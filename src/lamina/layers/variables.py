"""Keras-style weights (``layer.kernel``, ``add_weight``) as views of pure arrays.

A :class:`Variable` owns no array.  It names one entry of its layer's ``params`` (trainable) or
``state`` (non-trainable) dict and reads the array from wherever that layer's weights live now:

* inside a traced ``call`` (training, predict, a functional graph), the arrays bound by the
  innermost :class:`Scope` (Keras-JAX's ``StatelessScope``): ``assign`` there records the new
  value into the layer's new ``state``, which the pure ``apply`` returns;
* otherwise the layer's current weights: its owning model's ``TrainState``, or the layer's own
  arrays when it is used standalone (``Dense(3)(np.ones((2, 4)))``).

>>> import numpy as np
>>> from lamina.layers import Dense
>>> layer = Dense(2, kernel_initializer="ones")
>>> y = layer(np.ones((1, 3), "float32"))
>>> layer.kernel.shape, float(layer.kernel.numpy().sum())
((3, 2), 6.0)
"""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_LOCAL = threading.local()


def _stack() -> list:
    if not hasattr(_LOCAL, "scopes"):
        _LOCAL.scopes = []
    return _LOCAL.scopes


class Scope:
    """Binds layers to arrays while a ``call`` is traced.

    Args:
        training: the ``training`` flag passed on to sub-layers called inside.
        key: a JAX key (or None) from which sub-layers that draw random numbers get theirs.
        init_key: when not None, sub-layers called inside are *initialized* (their weights are
            drawn from this key) before they run: how a custom layer builds its sub-layers.
    """

    def __init__(self, training=False, key=None, init_key=None, batch_mask=None):
        self.training = training
        self.batch_mask = batch_mask
        #: Activity-regularization and ``add_loss`` terms of the layers called inside.
        self.aux = 0.0
        self.key = key
        self.init_key = init_key
        #: The Keras-style layer whose ``call`` runs in this scope (set by ``traced_apply``).
        self.caller = None
        #: id(layer) -> its params before a re-parametrizing ``assign`` in the call.
        self.originals: dict[int, dict] = {}
        self._count = 0
        #: id(layer) -> [params, state, new_state, prefix-owner, layer]
        self.bound: dict[int, list] = {}
        #: id(array) -> (array, mask): the masks tensors carry inside this call (Keras's
        #: ``_keras_mask``), see :func:`lamina.layers.tracing.record_masks`.
        self.masks: dict[int, tuple] = {}

    def bind(self, layer, params: dict, state: dict) -> None:
        self.bound[id(layer)] = [params, state, dict(state), layer]

    def lookup(self, layer):
        return self.bound.get(id(layer))

    def next_key(self):
        """A fresh key for one random sub-layer call (None outside training)."""
        if self.key is None:
            return None
        self._count += 1
        return jax.random.fold_in(self.key, self._count)

    def next_init_key(self):
        self._count += 1
        from lamina.utils import random as _random

        if isinstance(self.init_key, _random.HostKey):
            return _random.HostKey((*self.init_key.words[:3], self._count))
        return jax.random.fold_in(self.init_key, self._count)

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


class AuxCollector:
    """Collects the ``add_loss``/activity terms of Keras-style layers run inside a forward pass
    (their pure ``apply`` returns only outputs and state)."""

    def __init__(self):
        self.total = 0.0

    def __enter__(self):
        if not hasattr(_LOCAL, "collectors"):
            _LOCAL.collectors = []
        _LOCAL.collectors.append(self)
        return self

    def __exit__(self, *exc):
        _LOCAL.collectors.pop()
        return False


def report_aux(value, required: bool = True) -> None:
    """Adds ``value`` to the innermost :class:`AuxCollector`.

    Args:
        value: the term.
        required: whether losing it would change a result (training); when False and nothing
            collects, the term is dropped (inference, shape inference).

    Raises:
        NotImplementedError: ``required`` and no forward pass collects such terms here (a
            Keras-style layer calling ``add_loss`` directly inside a ``Sequential``).
    """
    collectors = getattr(_LOCAL, "collectors", None)
    if collectors:
        collectors[-1].total = collectors[-1].total + value
        return
    if not required:
        return
    raise NotImplementedError(
        "add_loss() (or an activity regularizer inside a custom layer) in a layer placed "
        "directly in a Sequential model is not supported yet: its term would be left out of "
        "the loss. Build the model with the functional API (keras.Model(inputs, outputs)) or "
        "as a subclassed Model, where these terms join the loss as in Keras."
    )


def current_scope() -> Scope | None:
    stack = _stack()
    return stack[-1] if stack else None


def find_binding(layer):
    """The innermost scope's binding of ``layer``; else the arrays the model being run or
    built offers for it (:mod:`lamina.layers.borrowed`: a layer reading another layer's
    variables, tied weights); else None."""
    for scope in reversed(_stack()):
        entry = scope.lookup(layer)
        if entry is not None:
            return entry
    if getattr(_LOCAL, "offers", None):
        from lamina.layers.borrowed import offered

        return offered(layer)
    return None


class Variable:
    """A variable, as Keras's ``keras.Variable``: a weight of a layer, or a free-standing one.

    Supports arithmetic, ``jnp`` functions (``__jax_array__``), ``.value``, ``.numpy()``,
    ``.shape``, ``.dtype``, ``.assign``/``.assign_add``/``.assign_sub``.

    Created by ``Layer.add_weight`` (with its initializer, regularizer and constraint), as a view
    of a built-in layer's weight (``dense.kernel``), or directly with Keras's signature
    ``Variable(initializer, shape=None, dtype=None, trainable=True, name=None)`` (TensorFlow's
    ``initial_value=`` too): such a free variable holds its own array until it is assigned as an
    attribute of a layer (``self.w = keras.Variable(...)`` in ``__init__`` or ``build``), which
    makes it one of that layer's weights, as Keras tracks it.

    Args:
        initializer: an array-like initial value, or an initializer (name or callable taking
            ``shape`` and ``dtype``), which then needs ``shape``.
        shape: the shape, for an initializer.
        dtype: the dtype; an array's own (``floatx()`` for Python floats) by default.
        trainable: whether an optimizer updates it once it belongs to a layer.
        name: the name (no ``/``); ``"variable"`` by default.

    Raises:
        ValueError: an initializer without ``shape``, a name with ``/``, or no initial value.

    >>> import numpy as np
    >>> import lamina as keras
    >>> v = keras.Variable(np.ones((2, 2)), name="v")
    >>> _ = v.assign_add(np.ones((2, 2)))
    >>> v.numpy().tolist(), v.dtype
    ([[2.0, 2.0], [2.0, 2.0]], 'float32')
    >>> keras.Variable(keras.initializers.Zeros(), shape=(3,)).shape
    (3,)
    """

    __array_priority__ = 100

    def __init__(self, *args, **kwargs):
        if len(args) >= 2 and isinstance(args[1], str) and hasattr(args[0], "_weights_source"):
            self._init_view(*args, **kwargs)
        else:
            self._init_free(*args, **kwargs)

    def _init_free(
        self,
        initializer=None,
        shape=None,
        dtype=None,
        trainable=True,
        autocast=True,
        aggregation="none",
        synchronization="auto",
        name=None,
        initial_value=None,
        **kwargs,
    ):
        from lamina.layers.free_variables import initial_array

        value, name = initial_array(initializer, initial_value, shape, dtype, name, kwargs)
        self._layer = None
        self._key = None
        self._free = value
        self._shape = tuple(value.shape)
        self.dtype = str(value.dtype)
        self.trainable = bool(trainable)
        self.initializer = None
        self.regularizer = None
        self.constraint = None
        self.name = name
        from lamina.scopes import current_path

        self._parent_path = current_path()  # Keras: a variable made in a name_scope is under it

    def _init_view(
        self,
        layer,
        key: str,
        *,
        shape=None,
        dtype="float32",
        trainable: bool = True,
        initializer=None,
        regularizer=None,
        constraint=None,
        name: str | None = None,
    ):
        self._layer = layer
        self._key = key
        self._shape = None if shape is None else tuple(int(d) for d in shape)
        self.dtype = dtype or "float32"
        self.trainable = bool(trainable)
        self.initializer = initializer
        self.regularizer = regularizer
        self.constraint = constraint
        # Keras names a weight by its own name (``kernel``); the sub-layer path is in ``path``.
        self.name = name or key.rsplit("/", 1)[-1]
        self._free = None

    # --------------------------------------------------------------- reading
    @property
    def path(self) -> str:
        from lamina.scopes import joined_path

        if self._layer is None:
            return joined_path(getattr(self, "_parent_path", ""), self.name)
        from lamina.layers.variable_paths import weight_path

        # The name scopes open when the layer was built (``lamina.name_scope``), then the
        # names of the sub-layers Keras builds the weight in.
        return weight_path(self._layer, self._key if self._key is not None else self.name)

    @property
    def value(self):
        if self._layer is None:
            return self._free
        entry = find_binding(self._layer)
        if entry is not None:
            params, _, new_state, _ = entry
            return params[self._key] if self.trainable else new_state[self._key]
        pending = getattr(self.initializer, "pending", None)
        if pending is not None and not self._layer._has_weights():
            return pending  # adopted by a layer not built yet: the value it will start from
        return self._layer._current_weight(self._key, self.trainable)

    @property
    def shape(self) -> tuple:
        if self._shape is not None:
            return self._shape
        return tuple(self.value.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numpy(self) -> np.ndarray:
        return np.asarray(jax.device_get(self.value))

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        out = self.numpy()  # read-only: the device buffer's host view
        if dtype is not None:
            return out.astype(dtype)
        # ``np.array(variable)`` asks for a copy and trusts it to be one: a writable array.
        return out.copy() if copy else out

    # --------------------------------------------------------------- writing
    def assign(self, value):
        value = jnp.asarray(value, dtype=self.value.dtype)
        if tuple(value.shape) != tuple(self.shape):
            raise ValueError(
                f"Variable {self.path!r} has shape {tuple(self.shape)}; assign() received a "
                f"value of shape {tuple(value.shape)}."
            )
        if self._layer is None:
            self._free = value
            return value
        entry = find_binding(self._layer)
        if entry is not None:
            if self.trainable:
                scope = current_scope()
                caller = getattr(scope, "caller", None)
                if caller is None or caller is self._layer:
                    raise NotImplementedError(
                        f"assign() on the trainable variable {self.path!r} inside call(): "
                        "Lamina's compiled step updates a layer's own trainable weights only "
                        "through the optimizer (Keras's JAX backend drops such an assignment "
                        "at the end of each training step). Expected a non-trainable variable; "
                        "fix: create it with add_weight(..., trainable=False) to update it in "
                        "call()."
                    )
                # A wrapper re-parametrizing a sub-layer's weight before calling it (PixelCNN's
                # masked kernel), as Keras's JAX backend runs it: the rest of the call reads
                # the value, gradients reach the stored weight through it, and the step drops
                # the assignment.  A copy, so the arrays the caller bound stay untouched (and
                # a build keeps the weights it made: ``originals``).
                scope.originals.setdefault(id(self._layer), entry[0])
                entry[0] = {**entry[0], self._key: value}
                return value
            entry[2][self._key] = value
            return value
        if getattr(self.initializer, "pending", None) is not None:
            if not self._layer._has_weights():
                self.initializer.pending = value
                return value
        self._layer._write_weight(self._key, self.trainable, value)
        return value

    def assign_add(self, value):
        return self.assign(self.value + value)

    def assign_sub(self, value):
        return self.assign(self.value - value)

    def __repr__(self) -> str:
        try:
            value = f", value={self.numpy()}"
        except Exception:  # noqa: BLE001 - a repr never raises (an unbuilt layer, a tracer)
            value = ""
        try:
            shape = self.shape
        except Exception:  # noqa: BLE001
            shape = "?"
        return f"<Variable path={self.path}, shape={shape}, dtype={self.dtype}{value}>"

    # ------------------------------------------------------------ arithmetic
    def __getitem__(self, idx):
        return self.value[idx]

    def __len__(self):
        return self.shape[0]

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return abs(self.value)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return self.value.T


def _binary(name):
    def forward(self, other):
        return getattr(jnp.asarray(self.value), name)(_unwrap(other))

    forward.__name__ = name
    return forward


def _unwrap(v: Any):
    return v.value if isinstance(v, Variable) else v


for _op in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
    "radd", "rsub", "rmul", "rtruediv", "rfloordiv", "rmod", "rpow", "rmatmul",
    "lt", "le", "gt", "ge", "eq", "ne",
):  # fmt: skip
    setattr(Variable, f"__{_op}__", _binary(f"__{_op}__"))
Variable.__hash__ = object.__hash__
