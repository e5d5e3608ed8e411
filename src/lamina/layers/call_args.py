"""How a layer call's arguments are read, as Keras reads them: the inputs as the first
argument (or by the name of ``call``'s first parameter), further positional arguments by the
names of Keras's ``call`` (``lstm(x, [h, c])`` is ``initial_state=[h, c]``), and array-likes
converted to JAX arrays (float64 to float32, Keras's default float).

>>> import numpy as np
>>> from lamina.layers.call_args import as_array, is_tensor
>>> as_array(np.ones(2)).dtype
dtype('float32')
>>> is_tensor(np.ones(2)), is_tensor(True)
(True, False)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers.variables import Variable


def first_call_argument(layer):
    """The name of the first parameter of ``layer.call`` (its inputs), or None."""
    import inspect

    try:
        params = list(inspect.signature(layer.call).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return params[0].name if params and params[0].kind in positional else None


def named_call_args(layer, args, kwargs):
    """``layer(x, a, b)`` as ``layer(x, name_a=a, name_b=b)`` with Keras's ``call`` names."""
    names = layer._keras_call_args
    if len(args) - 1 > len(names):
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) takes at most {len(names) + 1} "
            f"positional arguments (inputs, {', '.join(names)}); received {len(args)}."
        )
    kwargs = dict(kwargs)
    for name, value in zip(names, args[1:]):
        if name in kwargs:
            raise TypeError(f"Layer {layer.name!r} got multiple values for argument {name!r}.")
        kwargs[name] = value
    return args[:1], kwargs


def is_tensor(v) -> bool:
    """A KerasTensor or an array (not a Python flag or None) passed positionally."""
    return type(v).__name__ == "KerasTensor" or isinstance(v, jax.Array | np.ndarray | Variable)


def as_array(v):
    """An input as a JAX array: a variable's value; NumPy float64 as float32, as Keras."""
    if isinstance(v, Variable):
        return v.value
    if isinstance(v, jax.Array):
        return v
    arr = np.asarray(v)
    if arr.dtype == object:  # pandas' mixed bool/float ``df.values``: converted as fit does
        from lamina.data.arrays import to_numpy

        arr = to_numpy(arr, "The input of a layer")
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return jnp.asarray(arr)


def call_training_default(layer):
    """The ``training`` default of a user-written ``call`` (``def call(self, x,
    training=True)``), or None (a built-in layer, no such parameter, or no boolean default).

    Keras runs a call made without ``training`` (and outside any other call) with that
    default: keras.io's Real NVP maps data to the latent space with ``model(x)``.
    """
    import inspect

    call = getattr(type(layer), "call", None)
    if call is None or getattr(call, "__module__", "lamina").startswith("lamina"):
        return None
    try:
        param = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return None
    default = None if param is None else param.default
    return default if isinstance(default, bool) else None


def default_training(layer):
    """A layer's ``training`` in a call made without one: None for a layer resolving it
    inside (a functional model's graph, a ``Sequential``; a user ``call``, given its own
    default, whose sub-layers resolve theirs), else the layer's default flag.

    >>> from lamina.layers import Dropout, RandomFlip
    >>> default_training(Dropout(0.5)), default_training(RandomFlip())
    (False, True)
    """
    if getattr(layer, "_is_model", False):
        # a graph, or a ``Sequential``'s stack: each of its layers resolves its own
        runs_layers = getattr(layer, "_nodes", None) is not None or hasattr(layer, "add")
        return None if runs_layers and call_training_default(layer) is None else (
            layer._eager_training_default()
        )
    if getattr(layer, "_traced", False):
        return None
    return layer._eager_training_default()
