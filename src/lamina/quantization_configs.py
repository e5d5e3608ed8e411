"""Keras 3's quantization configs in a layer's config (``quantization_config``) and
``Int8QuantizationConfig``.

A quantized ``Dense``, ``EinsumDense`` or ``Embedding`` keeps the config it was quantized
with, and its ``get_config`` writes it as Keras does.  A config read back from a file is
rebuilt from an allow-list only (Keras's ``Int8QuantizationConfig`` and
``Int4QuantizationConfig`` with ``AbsMaxQuantizer``\\ s): nothing a file names is imported or
run; any other class is a ``TypeError``, as Keras's for a class it cannot locate.  As in
Keras, an ``Int4QuantizationConfig``'s ``block_size`` wins over the dtype policy's
(:func:`block_size_for`).

>>> config = Int8QuantizationConfig()
>>> config.mode, type(config.activation_quantizer).__name__
('int8', 'AbsMaxQuantizer')
>>> deserialize_config(serialize_config(config)).get_config()["weight_quantizer"] is None
True
"""

from __future__ import annotations

from lamina.quantizers_int4 import EPSILON, Int4QuantizationConfig

#: The ``module`` values Keras writes for its own quantization objects.
_MODULES = (
    None,
    "keras.quantizers",
    "keras.src.quantizers.quantization_config",
    "keras.src.quantizers.quantizers",
)
#: Keras's configs Lamina cannot run (no float8, GPTQ or AWQ layers).
_KERAS_OTHERS = ("QuantizationConfig", "Float8QuantizationConfig", "GPTQConfig", "AWQConfig")


class Int8QuantizationConfig:
    """Keras's int8 settings (``keras.quantizers.Int8QuantizationConfig``), the default ones:
    abs-max weights per output channel and abs-max inputs per token, what mode ``"int8"``
    does.

    Args:
        weight_quantizer: None (Keras's default per-channel abs-max).
        activation_quantizer: ``"default"`` or an ``AbsMaxQuantizer`` with Keras's default
            settings (axis -1, ``value_range=(-127, 127)``, epsilon ``1e-7``).

    Raises:
        ValueError: a weight quantizer whose ``output_dtype`` is not int8 (Keras's check).
        NotImplementedError: other custom quantizers, or weight-only int8
            (``activation_quantizer=None``): Lamina's int8 layers quantize as the default.

    >>> from lamina.quantizers import AbsMaxQuantizer
    >>> Int8QuantizationConfig(activation_quantizer=AbsMaxQuantizer()).mode
    'int8'
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        from lamina.quantizers import AbsMaxQuantizer

        if activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        if weight_quantizer is not None:
            if getattr(weight_quantizer, "output_dtype", None) != "int8":
                raise ValueError(
                    "Int8QuantizationConfig requires a weight_quantizer with "
                    "output_dtype='int8'. Received: "
                    f"output_dtype={getattr(weight_quantizer, 'output_dtype', None)}"
                )
            raise NotImplementedError(
                "Int8QuantizationConfig(weight_quantizer=...) is not supported by Lamina: its "
                "int8 kernels use Keras's default per-channel abs-max quantizer. Received: "
                f"weight_quantizer={weight_quantizer!r}; leave it None."
            )
        if not _is_default_abs_max(activation_quantizer):
            raise NotImplementedError(
                "Int8QuantizationConfig(activation_quantizer=...) other than Keras's default "
                "AbsMaxQuantizer() (per token, value_range=(-127, 127), epsilon=1e-7) is not "
                "supported by Lamina (weight-only int8 neither). Received: "
                f"activation_quantizer={activation_quantizer!r}; leave it 'default'."
            )
        self.weight_quantizer = None
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self) -> str:
        return "int8"

    def get_config(self) -> dict:
        from lamina.quantizers import serialize

        return {
            "weight_quantizer": None,
            "activation_quantizer": serialize(self.activation_quantizer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(
            weight_quantizer=_quantizer(config.get("weight_quantizer")),
            activation_quantizer=_quantizer(config.get("activation_quantizer")),
        )

    def __repr__(self) -> str:
        return "Int8QuantizationConfig()"


_CONFIGS = {
    "Int8QuantizationConfig": Int8QuantizationConfig,
    "Int4QuantizationConfig": Int4QuantizationConfig,
}


def _is_default_abs_max(q) -> bool:
    from lamina.quantizers import AbsMaxQuantizer

    return (
        type(q) is AbsMaxQuantizer
        and q.axis in (None, (-1,))
        and tuple(q.value_range) == (-127, 127)
        and q.epsilon == EPSILON
        and q.output_dtype == "int8"
    )


def serialize_config(config):
    """The config as Keras writes it in a layer's ``quantization_config`` (None stays None).

    >>> serialize_config(Int4QuantizationConfig(block_size=-1))["class_name"]
    'Int4QuantizationConfig'
    """
    if config is None:
        return None
    return {
        "module": "keras.quantizers",
        "class_name": type(config).__name__,
        "config": config.get_config(),
        "registered_name": None,
    }


def _locate_error(entry) -> TypeError:
    return TypeError(
        f"Could not locate class {entry.get('class_name')!r} for a layer's "
        "quantization_config: Lamina reads only Keras's Int8QuantizationConfig and "
        "Int4QuantizationConfig (with AbsMaxQuantizer), and imports nothing a file names. "
        f"Received: {entry!r}; re-save the model with one of those configs (or none)."
    )


def _quantizer(entry):
    """An ``AbsMaxQuantizer`` from Keras's dict; anything else is a ``TypeError``."""
    from lamina.quantizers import AbsMaxQuantizer

    if entry is None or isinstance(entry, AbsMaxQuantizer):
        return entry
    if (
        not isinstance(entry, dict)
        or entry.get("class_name") != "AbsMaxQuantizer"
        or entry.get("module") not in _MODULES
        or not isinstance(entry.get("config", {}), dict)
    ):
        raise _locate_error(entry if isinstance(entry, dict) else {"class_name": entry})
    inner = dict(entry.get("config") or {})
    unknown = set(inner) - {"axis", "value_range", "epsilon", "output_dtype"}
    if unknown:
        raise TypeError(
            f"AbsMaxQuantizer got unexpected arguments {sorted(unknown)} in a "
            f"quantization_config. Received: {entry!r}; expected axis, value_range, epsilon "
            "and output_dtype."
        )
    if isinstance(inner.get("value_range"), list):
        inner["value_range"] = tuple(inner["value_range"])
    return AbsMaxQuantizer(**inner)


