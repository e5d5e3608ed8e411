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

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers.call_scope import (  # noqa: F401 - re-exported: the package imports them here
    _LOCAL,
    AuxCollector,
    Scope,
    _stack,
    current_scope,
    find_binding,
    report_aux,
)


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
        self._trainable = bool(trainable)  # held in ``params`` (else in ``state``)
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
        self._trainable = bool(trainable)  # held in ``params`` (else in ``state``)
        self.initializer = initializer
        self.regularizer = regularizer
        self.constraint = constraint
        # Keras names a weight by its own name (``kernel``); the sub-layer path is in ``path``.
        self.name = name or key.rsplit("/", 1)[-1]
        self._free = None

    # --------------------------------------------------------------- reading
    @property
    def trainable(self) -> bool:
        """Whether an optimizer updates it: a trainable weight of a layer not frozen (Keras's
        ``layer.trainable = False`` marks the layer's variables non-trainable)."""
        layer = self._layer
        return self._trainable and (layer is None or bool(getattr(layer, "trainable", True)))

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = bool(value)

    def __setstate__(self, state):
        state = dict(state)
        if "trainable" in state:  # pickled when ``trainable`` was a plain attribute
            state["_trainable"] = state.pop("trainable")
        self.__dict__.update(state)

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
            return params[self._key] if self._trainable else new_state[self._key]
        pending = getattr(self.initializer, "pending", None)
        if pending is not None and not self._layer._has_weights():
            return pending  # adopted by a layer not built yet: the value it will start from
        try:
            return self._layer._current_weight(self._key, self._trainable)
        except KeyError:  # moved between params and state since (``enable_lora``): follow it
            value = self._layer._current_weight(self._key, not self._trainable)
            self._trainable = not self._trainable
            return value

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
            if self._trainable:
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
        self._layer._write_weight(self._key, self._trainable, value)
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
        # Keras 3 refuses it too: `if variable:` would read a traced value inside a step.
        raise TypeError(
            "A Keras Variable cannot be used as a boolean. Compare its value instead "
            "(`bool(variable.numpy())`, `if variable.value > 0:`)."
        )

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


def layer_view(layer, key: str, trainable: bool, array=None, options: bool = False) -> Variable:
    """The one :class:`Variable` viewing weight ``key`` of ``layer``, as Keras hands out one
    ``keras.Variable`` object per weight: ``dense.kernel is dense.weights[0]``, and a view
    can key a dict or be looked up in ``model.trainable_weights`` by identity.

    The view is kept on the layer (so a deep copy or an unpickled layer gets views bound to
    itself) and refreshed on each reuse: its ``trainable`` flag, an integer dtype the array
    took (``quantize("int8")``), and with ``options`` its regularizer and constraint.

    Args:
        layer: the layer whose ``params`` (``trainable``) or ``state`` holds ``key``.
        key: the weight's key (``"kernel"``, ``"dense/kernel"`` under a Keras-style layer).
        trainable: whether the weight is read from the layer's ``params``.
        array: the weight's current array, if known (its dtype shows an integer weight).
        options: whether to set the regularizer and constraint the layer declares for it.

    Returns:
        The view (the same object on every call for one layer and key).

    >>> import numpy as np
    >>> from lamina.layers import Dense
    >>> layer = Dense(2)
    >>> layer.build((None, 3))
    >>> layer_view(layer, "kernel", True) is layer.kernel is layer.weights[0]
    True
    """
    cache = layer.__dict__.get("_lamina_views")
    if not cache or next(iter(cache.values()))._layer is not layer:
        # None yet, or a shallow copy's (``copy.copy(layer)`` shares the dict): its own one.
        # Set in ``__dict__``: a layer's ``__setattr__`` tracks attributes (sub-layers,
        # variables), and this cache is neither.
        cache = layer.__dict__["_lamina_views"] = {}
    view = cache.get(key)
    if view is None:
        view = cache[key] = Variable(layer, key, trainable=trainable)
    view._trainable = bool(trainable)
    dtype = getattr(array, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jnp.integer):
        view.dtype = str(dtype)  # an int8 kernel after ``quantize``; float views keep theirs
    elif dtype is not None and str(view.dtype).startswith(("int", "uint")):
        view.dtype = str(dtype)  # an integer weight replaced by a float one again
    if options:
        from lamina.layers.weight_views import _declaring_layer

        owner, own = _declaring_layer(layer, key)
        view.regularizer = owner._weight_regularizers().get(own)
        view.constraint = owner._weight_constraints().get(own)
    return view
