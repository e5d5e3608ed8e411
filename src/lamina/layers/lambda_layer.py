"""``Lambda``: wraps a function of arrays as a layer, as ``keras.layers.Lambda``.

The function runs inside the compiled step like any layer's ``apply``; write it with
``lamina.ops`` or ``jax.numpy``.  Saved configs hold a Python lambda as marshalled bytecode
(Keras's ``__lambda__`` form) and a named function by name.  Loading a Python lambda runs code
from the file, so it is refused unless ``safe_mode=False`` (with Keras's message).

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

from lamina.layers.base import Layer

_SAFE = threading.local()

LAMBDA_UNSAFE_MESSAGE = (
    "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
    "This carries a potential risk of arbitrary code execution and thus it is disallowed by "
    "default. If you trust the source of the artifact, you can override this error by passing "
    "`safe_mode=False` to the loading function, or calling "
    "`keras.config.enable_unsafe_deserialization()."
)


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

        with jax.numpy_rank_promotion("allow"):  # Keras code broadcasts like NumPy
            return self.function(x, **kwargs), state

    def compute_mask(self, x, mask):
        if callable(self.mask):
            return self.mask(x, mask)
        return self.mask if self.mask is not None else mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            from lamina.layers.symbolic import traced_output_shape

            return traced_output_shape(self, input_shape)
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
        config = dict(config)
        config.pop("dtype", None)
        config["function"] = _deserialize_function(config["function"], safe_mode, custom_objects)
        for k in ("output_shape", "mask"):
            v = config.get(k)
            if isinstance(v, dict):
                config[k] = _deserialize_function(v, safe_mode, custom_objects)
            elif isinstance(v, list):
                config[k] = tuple(v)
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


def _deserialize_function(spec, safe_mode, custom_objects):
    if spec.get("class_name") == "__lambda__":
        if safe_mode:
            raise ValueError(LAMBDA_UNSAFE_MESSAGE)
        inner = spec["config"]
        code = marshal.loads(base64.decodebytes(inner["code"].encode("ascii")))  # noqa: S302 - safe_mode=False
        defaults = tuple(inner["defaults"]) if inner.get("defaults") is not None else None
        closure = None
        if inner.get("closure") is not None:
            closure = tuple(types.CellType(v) for v in inner["closure"])
        return types.FunctionType(code, globals(), None, defaults, closure)
    from lamina.object_registry import get_registered_object

    name = spec.get("registered_name") or spec.get("config")
    fn = get_registered_object(name, custom_objects) or get_registered_object(
        spec.get("config"), custom_objects
    )
    if fn is None:
        from lamina import activations, ops

        fn = getattr(ops, str(spec.get("config")), None) or getattr(
            activations, str(spec.get("config")), None
        )
    if fn is None:
        raise ValueError(
            f"Could not find the function {spec.get('config')!r} of a Lambda layer: pass it in "
            "custom_objects={name: function} or register it with "
            "lamina.saving.register_keras_serializable()."
        )
    return fn