def deserialize_config(entry):
    """A layer's ``quantization_config`` argument as a config object (None stays None).

    Args:
        entry: None, an ``Int8QuantizationConfig``/``Int4QuantizationConfig``, or Keras's
            serialized dict of one.

    Raises:
        TypeError: any other class or value (nothing named is imported).
        NotImplementedError: Keras's float8, GPTQ and AWQ configs.

    >>> deserialize_config({"class_name": "Int4QuantizationConfig",
    ...                     "config": {"block_size": 4}}).block_size
    4
    """
    if entry is None or isinstance(entry, tuple(_CONFIGS.values())):
        return entry
    if not isinstance(entry, dict):
        raise TypeError(
            "A layer's quantization_config must be None, an Int8QuantizationConfig or "
            "Int4QuantizationConfig, or Keras's serialized dict of one. Received: "
            f"{entry!r} (of type {type(entry).__name__})."
        )
    name = entry.get("class_name")
    if name in _KERAS_OTHERS and entry.get("module") in _MODULES:
        raise NotImplementedError(
            f"quantization_config {name} is not supported by Lamina: it implements Keras's "
            "int8 and int4 quantization only. Received: "
            f"{entry!r}; quantize the float model with 'int8' or 'int4'."
        )
    cls = _CONFIGS.get(name)
    inner = entry.get("config", {})
    if cls is None or entry.get("module") not in _MODULES or not isinstance(inner, dict):
        raise _locate_error(entry)
    inner = dict(inner)
    for key in ("weight_quantizer", "activation_quantizer"):
        inner[key] = _quantizer(inner.get(key))
    if cls is Int4QuantizationConfig:
        block = inner.get("block_size")
        if block is not None and (isinstance(block, bool) or not isinstance(block, int)):
            raise TypeError(
                "Int4QuantizationConfig's block_size must be None, -1 or a positive integer. "
                f"Received: block_size={block!r}."
            )
        return cls(inner["weight_quantizer"], inner["activation_quantizer"], block)
    return cls(inner["weight_quantizer"], inner["activation_quantizer"])


def block_size_for(layer):
    """The int4 group size a layer builds and calls with (Keras's
    ``get_block_size_for_layer``): its ``Int4QuantizationConfig``'s, else its dtype
    policy's; None for one scale per output channel."""
    config = layer.__dict__.get("quantization_config")
    if isinstance(config, Int4QuantizationConfig):
        size = config.block_size
    else:
        size = getattr(layer.dtype_policy, "block_size", None)
    return None if size in (None, -1) else size
