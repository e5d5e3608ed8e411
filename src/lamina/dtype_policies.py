"""Dtype policies (``keras.dtype_policies``): the dtype a layer computes in and the dtype of its
weights.

A policy named after a float dtype (``"float32"``, ``"bfloat16"``) computes in that dtype;
``"mixed_float16"`` and ``"mixed_bfloat16"`` compute in float16/bfloat16 and keep the weights in
float32 (mixed precision).  Every layer has one: its ``dtype=`` argument (a name or a policy), or
the global policy (:func:`set_dtype_policy`) when the layer was made.

The engine applies it where layers run (``lamina.training.autocast.policy_apply``): floating inputs and weights are
cast to the compute dtype, floating outputs come out in it, and non-trainable state keeps its
own dtype.  A float32 policy on float32 data adds no operation to the compiled program.

>>> from lamina import dtype_policies
>>> policy = dtype_policies.get("mixed_bfloat16")
>>> policy.compute_dtype, policy.variable_dtype
('bfloat16', 'float32')
>>> dtype_policies.serialize(policy)["config"]
{'name': 'mixed_bfloat16'}
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina.global_dtype_policy import dtype_policy, set_dtype_policy
from lamina.global_dtype_policy import reset as reset  # clear_session calls dtype_policies.reset

__all__ = [
    "DTypePolicy",
    "FloatDTypePolicy",
    "DTypePolicyMap",
    "get",
    "serialize",
    "deserialize",
    "dtype_policy",
    "set_dtype_policy",
]

_FLOATS = ("float16", "bfloat16", "float32", "float64")

#: The dtypes a policy (a layer's compute and weight dtype) may name: Keras 3's
#: ``ALLOWED_DTYPES`` less ``"string"`` (no layer computes in strings).  Anything else a
#: NumPy dtype string can spell (``"object"``, ``"V8"``, ``"S5"``, ``"datetime64"``,
#: ``"(2,)f4"``) is refused, as Keras's ``standardize_dtype`` refuses it.
NUMERIC_DTYPES = (
    "float16", "float32", "float64", "bfloat16", "uint8", "uint16", "uint32", "uint64",
    "int8", "int16", "int32", "int64", "bool", "float8_e4m3fn", "float8_e5m2", "complex64",
    "complex128",
)  # fmt: skip


def _standardize(name) -> str:
    if name == "bfloat16" or name is jnp.bfloat16:
        return "bfloat16"
    try:
        dtype = str(np.dtype(name).name)
    except (TypeError, ValueError, SyntaxError, RecursionError):
        dtype = None
    if dtype not in NUMERIC_DTYPES:
        raise ValueError(
            f"Invalid dtype: {name!r}. Expected one of {', '.join(NUMERIC_DTYPES)}."
        )
    return dtype


class DTypePolicy:
    """A layer's dtype policy: the dtype it computes in and the dtype of its weights.

    Args:
        name: ``"mixed_float16"``, ``"mixed_bfloat16"`` (compute in 16 bits, float32 weights),
            or a dtype name such as ``"float32"`` (both dtypes); ``None``: the global policy.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is neither a mixed policy nor a dtype.

    >>> p = DTypePolicy("mixed_float16")
    >>> p
    <DTypePolicy "mixed_float16">
    >>> p.compute_dtype, p.variable_dtype
    ('float16', 'float32')
    """

    def __init__(self, name: str | None = None):
        if name is None:
            name = dtype_policy().name
        self._name = name
        self._compute_dtype, self._variable_dtype = self._parse_name(name)
        self._quantization_mode = None

    @staticmethod
    def _parse_name(name):
        if not isinstance(name, str):
            raise TypeError(
                "'name' must be a string, such as 'mixed_float16'. "
                f"Received: name={name} (of type {type(name)})"
            )
        if name == "mixed_float16":
            return "float16", "float32"
        if name == "mixed_bfloat16":
            return "bfloat16", "float32"
        try:
            dtype = _standardize(name)
        except ValueError:
            dtype = None
        if dtype is None:
            raise ValueError(
                f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid policies "
                "include 'mixed_float16', 'mixed_bfloat16', and the name of a numeric dtype "
                f"({', '.join(NUMERIC_DTYPES)})."
            )
        return dtype, dtype

    @property
    def name(self) -> str:
        """The policy's name, e.g. ``"mixed_bfloat16"``."""
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers cast their floating inputs and weights to, and compute in."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights."""
        return self._variable_dtype

    @property
    def quantization_mode(self):
        """``None``: not quantized (see :class:`QuantizedDTypePolicy`)."""
        return self._quantization_mode

    def convert_input(self, x, autocast: bool, dtype):
        """``x`` with floating arrays cast to ``dtype`` when ``autocast`` (others unchanged)."""
        if not autocast or not hasattr(x, "dtype"):
            return x
        from lamina.training.autocast import cast_floats

        return cast_floats(jnp.asarray(x), _standardize(dtype))

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        if not isinstance(other, DTypePolicy) or isinstance(other, DTypePolicyMap):
            return False
        return self._name == other._name

    def __hash__(self) -> int:
        return hash(("DTypePolicy", self._name))


