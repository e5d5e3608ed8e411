"""``Lambda``: wraps a function of arrays as a layer, as ``keras.layers.Lambda``.

The function runs inside the compiled step like any layer's ``apply``; write it with
``lamina.ops`` or ``jax.numpy``.  Saved configs hold a Python lambda as marshalled bytecode
(Keras's ``__lambda__`` form; Keras 2's ``[code, defaults, closure]``) and a named function by
name.  A named function loads from the registry (``custom_objects``,
``register_keras_serializable``, ``lamina.ops``/``activations``), as in Keras.  Bytecode is
never run, not even with ``safe_mode=False`` (where Keras would run it): the function comes
from ``custom_objects`` under the ``Lambda`` layer's name, or the load is refused.  An
``output_shape`` saved as bytecode is found by tracing the function instead.

>>> import numpy as np
>>> from lamina.layers import Lambda
>>> layer = Lambda(lambda x: x * 2.0)
>>> layer(np.ones((1, 2), "float32")).tolist()
[[2.0, 2.0]]
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import marshal
import threading
import types
from typing import Any

from lamina import random as _random
from lamina.layers.base import Layer

_SAFE = threading.local()

#: Keras's first words for a ``Lambda`` holding a Python lambda (its advice, ``safe_mode=False``,
#: would not help here: see :func:`never_runs_message`).
LAMBDA_UNSAFE_MESSAGE = (
    "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
)


def never_runs_message(layer_name, safe_mode: bool = False) -> str:
    """Why a ``Lambda`` saved with bytecode does not load, and how to load it."""
    return (LAMBDA_UNSAFE_MESSAGE if safe_mode else "") + (
        f"The Lambda layer {layer_name!r} was saved with its function as Python bytecode. "
        "Lamina never runs code from a file, not even with safe_mode=False or "
        "enable_unsafe_deserialization() (Keras would run it): pass the function itself, keyed "
        f"by the layer's name, load_model(path, custom_objects={{{layer_name!r}: my_function}}), "
        "or rebuild the model in Python and load only its weights (model.load_weights)."
    )


def is_code(value: Any, function_type: Any = None) -> bool:
    """Whether a saved ``Lambda`` entry is a function stored as bytecode (Keras 3's
    ``__lambda__`` dict, Keras 2's ``[code, defaults, closure]`` list or code string)."""
    if isinstance(value, dict):
        return value.get("class_name") == "__lambda__"
    if function_type == "lambda":
        return True
    return isinstance(value, list | tuple) and bool(value) and isinstance(value[0], str)


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool):
    """Sets the ``safe_mode`` that ``Lambda.from_config`` sees while loading a model."""
    old = getattr(_SAFE, "value", None)
    _SAFE.value = bool(safe_mode)
    try:
        yield
    finally:
        _SAFE.value = old


