"""Small ``keras.utils`` helpers: data packing, symbolic-tensor checks, ``Config``,
``clear_session``, ``standardize_dtype`` and the interactive-logging switches.

>>> from lamina.utils import pack_x_y_sample_weight, unpack_x_y_sample_weight
>>> unpack_x_y_sample_weight(pack_x_y_sample_weight([1], [2]))
([1], [2], None)
"""

from __future__ import annotations

import copy
import difflib
import gc
import json

import numpy as np  # noqa: F401 - the examples use it

from lamina.config import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)

__all__ = [
    "Config",
    "clear_session",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_source_inputs",
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "pack_x_y_sample_weight",
    "standardize_dtype",
    "unpack_x_y_sample_weight",
]


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Packs ``x``, ``y`` and ``sample_weight`` as ``fit`` expects a batch (Keras's rules).

    >>> pack_x_y_sample_weight(1), pack_x_y_sample_weight([1]), pack_x_y_sample_weight(1, 2)
    (1, ([1],), (1, 2))
    """
    if y is None:
        return x if not isinstance(x, tuple | list) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``.

    Raises:
        ValueError: for a tuple of another length.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) in (1, 2, 3):
        return (*data, *([None] * (3 - len(data))))
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found: {data}"
    )


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic ``KerasTensor`` (from ``lamina.Input`` or a layer call).

    >>> import lamina
    >>> is_keras_tensor(lamina.Input((3,))), is_keras_tensor(np.ones(3))
    (True, False)
    """
    from lamina.layers.symbolic import KerasTensor

    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The ``Input`` tensors a symbolic tensor was computed from (a list; Keras's order).

    >>> import lamina
    >>> a = lamina.Input((3,))
    >>> get_source_inputs(lamina.layers.Dense(2)(a))[0] is a
    True
    """
    history = getattr(tensor, "_keras_history", None)
    if not history:
        return tensor
    layer, node_index, _ = history
    nodes = getattr(layer, "_inbound_nodes", None)
    if not layer or not nodes:
        return [tensor]
    node = nodes[node_index]
    if node.is_input:
        from lamina import tree

        return tree.flatten(node.output_tensors)
    sources: list = []
    for t in node.input_tensors:
        for x in get_source_inputs(t):
            if all(x is not s for s in sources):
                sources.append(x)
    return sources


_ALLOWED_DTYPES = (
    "float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
    "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2",
    "complex64", "complex128",
)  # fmt: skip
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32",
                  complex: "complex64"}  # fmt: skip


def standardize_dtype(dtype) -> str:
    """Keras's canonical dtype name (JAX backend rules: ``int`` is ``"int32"``); ``None``
    gives ``floatx()``.

    Raises:
        ValueError: for a dtype Keras does not know.

    >>> standardize_dtype(np.float32), standardize_dtype(int), standardize_dtype(None)
    ('float32', 'int32', 'float32')
    """
    from lamina.backend.config import floatx

    if dtype is None:
        return floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype) if isinstance(dtype, str | type) else dtype
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "jax.numpy" in str(dtype) or "torch" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def clear_session(free_memory=True) -> None:
    """Resets Lamina's global state as Keras's ``clear_session`` does: automatic layer names
    restart (``dense``, ``dense_1``, ...), the global dtype policy and the ``lamina.config``
    switches (interactive logging, traceback filtering, flash attention, unsafe
    deserialization) go back to their defaults, and with ``free_memory`` Python's garbage
    collector runs.  ``floatx``/``epsilon`` and compiled programs are kept.

    >>> clear_session()
    """
    from lamina._naming import reset_uids
    from lamina.config import reset_global_state

    reset_uids()
    reset_global_state()
    try:
        from lamina import dtype_policies
    except ImportError:
        dtype_policies = None  # type: ignore[assignment]
    reset = getattr(dtype_policies, "reset", None)
    if reset is not None:
        reset()
    if free_memory:
        gc.collect()


class Config:
    """A dict-like container with attribute access that can be frozen (``keras.utils.Config``).

    >>> config = Config(learning_rate=0.1)
    >>> config.momentum = 0.9
    >>> config.freeze()
    >>> config.as_dict()
    {'learning_rate': 0.1, 'momentum': 0.9}
    """

    __attrs__: set | None = None

    def __init__(self, **kwargs):
        self._config = kwargs
        self._frozen = False
        self.__attrs__ = set(dir(self))

    @property
    def frozen(self) -> bool:
        """Whether the config refuses changes."""
        return self._frozen

    def freeze(self):
        """Makes the config read-only."""
        self._frozen = True

    def unfreeze(self):
        """Makes the config writable again."""
        self._frozen = False

    def _raise_if_frozen(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self) -> dict:
        return copy.copy(self._config)

    def to_json(self) -> str:
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._raise_if_frozen()
        return self._config.update(*args, **kwargs)

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def __setattr__(self, name, value):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__setattr__(self, name, value)
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__getattribute__(self, name)
        if name in self._config:
            return self._config[name]
        msg = f"Unknown attribute: '{name}'."
        close = difflib.get_close_matches(name, self._config.keys(), n=1, cutoff=0.7)
        if close:
            msg += f" Did you mean '{close[0]}'?"
        raise AttributeError(msg)

    def __setitem__(self, key, item):
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key):
        return self._config[key]

    def __repr__(self):
        return f"<Config {self._config}>"

    def __iter__(self):
        yield from sorted(self._config.keys())

    def __len__(self):
        return len(self._config)

    def __delitem__(self, key):
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item):
        return item in self._config
