"""Graph operations as Keras 3 saves them: ``x + 3.0`` in a functional model is an ``Add`` op.

Keras writes an operation applied to symbolic tensors as a layer entry of the functional
config whose ``module`` is ``keras.src.ops.<group>``; its ``config`` holds the op class's
constructor arguments and its single inbound node the call arguments (tensors, constants,
``__slice__``/``__ellipsis__`` for indexing). This module knows, from the plain table in
:mod:`lamina.layers.op_table`, which ``lamina.ops`` function each supported Keras op class is:

* :func:`identify` gives a recorded ``TensorOp`` its Keras identity (class, config, call args);
* :func:`encode_value` / :func:`decode_value` write and read node arguments as Keras does;
* :func:`op_from_entry` turns a model file's op entry back into a callable that records the
  same ``TensorOp``. It never imports the module a file names: an entry whose class is not in
  the table is refused.

>>> spec = op_for_function("mean")
>>> spec.module, spec.class_name, spec.config
('keras.src.ops.numpy', 'Mean', ('axis', 'keepdims'))
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
from typing import Any

import jax
import numpy as np

from lamina.layers.op_table import ALIASES, DATA_FORMAT, FLOATX_DTYPE, LOWER_CASE, OPS
from lamina.layers.symbolic import KerasTensor

_PREFIX = "keras.src.ops."
_EMPTY = inspect.Parameter.empty


# Dataclasses, not tuples: a layer's attributes are walked with vars() (host-side init checks).
@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One supported Keras op class: its module and name, and its ``lamina.ops`` function."""

    module: str  # "keras.src.ops.numpy"
    class_name: str  # "Mean"
    function: str  # "mean"
    group: str  # "numpy": the lamina.ops submodule holding the function
    signature: inspect.Signature  # Keras's op function signature
    config: tuple[str, ...]  # the constructor's parameters
    call_kwargs: tuple[str, ...]  # call parameters Keras passes by keyword


@dataclasses.dataclass
class KerasOp:
    """A recorded op call in Keras's terms: constructor config and call arguments."""

    spec: OpSpec
    config: dict
    args: list
    kwargs: dict


def _parse(group: str, class_name: str, text: str) -> OpSpec:
    function, params = re.fullmatch(r"(\w+)\((.*)\)", text).groups()
    tree = ast.parse(f"def f({params.replace('@', '').replace('~', '')}): pass")
    spec = tree.body[0].args
    P = inspect.Parameter  # noqa: N806 - the class, as inspect names it
    defaults = [_EMPTY] * (len(spec.args) - len(spec.defaults)) + spec.defaults
    out = [
        P(a.arg, P.POSITIONAL_OR_KEYWORD, default=d if d is _EMPTY else ast.literal_eval(d))
        for a, d in zip(spec.args, defaults)
    ]
    if spec.vararg is not None:
        out.append(P(spec.vararg.arg, P.VAR_POSITIONAL))
    for a, d in zip(spec.kwonlyargs, spec.kw_defaults):
        out.append(P(a.arg, P.KEYWORD_ONLY, default=_EMPTY if d is None else ast.literal_eval(d)))
    return OpSpec(
        _PREFIX + group, class_name, function, group, inspect.Signature(out),
        tuple(re.findall(r"@(\w+)", params)), tuple(re.findall(r"~(\w+)", params)),
    )  # fmt: skip


@functools.cache
def _by_class() -> dict[str, OpSpec]:
    return {
        name: _parse(group, name, text) for group, ops in OPS.items() for name, text in ops.items()
    }


@functools.cache
def _by_function() -> dict[str, OpSpec]:
    return {spec.function: spec for spec in _by_class().values()}


def op_for_function(name: str) -> OpSpec | None:
    """The Keras op class of the ``lamina.ops`` function ``name``, or None if it has none.

    Args:
        name: a ``lamina.ops`` function name, e.g. ``"concatenate"`` (aliases such as ``"abs"``
            resolve to their op).

    Returns:
        The :class:`OpSpec`, or None for a function no Keras op class stands for.
    """
    return _by_function().get(ALIASES.get(name, name))


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _is_plain(value) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _normalized(class_name: str, name: str, value):
    """A constructor argument as Keras's op function passes it (see op_table.FLOATX_DTYPE)."""
    from lamina import config

    if name == "dtype":
        if value is None and class_name in FLOATX_DTYPE:
            return config.floatx()
        if value is not None and not isinstance(value, dict):
            from lamina.layers.dtype_names import dtype_name

            return dtype_name(value)
    if name == "data_format" and class_name in DATA_FORMAT:
        return (value or config.image_data_format()).lower()
    if name in LOWER_CASE and isinstance(value, str):
        return value.lower()
    if name == "newshape" and isinstance(value, int):
        return (value,)
    return value