class FloatDTypePolicy(DTypePolicy):
    """An alias of :class:`DTypePolicy` (Keras keeps the name for old code)."""


class DTypePolicyMap(DTypePolicy):
    """A dict from layer paths to policies with a default (``keras.dtype_policies.DTypePolicyMap``).

    Lamina's layers have no paths, so a layer given a map uses its ``default_policy``; the map
    round-trips through configs.

    Args:
        default_policy: the policy of paths not in the map; ``None``: the global policy.
        policy_map: ``{path: policy}``.

    >>> m = DTypePolicyMap("mixed_bfloat16", {"dense": "float32"})
    >>> m["dense"].name, m["other"].name
    ('float32', 'mixed_bfloat16')
    """

    def __init__(self, default_policy=None, policy_map=None):
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy)
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError(
                "DTypePolicyMap's `policy_map` must be a dict of {layer path: policy}. "
                f"Received: policy_map={policy_map!r} (of type {type(policy_map).__name__})"
            )
        self._policy_map = dict(policy_map or {})
        for key, policy in self._policy_map.items():  # refused now, not when first read
            if not isinstance(key, str):
                raise TypeError(
                    f"DTypePolicyMap's keys must be layer paths (strings). Received: {key!r}"
                )
            get(policy)
        self._name = self._default_policy.name
        self._compute_dtype = self._default_policy.compute_dtype
        self._variable_dtype = self._default_policy.variable_dtype
        self._quantization_mode = None

    @property
    def default_policy(self) -> DTypePolicy:
        return self._default_policy

    def __getitem__(self, key) -> DTypePolicy:
        return get(self._policy_map[key]) if key in self._policy_map else self._default_policy

    def __setitem__(self, key, policy) -> None:
        self._policy_map[key] = policy

    def __delitem__(self, key) -> None:
        del self._policy_map[key]

    def __contains__(self, key) -> bool:
        return key in self._policy_map

    def __len__(self) -> int:
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def get_config(self) -> dict:
        arg = self._default_policy_arg
        return {  # as Keras: the default as it was given, the map's policies serialized
            "default_policy": serialize(arg) if isinstance(arg, DTypePolicy) else arg,
            "policy_map": {
                k: serialize(v) if isinstance(v, DTypePolicy) else v
                for k, v in self._policy_map.items()
            },
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        policy_map = {
            k: deserialize(v) if isinstance(v, dict) else v
            for k, v in (config.get("policy_map") or {}).items()
        }
        default = config.get("default_policy")
        return cls(deserialize(default) if isinstance(default, dict) else default, policy_map)

    def __repr__(self) -> str:
        return f'<DTypePolicyMap "{self._name}" with {len(self)} entries>'

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, DTypePolicyMap)
            and self._default_policy == other._default_policy
            and {k: get(v) for k, v in self._policy_map.items()}
            == {k: get(v) for k, v in other._policy_map.items()}
        )

    def __hash__(self) -> int:
        return hash(("DTypePolicyMap", self._name, tuple(sorted(self._policy_map))))


