"""Variables made outside ``add_weight``, and how a layer takes them as its weights.

Keras tracks a ``keras.Variable`` assigned as a layer attribute (``self.w = keras.Variable(...)``
in ``__init__`` or ``build``) as one of the layer's weights, as ``add_weight`` would have made it;
Keras 1/2 code does the same with ``K.variable`` (and lists the weights with
``self.trainable_weights = [self.W]``).  Here such a variable is *adopted*: it becomes a view of
an entry of the layer's ``params`` (trainable) or ``state``, and its value until then is the
entry's initial value.  On a subclassed ``Model`` it is the model's own variable
(:mod:`lamina.models.own_variables`), as Keras tracks it on the model.

>>> import numpy as np
>>> import lamina as keras
>>> class Scale(keras.layers.Layer):
...     def __init__(self):
...         super().__init__()
...         self.s = keras.Variable(np.full((2,), 3.0, "float32"), name="s")
...     def call(self, x):
...         return x * self.s
>>> layer = Scale()
>>> layer(np.ones((1, 2), "float32")).tolist(), [w.name for w in layer.trainable_weights]
([[3.0, 3.0]], ['s'])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers.variables import Variable


class AdoptedValue:
    """The initializer of an adopted variable: its value when the layer took it (``pending``,
    kept up to date by ``assign`` until the layer is built)."""

    def __init__(self, value):
        self.pending = value

    def __call__(self, shape, dtype=None, key=None):
        value = jnp.asarray(self.pending, dtype=dtype or self.pending.dtype)
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"Expected a value of shape {tuple(shape)}; held {value.shape}.")
        return value

    def get_config(self) -> dict:
        return {}


def initial_array(initializer, initial_value, shape, dtype, name, extra: dict):
    """``(array, name)`` for ``keras.Variable(...)``'s arguments, checked as Keras does."""
    from lamina import initializers as _initializers
    from lamina.backend import config as _config

    unknown = set(extra) - {"layout", "validate_shape", "caching_device", "experimental_enable_variable_lifting", "import_scope", "constraint"}  # fmt: skip
    if unknown:
        raise TypeError(f"Variable() got unexpected keyword argument(s): {sorted(unknown)}.")
    if name is None:
        from lamina._naming import unique_name

        name = unique_name("variable")  # as Keras's ``auto_name``: variable, variable_1, ...
    if not isinstance(name, str) or "/" in name:
        raise ValueError(
            f"Argument `name` must be a string and cannot contain character `/`. Received: "
            f"name={name}"
        )
    if initializer is None:
        initializer = initial_value
    elif initial_value is not None:
        raise ValueError("Variable() takes `initializer` or `initial_value`, not both.")
    if initializer is None:
        raise ValueError(
            "Variable() needs an initial value: an array (keras.Variable(np.zeros((3,)))) or an "
            "initializer with a shape (keras.Variable('zeros', shape=(3,)))."
        )
    if isinstance(initializer, str):
        initializer = _initializers.get(initializer)
    if isinstance(initializer, Variable):
        initializer = initializer.value
    if callable(initializer) and not hasattr(initializer, "__jax_array__"):
        if shape is None:
            raise ValueError(
                "When creating a Variable from an initializer, the `shape` argument should be "
                f"specified. Received: initializer={initializer} and shape={shape}"
            )
        dtype = _dtype_name(dtype) or _config.floatx()
        value = jnp.asarray(initializer(tuple(int(d) for d in shape), dtype=dtype), dtype=dtype)
    else:
        # A JAX array (a tracer, too, when ``build`` runs under a trace) keeps its own dtype.
        arr = initializer if isinstance(initializer, jax.Array) else np.asarray(initializer)
        if dtype is None:
            if arr.dtype == np.float64 or arr.dtype.kind not in "biuf":
                dtype = _config.floatx() if arr.dtype.kind == "f" else arr.dtype
            elif arr.dtype == np.int64:
                dtype = "int32"  # JAX's default integer, as Keras-JAX stores it
            else:
                dtype = arr.dtype
        value = jnp.asarray(arr, dtype=_dtype_name(dtype))
        if shape is not None and tuple(value.shape) != tuple(int(d) for d in shape):
            raise ValueError(
                f"Variable() was given shape={tuple(shape)} and a value of shape "
                f"{tuple(value.shape)}."
            )
    return value, name