def identify(function: str, args: tuple, kwargs: dict) -> tuple[KerasOp | None, str]:
    """Keras's view of the call ``lamina.ops.<function>(*args, **kwargs)`` on symbolic tensors.

    Args:
        function: the ``lamina.ops`` function name.
        args: its positional arguments (KerasTensors and constants).
        kwargs: its keyword arguments.

    Returns:
        ``(KerasOp, "")``, or ``(None, reason)`` when Keras's format cannot hold the call (no op
        class, or an argument that is not a plain value).
    """
    spec = op_for_function(function)
    if spec is None:
        return None, f"ops.{function} has no Keras op class Lamina can write"
    try:
        bound = spec.signature.bind(*args, **kwargs)
    except TypeError as e:
        return None, f"its arguments do not fit Keras's ops.{spec.function}{spec.signature}: {e}"
    bound.apply_defaults()
    values = bound.arguments
    config = {}
    for name in spec.config:
        value = _normalized(spec.class_name, name, _plain(values[name]))
        if not _is_plain(value):
            return None, (
                f"its argument {name}={value!r} is not a plain value (a number, string, bool, "
                "None or a list of them) that Keras can write in a config"
            )
        config[name] = value
    call_args, call_kwargs = [], {}
    for p in spec.signature.parameters.values():
        if p.name in spec.config:
            continue
        if p.kind == p.VAR_POSITIONAL:
            call_args.extend(values.get(p.name, ()))
        elif p.name in spec.call_kwargs:
            call_kwargs[p.name] = values[p.name]
        else:
            call_args.append(values[p.name])
    try:
        encode_value([call_args, call_kwargs], lambda t: None)
    except TypeError as e:
        return None, str(e)
    return KerasOp(spec, config, call_args, call_kwargs), ""


def encode_value(value, tensor):
    """A node argument in Keras's serialized form.

    Args:
        value: the argument: KerasTensors, Python constants, slices, ``...``, arrays, nested in
            lists, tuples and dicts.
        tensor: encodes one KerasTensor (its ``__keras_tensor__`` dict).

    Returns:
        The JSON-ready value (tuples become lists).

    Raises:
        TypeError: a value Keras's format cannot hold (a function, an arbitrary object).
    """
    if isinstance(value, KerasTensor):
        return tensor(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [encode_value(v, tensor) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v, tensor) for k, v in value.items()}
    if isinstance(value, slice):
        parts = {"start": value.start, "stop": value.stop, "step": value.step}
        return {"class_name": "__slice__", "config": encode_value(parts, tensor)}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | jax.Array):
        from lamina.layers.dtype_names import dtype_name

        array = np.asarray(value)
        if isinstance(value, np.ndarray) and array.ndim == 0:
            return array.item()
        kind = "__numpy__" if isinstance(value, np.ndarray) else "__tensor__"
        return {
            "class_name": kind,
            "config": {"value": array.tolist(), "dtype": dtype_name(array.dtype)},
        }
    raise TypeError(
        f"its argument {value!r} (a {type(value).__name__}) cannot be written in a Keras config; "
        "only tensors, numbers, strings, slices and arrays can"
    )


def decode_value(value, tensor):
    """A node argument read back from Keras's serialized form (the reverse of encode_value).

    Args:
        value: the JSON value from the file.
        tensor: turns one ``__keras_tensor__`` dict into the graph's KerasTensor.

    Returns:
        The argument with tensors, slices, ``...`` and arrays rebuilt; nothing else is
        interpreted (no class named in the file is imported or run).
    """
    if isinstance(value, list | tuple):  # tuples: Keras's in-memory configs (not JSON)
        out = [decode_value(v, tensor) for v in value]
        return tuple(out) if isinstance(value, tuple) else out
    if not isinstance(value, dict):
        return value
    kind = value.get("class_name")
    config = value.get("config") or {}
    if kind == "__keras_tensor__":
        return tensor(value)
    if kind == "__slice__":
        return slice(*(decode_value(config.get(k), tensor) for k in ("start", "stop", "step")))
    if kind == "__ellipsis__":
        return Ellipsis
    if kind in ("__numpy__", "__tensor__"):
        from lamina.object_registry import array_entry

        return array_entry(value)
    return {k: decode_value(v, tensor) for k, v in value.items()}


def is_op_entry(entry: dict) -> bool:
    """Whether a functional config's layer entry is a Keras op (``keras.src.ops.*``)."""
    module = entry.get("module") if isinstance(entry, dict) else None
    return isinstance(module, str) and (
        module.startswith(_PREFIX) or module == "keras.ops" or module.startswith("keras.ops.")
    )