_CLASSES = {
    "DTypePolicy": DTypePolicy,
    "FloatDTypePolicy": FloatDTypePolicy,
    "DTypePolicyMap": DTypePolicyMap,
    "Policy": DTypePolicy,  # tf.keras 2's mixed_precision.Policy in old files
}


def serialize(policy: DTypePolicy) -> dict:
    """The policy as Keras writes it in a layer config (``{"module", "class_name", ...}``).

    >>> serialize(DTypePolicy("float32"))["class_name"]
    'DTypePolicy'
    """
    if not isinstance(policy, DTypePolicy):
        raise TypeError(
            f"serialize() expects a DTypePolicy, e.g. DTypePolicy('mixed_float16'). "
            f"Received: {policy!r} (of type {type(policy).__name__})."
        )
    name = type(policy).__name__
    return {
        "module": "keras" if name in ("DTypePolicy", "FloatDTypePolicy") else "keras.dtype_policies",
        "class_name": name,
        "config": policy.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects: dict | None = None) -> DTypePolicy:
    """Inverse of :func:`serialize`; also reads a bare name (``"mixed_float16"``) and tf.keras 2's
    ``{"class_name": "Policy", ...}``.

    >>> deserialize({"class_name": "DTypePolicy", "config": {"name": "mixed_bfloat16"}}).name
    'mixed_bfloat16'
    """
    if config is None or isinstance(config, str):
        return get(config)
    if isinstance(config, DTypePolicy):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "A serialized dtype policy is a dict with 'class_name' and 'config', e.g. "
            "{'class_name': 'DTypePolicy', 'config': {'name': 'mixed_float16'}}. "
            f"Received: {config!r}."
        )
    name = config["class_name"]
    if not isinstance(name, str):
        raise TypeError(f"A dtype policy's 'class_name' must be a string. Received: {name!r}.")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None and name in ("QuantizedDTypePolicy", "Int4DTypePolicy"):
        from lamina import quantized_policy

        cls = getattr(quantized_policy, name)
    if cls is None:
        raise ValueError(
            f"Unknown dtype policy class {name!r}. Lamina knows {sorted(_CLASSES)} "
            "(of the quantized policies, QuantizedDTypePolicy in mode 'int8' and "
            "Int4DTypePolicy)."
        )
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(
            f"A serialized {name}'s 'config' must be a dict such as {{'name': 'float32'}}. "
            f"Received: {inner!r}."
        )
    inner = dict(inner)
    if name == "Policy":  # tf.keras 2: {"name": ...}, sometimes a nested loss scale
        inner = {"name": inner.get("name")}
    if cls in (DTypePolicy, FloatDTypePolicy) and set(inner) - {"name"}:
        raise ValueError(
            f"A serialized {name}'s 'config' holds only 'name'. Received: {inner!r}."
        )
    return cls.from_config(inner)


def get(identifier) -> DTypePolicy:
    """A policy from ``None`` (the global one), a name, a serialized dict, a numpy/JAX dtype or
    a policy.

    Raises:
        ValueError: the identifier names no policy.

    >>> get("mixed_float16").compute_dtype
    'float16'
    >>> get(None).name
    'float32'
    """
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if "_from_" in identifier:  # "int8_from_float32": a quantized layer's policy
            from lamina.quantized_policy import from_name

            return from_name(identifier) or DTypePolicy(identifier)
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(_standardize(identifier))
    except (TypeError, ValueError):
        raise ValueError(
            "Cannot interpret `dtype` argument. Expected a string (e.g. 'mixed_bfloat16') or "
            f"an instance of DTypePolicy. Received: dtype={identifier!r}"
        ) from None


from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

_unsupported_getattr = _module_getattr("dtype_policies", globals())


def __getattr__(name: str):
    # QuantizedDTypePolicy subclasses DTypePolicy in its own module (lamina.quantized_policy);
    # the other quantized policies raise a clear error.
    if name in ("QuantizedDTypePolicy", "Int4DTypePolicy"):
        from lamina import quantized_policy

        return getattr(quantized_policy, name)
    return _unsupported_getattr(name)