def _dtype_name(dtype):
    if dtype is None:
        return None
    if dtype in ("int", int, float):
        # Keras-JAX's standardize_dtype: Python's int and "int" are int32, float is float32
        # (not NumPy's 64-bit defaults, which JAX would truncate with a warning).
        return "float32" if dtype is float else "int32"
    return str(np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, str) else dtype))


def variable_owner(layer, what: str):
    """The layer that takes a new variable of ``layer`` (``what``: how it is made): ``layer``,
    or for a subclassed model the holder of its own variables
    (:mod:`lamina.models.own_variables`), as Keras tracks them on the model."""
    if not getattr(layer, "_is_model", False):
        return layer
    from lamina.models.own_variables import owner_for

    return owner_for(layer, what)


def unique_key(layer, base: str) -> str:
    """A key for a new weight of ``layer``: ``base``, or ``base_1``, ... when taken."""
    taken = {v._key for v in getattr(layer, "_variables", None) or []}
    key, n = base, 0
    while key in taken or "/" in key:
        n += 1
        key = f"{base.replace('/', '_')}_{n}"
    return key


def is_adoptable(value) -> bool:
    """A free ``keras.Variable`` or a ``K.variable``, which a layer attribute adopts."""
    from lamina.backend.keras2_state import BackendVariable

    if isinstance(value, Variable):
        return value._layer is None
    return isinstance(value, BackendVariable)


def adopt_attribute(layer, value):
    """``value`` (a variable, or a list/tuple holding some) with its free variables made
    weights of ``layer``; a ``K.variable`` is replaced by the weight's view."""
    if isinstance(value, list | tuple):
        adopted = [adopt(layer, v) if is_adoptable(v) else v for v in value]
        return type(value)(adopted) if isinstance(value, tuple) else adopted
    return adopt(layer, value)


def adopt(layer, var) -> Variable:
    """Makes the free variable ``var`` a weight of ``layer`` (a no-op for one it holds)."""
    from lamina.backend.keras2_state import BackendVariable

    layer = variable_owner(layer, "a variable set as its attribute")
    if isinstance(var, BackendVariable):
        mapped = layer.__dict__.setdefault("_adopted_backend", {})
        if id(var) in mapped:
            return mapped[id(var)][1]
        view = Variable(var.value, name=var.name)
        view.constraint = var.constraint
        mapped[id(var)] = (var, view)  # keeps ``var`` alive so its id stays unique
        var = view
    if not hasattr(layer, "_variables") or layer._variables is None:
        layer._variables = []
    value = var._free
    var._layer, var._key, var._free = layer, unique_key(layer, var.name), None
    var.name = var._key  # two of one layer's variables never share a name
    var.initializer = AdoptedValue(value)
    layer._variables.append(var)
    store = getattr(layer, "_init_store", None)
    if store is not None:  # made in ``build``: the layer's initial weights are being drawn now
        store[0 if var._trainable else 1][var._key] = value
    else:  # made in ``__init__``: placed when the layer is built
        layer._early_variables = [*getattr(layer, "_early_variables", []), var]
    return var


def resolve(layer, items) -> list:
    """The weights of ``layer`` that ``items`` name (views, or the ``K.variable`` objects that
    were adopted), for Keras 1/2's ``self.trainable_weights = [...]``."""
    mapped = layer.__dict__.get("_adopted_backend", {})
    out = []
    for item in items:
        if id(item) in mapped:
            item = mapped[id(item)][1]
        elif is_adoptable(item):
            item = adopt(layer, item)
        if not isinstance(item, Variable) or item._layer is not layer:
            raise ValueError(
                f"Layer {layer.name!r}: trainable_weights/non_trainable_weights can only list "
                f"this layer's own variables (made with add_weight, keras.Variable or "
                f"K.variable and set as its attributes); received {item!r}."
            )
        out.append(item)
    return out


def set_trainable(layer, items, trainable: bool) -> None:
    """Keras 1/2's ``self.trainable_weights = [...]`` (or ``non_trainable_weights``): marks
    the listed variables, which must not have weights yet (set it in ``build``)."""
    for var in resolve(layer, items):
        if var._trainable == trainable:
            continue
        store = getattr(layer, "_init_store", None)
        if store is not None and var._key in store[1 if trainable else 0]:
            store[0 if trainable else 1][var._key] = store[1 if trainable else 0].pop(var._key)
        elif layer._has_weights():
            raise ValueError(
                f"Layer {layer.name!r} is built: variable {var.name!r} cannot change between "
                "trainable and non-trainable weights now. Create it with the trainable flag it "
                "needs (add_weight(..., trainable=False))."
            )
        var.trainable = trainable