def serialize_op(layer) -> dict:
    """The ``{"module", "class_name", "config", "registered_name"}`` of a recorded op."""
    spec = layer.keras_op.spec if layer.keras_op is not None else None
    config = layer.get_config()  # raises the clear error for an op Keras cannot write
    return {
        "module": spec.module,
        "class_name": spec.class_name,
        "config": config,
        "registered_name": spec.class_name,
    }


def lamina_function(spec: OpSpec):
    """The ``lamina.ops`` function of ``spec``, unwrapped from its symbolic recording."""
    import lamina.ops

    fn = getattr(getattr(lamina.ops, spec.group, lamina.ops), spec.function, None)
    if fn is None:
        fn = getattr(lamina.ops, spec.function)
    return getattr(fn, "__wrapped__", fn) if getattr(fn, "_symbolic_aware", False) else fn


class OpCall:
    """A Keras op entry of a model file; calling it on the node's arguments records the op.

    Args:
        spec: the op's :class:`OpSpec`.
        config: the entry's constructor arguments, without its name.
        name: the op's name in the file (the recorded ``TensorOp``'s name).
    """

    def __init__(self, spec: OpSpec, config: dict, name: str | None):
        self.spec, self.config, self.name = spec, config, name

    def __repr__(self) -> str:
        return f"<OpCall {self.spec.class_name} name={self.name!r}>"

    def __call__(self, *args, **kwargs):
        from lamina.ops._symbolic import record

        spec = self.spec
        params = list(spec.signature.parameters.values())
        args, kwargs, values, rest = list(args), dict(kwargs), {}, []
        for p in params:
            if p.kind == p.VAR_POSITIONAL:
                rest, args = args, []
                continue
            if p.name in spec.config:
                value = self.config.get(p.name, p.default)
            elif p.name in spec.call_kwargs:
                value = kwargs.pop(p.name, p.default)
            else:
                value = args.pop(0) if args else kwargs.pop(p.name, p.default)
            if value is _EMPTY:
                raise ValueError(
                    f"The Keras op {self.name!r} ({spec.class_name}) in the model file has no "
                    f"value for its argument {p.name!r}; the file is incomplete or damaged."
                )
            values[p.name] = value
        if args or kwargs:
            raise ValueError(
                f"The Keras op {self.name!r} ({spec.class_name}) in the model file is called "
                f"with arguments Keras's ops.{spec.function}{spec.signature} does not take: "
                f"{args or ''} {sorted(kwargs) or ''}."
            )
        if spec.class_name == "GetItem" and isinstance(values["key"], list):
            values["key"] = tuple(values["key"])  # JSON has no tuples; Keras reads lists so
        # Before a *varargs parameter arguments go by position; the rest by keyword, defaults
        # left out (a lamina.ops function may lack an argument Keras added, e.g. sparse=).
        positional, keywords = [], {}
        for p in params:
            if p.kind == p.VAR_POSITIONAL:
                positional.extend(rest)
            elif rest and p.kind == p.POSITIONAL_OR_KEYWORD:
                positional.append(values[p.name])
            elif not _is_default(values[p.name], p.default):
                keywords[p.name] = values[p.name]
        return record(
            lamina_function(spec), spec.function, tuple(positional), keywords, layer_name=self.name
        )


def _is_default(value, default) -> bool:
    if default is _EMPTY or not _is_plain(value):
        return False
    return type(value) is type(default) and value == default


def op_from_entry(entry: dict) -> OpCall:
    """The op a model file's ``keras.src.ops`` layer entry stands for, ready to call.

    Args:
        entry: the functional config's layer entry (``module``, ``class_name``, ``config``,
            ``name``).

    Returns:
        An :class:`OpCall` that records the op when called on the entry's node arguments.

    Raises:
        ValueError: the class is not an op Lamina knows, or its config has unknown arguments.
            The module the entry names is never imported.
    """
    class_name = entry.get("class_name")
    spec = _by_class().get(class_name) if isinstance(class_name, str) else None
    if spec is None:
        known = ", ".join(sorted(_by_class())[:8])
        raise ValueError(
            f"The model file holds the operation {class_name!r} of module "
            f"{entry.get('module')!r}, which Lamina cannot rebuild: it reads the Keras op "
            f"classes listed in lamina.layers.op_table.OPS ({known}, ...). Replace the operation "
            "by a layer in the model, or save it from Keras with a supported op."
        )
    config: dict[str, Any] = dict(entry.get("config") or {})
    name = config.pop("name", None) or entry.get("name")
    unknown = sorted(set(config) - set(spec.config))
    if unknown:
        raise ValueError(
            f"The Keras op {name!r} ({class_name}) in the model file has the arguments "
            f"{unknown}, which Keras's ops.{spec.function} does not take (expected some of "
            f"{list(spec.config)}); the file may come from a newer Keras."
        )
    return OpCall(spec, config, name)
