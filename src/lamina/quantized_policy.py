"""Keras 3's quantized dtype policy (``keras.dtype_policies.QuantizedDTypePolicy``).

A layer quantized with ``model.quantize("int8")`` (:mod:`lamina.layers.quantized`) carries the
policy ``"int8_from_<source>"``: it computes in the source policy's compute dtype and its
kernel is stored as int8 with a float scale.  Lamina quantizes in mode ``"int8"``; Keras's
other modes (``"int4"``, ``"float8"``, ``"gptq"``, ``"awq"``) raise an error naming them.

>>> from lamina import dtype_policies
>>> policy = dtype_policies.get("int8_from_mixed_bfloat16")
>>> policy, policy.quantization_mode, policy.compute_dtype, policy.variable_dtype
(<QuantizedDTypePolicy "int8_from_mixed_bfloat16">, 'int8', 'bfloat16', 'float32')
>>> dtype_policies.serialize(policy)["config"]
{'mode': 'int8', 'source_name': 'mixed_bfloat16'}
"""

from __future__ import annotations

from lamina.dtype_policies import DTypePolicy, dtype_policy

#: Keras 3.15's quantization modes, in its order (its error messages list them so).
QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")
#: The modes Lamina implements.
SUPPORTED_MODES = ("int8", "int4")


def check_mode(mode) -> None:
    """Raises Keras's ``ValueError`` for a mode Keras does not know, and
    ``NotImplementedError`` naming a Keras mode Lamina does not implement."""
    if mode not in QUANTIZATION_MODES:
        raise ValueError(
            f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. "
            f"Received: mode={mode}"
        )
    if mode not in SUPPORTED_MODES:
        raise NotImplementedError(
            f"Quantization mode={mode!r} is not supported by Lamina: it implements Keras's "
            f"modes 'int8' and 'int4' (integer kernels with float scales). Received: "
            f"mode={mode!r}; use model.quantize('int8') or model.quantize('int4')."
        )


class QuantizedDTypePolicy(DTypePolicy):
    """The policy of a quantized layer: ``"<mode>_from_<source policy name>"``.

    Args:
        mode: the quantization mode; Lamina implements ``"int8"``.
        source_name: the policy the layer had before quantization (its compute dtype stays);
            the global policy's name when None.

    Raises:
        ValueError: an unknown mode, or ``"int8"`` with a float16 compute dtype (Keras's check).
        NotImplementedError: a Keras mode Lamina does not implement.

    >>> QuantizedDTypePolicy("int8", "float32").name
    'int8_from_float32'
    """

    def __init__(self, mode, source_name=None):
        if source_name is None:
            source_name = dtype_policy().name
        self._compute_dtype, self._variable_dtype = self._parse_name(source_name)
        check_mode(mode)
        if self._compute_dtype == "float16" and mode == "int8":
            raise ValueError(
                f"Quantization mode='{mode}' doesn't work well with compute_dtype='float16'."
            )
        self._name = f"{mode}_from_{source_name}"
        self._source_name = source_name
        self._quantization_mode = mode

    @property
    def quantization_mode(self):
        """The mode (``"int8"``)."""
        return self._quantization_mode

    def get_config(self) -> dict:
        return {"mode": self._quantization_mode, "source_name": self._source_name}

    def __repr__(self) -> str:
        return f'<QuantizedDTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, QuantizedDTypePolicy) and self._name == other._name

    def __hash__(self) -> int:
        return hash(("QuantizedDTypePolicy", self._name))


def from_name(name: str):
    """The policy a name like ``"int8_from_float32"`` names, or None for other names."""
    if not name.startswith(QUANTIZATION_MODES):
        return None
    parts = name.split("_from_")
    if len(parts) != 2:
        raise ValueError(
            "Cannot convert `policy` into a valid pair (`mode`, `source_name`) to instantiate "
            f"`QuantizedDTypePolicy`. Received: policy={name}"
        )
    if parts[0].startswith("int4/"):  # "int4/128_from_float32": Keras's Int4DTypePolicy
        return Int4DTypePolicy(*parts)
    return QuantizedDTypePolicy(*parts)


class Int4DTypePolicy(QuantizedDTypePolicy):
    """The policy of an int4-quantized layer, ``"int4/<block_size>_from_<source>"``
    (``keras.dtype_policies.Int4DTypePolicy``): ``block_size`` rows per quantization group,
    -1 for one scale per output channel.

    Args:
        mode: ``"int4/<block_size>"``.
        source_name: the policy the layer had before quantization.

    Raises:
        ValueError: a mode not of that form, or a block size of 0 or below -1.

    >>> policy = Int4DTypePolicy("int4/128", "float32")
    >>> policy.name, policy.quantization_mode, policy.block_size, policy.get_config()
    ('int4/128_from_float32', 'int4', 128, {'mode': 'int4/128', 'source_name': 'float32'})
    """

    def __init__(self, mode, source_name=None):
        parts = str(mode).split("/")
        expected = "'int4/<block_size>'"
        if len(parts) != 2 or parts[0] != "int4":
            raise ValueError(
                f"Invalid mode for Int4DTypePolicy. Expected format {expected}, but got '{mode}'."
            )
        try:
            block_size = int(parts[1])
        except ValueError:
            raise ValueError(
                "Invalid mode for Int4DTypePolicy. <block_size> must be an integer. "
                f"Expected format {expected}, but got '{mode}'."
            ) from None
        if block_size < -1 or block_size == 0:
            raise ValueError(
                "Invalid block_size in mode. Supported values are -1 (per-channel) or a "
                f"positive integer (sub-channel), but got {block_size} from '{mode}'."
            )
        super().__init__("int4", source_name)
        self._name = f"{mode}_from_{self._source_name}"
        self.mode = "int4"
        self.block_size = block_size

    def get_config(self) -> dict:
        return {"mode": f"int4/{self.block_size}", "source_name": self._source_name}

    def __repr__(self) -> str:
        return f'<Int4DTypePolicy "{self._name}">'