class Lambda(Layer):
    """A layer computing ``function(inputs, **arguments)``.

    Args:
        function: the function; it takes the input (an array, or a list of arrays) and may take
            ``mask=`` and ``training=``.
        output_shape: the output shape without the batch dimension, or a function of the input
            shape; found by tracing the function when omitted.
        mask: a mask to return, or a function ``(inputs, mask) -> mask``.
        arguments: extra keyword arguments passed to ``function``.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable function; received {function!r}.")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self.mask = mask
        params = _parameters(function)
        self._fn_takes_mask = "mask" in params
        self._fn_takes_training = "training" in params
        self.uses_mask = self._fn_takes_mask or mask is not None

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        kwargs = dict(self.arguments)
        if self._fn_takes_mask:
            kwargs["mask"] = mask
        if self._fn_takes_training:
            kwargs["training"] = training
        import jax

        with contextlib.ExitStack() as scope:
            if key is not None and self.uses_rng:  # its unseeded draws: fresh at every call
                scope.enter_context(_random.drawing_from(key))
            scope.enter_context(jax.numpy_rank_promotion("allow"))  # Keras code broadcasts
            return self.function(x, **kwargs), state

    def _trace_output_shape(self, input_shape):
        """Traces the function abstractly for its output shape, and learns whether it draws
        unseeded random numbers (Keras 2's ``K.random_normal(shape)`` in a VAE's sampling
        function): such a Lambda then gets a fresh key at every call, training or not, as
        Keras 2 drew fresh numbers at every run of the graph.  A given ``output_shape`` wins
        over a failed trace (the function may need inputs the shapes cannot stand for)."""
        from lamina.layers.symbolic import traced_output_shape

        shape = None
        with _random.counting_draws() as drawn:
            try:
                shape = traced_output_shape(self, input_shape)
            except Exception:  # noqa: BLE001 - rethrown when the shape itself was wanted
                if self._output_shape is None:
                    raise
        self.__dict__["_probed"] = True
        if drawn[0]:
            self.uses_rng = True
            self.rng_in_inference = True
        return shape

    def compute_mask(self, x, mask):
        if callable(self.mask):
            return self.mask(x, mask)
        return self.mask if self.mask is not None else mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None or not self.__dict__.get("_probed"):
            shape = self._trace_output_shape(input_shape)
            if self._output_shape is None:
                return shape
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        first = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return (first, *tuple(self._output_shape))

    def get_config(self):
        config = super().get_config()
        config["function"] = _serialize_function(self.function)
        if self._output_shape is not None:
            out = self._output_shape
            config["output_shape"] = _serialize_function(out) if callable(out) else list(out)
        if self.mask is not None:
            config["mask"] = _serialize_function(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = self.arguments
        return config

    def _spec_key(self):
        # Two Lambdas with the same config but different closures compute different things.
        return ("Lambda", id(self.function), repr(self.arguments), repr(self._output_shape))

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        if safe_mode is None:
            safe_mode = getattr(_SAFE, "value", None)
        if safe_mode is None:  # keras.config.enable_unsafe_deserialization()
            from lamina.config import in_safe_mode

            safe_mode = in_safe_mode()
        safe_mode = safe_mode is not False
        if not isinstance(config, dict):
            raise TypeError(f"Lambda.from_config expects a dict; received {config!r}.")
        config = dict(config)
        config.pop("dtype", None)
        name = config.get("name")
        from lamina.object_registry import supplied_object

        given = supplied_object(name, custom_objects) if isinstance(name, str) else None
        if is_code(config.get("function"), config.pop("function_type", None)):
            if not callable(given):  # bytecode is never run (see the module docstring)
                raise ValueError(never_runs_message(name, safe_mode))
            config["function"] = given
        else:
            config["function"] = _deserialize_function(config.get("function"), custom_objects)
        if is_code(config.get("output_shape"), config.pop("output_shape_type", None)):
            config["output_shape"] = None  # found by tracing the function
        elif isinstance(config.get("output_shape"), dict):
            config["output_shape"] = _deserialize_function(config["output_shape"], custom_objects)
        elif isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        mask = config.get("mask")
        if is_code(mask, config.pop("mask_type", None)):
            raise ValueError(
                f"The Lambda layer {name!r} was saved with a mask function as Python bytecode, "
                "which Lamina never runs: rebuild the model in Python and load only its weights."
            )
        if isinstance(mask, dict):
            config["mask"] = _deserialize_function(mask, custom_objects)
        return cls(**config)


def _parameters(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}


def _serialize_function(fn) -> dict:
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
        closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
        return {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": fn.__defaults__, "closure": closure},
        }
    from lamina.object_registry import get_registered_name

    return {
        "module": getattr(fn, "__module__", None),
        "class_name": "function",
        "config": getattr(fn, "__name__", repr(fn)),
        "registered_name": get_registered_name(fn),
    }


def _deserialize_function(spec, custom_objects):
    """A function saved by name (never bytecode: see :func:`is_code`), from the registry."""
    if isinstance(spec, str):  # Keras 2's plain function name
        spec = {"class_name": "function", "config": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), str):
        raise ValueError(
            f"A Lambda layer's function should be saved as a function name; received {spec!r}."
        )
    from lamina.object_registry import get_registered_object

    name = spec.get("registered_name") or spec.get("config")
    fn = get_registered_object(name, custom_objects) or get_registered_object(
        spec.get("config"), custom_objects
    )
    if fn is None:
        from lamina import activations, ops

        name = str(spec.get("config"))
        # Only the public functions of ``ops``/``activations``: never a submodule, a class or
        # a private helper named by the file.
        found = [getattr(m, name, None) for m in (ops, activations) if not name.startswith("_")]
        fn = next((f for f in found if isinstance(f, types.FunctionType | types.BuiltinFunctionType)), None)
    if fn is None:
        raise ValueError(
            f"Could not find the function {spec.get('config')!r} of a Lambda layer: pass it in "
            "custom_objects={name: function} or register it with "
            "lamina.saving.register_keras_serializable()."
        )
    return fn
