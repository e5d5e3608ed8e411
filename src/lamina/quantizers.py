"""``lamina.quantizers`` stands for ``keras.quantizers``: the abs-max int8 quantizer behind
``model.quantize("int8")`` (:mod:`lamina.layers.quantized`).

``abs_max_quantize(x, axis)`` scales ``x`` so that its largest magnitude along ``axis`` maps to
127, rounds (half to even) and clips to ``[-127, 127]``; it returns the int8 values and the
scale (``x ≈ q / scale``).  ``model.quantize("int4")``'s helpers (``pack_int4``,
``unpack_int4``, ``abs_max_quantize_grouped_with_zero_point``, ``dequantize_with_sz_map``,
``Int4QuantizationConfig``) live in :mod:`lamina.quantizers_int4`.  Keras's other quantizers
and configs (float8, GPTQ, AWQ) raise ``UnsupportedKerasAPIError``.

>>> import numpy as np
>>> from lamina import quantizers
>>> q, scale = quantizers.abs_max_quantize(np.array([[1.0, -2.0], [0.5, 0.25]], "float32"), -1)
>>> np.asarray(q).tolist(), np.asarray(scale).round(3).tolist()
([[64, -127], [127, 63]], [[63.5], [254.0]])
>>> quantizers.AbsMaxQuantizer
<class 'lamina.quantizers.AbsMaxQuantizer'>
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina._unsupported import namespace_getattr
from lamina.quantization_configs import Int8QuantizationConfig  # noqa: E402,F401
from lamina.quantizers_int4 import (  # noqa: F401  (keras.quantizers' int4 names)
    Int4QuantizationConfig,
    abs_max_quantize_grouped_with_zero_point,
    dequantize_with_sz_map,
    pack_int4,
    unpack_int4,
)

#: Keras's default epsilon, bound when its quantizers were defined.
EPSILON = 1e-7


def abs_max_quantize(
    inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=EPSILON, to_numpy=False
):
    """Quantizes ``inputs`` with the absolute-maximum scheme (``keras.quantizers``'s).

    Args:
        inputs: the array to quantize.
        axis: the axis (or axes) the maximum is taken over, kept with size 1 in the scale.
        value_range: ``(min, max)`` of the quantized values.
        dtype: the quantized values' dtype.
        epsilon: added to the maximum (an all-zero slice gets a finite scale).
        to_numpy: compute with NumPy on the host (as Keras does for weights).

    Returns:
        ``(quantized, scale)``, with ``inputs ≈ quantized / scale``; the scale has the
        inputs' dtype.

    >>> q, s = abs_max_quantize(np.array([0.0, 0.5, 1.0], "float32"), axis=0)
    >>> np.asarray(q).tolist()
    [0, 63, 127]
    """
    if to_numpy:
        original = np.asarray(inputs).dtype
        x = np.asarray(inputs)
        axis = tuple(axis) if isinstance(axis, list | tuple) else axis
        scale = np.divide(
            value_range[1], np.add(np.max(np.abs(x), axis=axis, keepdims=True), epsilon)
        )
        out = np.clip(np.round(np.multiply(x, scale)), value_range[0], value_range[1])
        return jnp.asarray(out.astype(dtype)), jnp.asarray(scale, dtype=original)
    x = jnp.asarray(inputs)
    axis = tuple(axis) if isinstance(axis, list | tuple) else axis
    scale = jnp.divide(
        value_range[1], jnp.add(jnp.max(jnp.abs(x), axis=axis, keepdims=True), epsilon)
    )
    scale = scale.astype(x.dtype)
    out = jnp.clip(jnp.round(jnp.multiply(x, scale)), value_range[0], value_range[1])
    return out.astype(dtype), scale


class Quantizer:
    """Base class of quantizers (``keras.quantizers.Quantizer``): ``__call__(x)`` returns the
    quantized value; ``get_config``/``from_config`` round-trip it.

    >>> Quantizer().output_dtype
    'int8'
    """

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


class AbsMaxQuantizer(Quantizer):
    """The abs-max quantizer (:func:`abs_max_quantize`) as an object, Keras's default weight
    and activation quantizer of mode ``"int8"``.

    Args:
        axis: the default axis (or axes) of ``__call__``; -1 when None.
        value_range: ``(min, max)`` of the quantized values; within ``[-128, 127]`` for int8.
        epsilon: added to the maximum.
        output_dtype: the quantized values' dtype.

    Raises:
        ValueError: an int8 ``value_range`` outside ``[-128, 127]``.

    >>> q, scale = AbsMaxQuantizer()(np.array([[2.0, -1.0]], "float32"))
    >>> np.asarray(q).tolist()
    [[127, -64]]
    """

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=EPSILON, output_dtype="int8"):
        super().__init__(output_dtype=output_dtype)
        self.axis = None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError(
                "Quantizer with output_dtype='int8' requires value_range to be within the "
                f"interval [-128, 127]. Received: value_range={value_range}"
            )

    def __call__(self, x, axis=None, to_numpy=False):
        if axis is None:
            axis = self.axis if self.axis is not None else -1
        return abs_max_quantize(
            x, axis, self.value_range, self.output_dtype, self.epsilon, to_numpy
        )

    def get_config(self):
        config = {
            "value_range": self.value_range,
            "epsilon": self.epsilon,
            "output_dtype": self.output_dtype,
        }
        if self.axis is not None:
            config["axis"] = self.axis
        return config


_OBJECTS = {"Quantizer": Quantizer, "AbsMaxQuantizer": AbsMaxQuantizer}
_OBJECTS["Int4QuantizationConfig"] = Int4QuantizationConfig
_OBJECTS["Int8QuantizationConfig"] = Int8QuantizationConfig
_OBJECTS.update({"quantizer": Quantizer, "abs_max_quantizer": AbsMaxQuantizer})


def serialize(quantizer) -> dict:
    """The quantizer as Keras serializes it (``{"module", "class_name", "config", ...}``).

    >>> serialize(AbsMaxQuantizer())["class_name"]
    'AbsMaxQuantizer'
    """
    cls = type(quantizer)
    builtin = _OBJECTS.get(cls.__name__) is cls
    return {
        "module": "keras.quantizers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": quantizer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config, custom_objects=None):
    """A quantizer from :func:`serialize`'s dict.

    Raises:
        ValueError: the dict names no quantizer Lamina knows.

    >>> deserialize(serialize(AbsMaxQuantizer(axis=0))).axis
    (0,)
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "A serialized quantizer is a dict with 'class_name' and 'config', e.g. "
            f"{{'class_name': 'AbsMaxQuantizer', 'config': {{}}}}. Received: {config!r}."
        )
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _OBJECTS.get(name)
    if cls is None:
        from lamina.object_registry import get_registered_object

        cls = get_registered_object(config.get("registered_name") or name)
    if cls is None:
        raise ValueError(
            f"Could not interpret quantizer identifier: {name!r}. Lamina knows "
            f"{sorted(k for k in _OBJECTS if k[0].isupper())}; pass custom_objects for others."
        )
    inner = dict(config.get("config") or {})
    if "value_range" in inner and isinstance(inner["value_range"], list):
        inner["value_range"] = tuple(inner["value_range"])
    return cls.from_config(inner)


def get(identifier, **kwargs):
    """A quantizer from None, a name (``"AbsMaxQuantizer"``), a serialized dict or an object.

    Raises:
        ValueError: the identifier names no quantizer.

    >>> type(get("abs_max_quantizer")).__name__
    'AbsMaxQuantizer'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _OBJECTS.get(identifier)
    else:
        obj = identifier
    if isinstance(obj, type):
        return obj(**kwargs)
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret quantizer identifier: {identifier}")


#: Keras 3's names in keras.quantizers that Lamina does not implement.
_KERAS_NAMES = """AWQConfig Float8QuantizationConfig GPTQConfig
    QuantizationConfig
    compute_float8_amax_history compute_float8_scale compute_quantization_parameters
    fake_quant_with_min_max_vars quantize_and_dequantize quantize_with_sz_map"""

__getattr__ = namespace_getattr(
    "quantizers",
    _KERAS_NAMES,
    "Lamina implements model.quantize('int8') with AbsMaxQuantizer (abs_max_quantize) and "
    "model.quantize('int4') (Int4QuantizationConfig, pack_int4); float8/GPTQ/AWQ "
    "quantization and the other configs are not available",
)
