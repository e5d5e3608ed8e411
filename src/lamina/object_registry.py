"""One registry type for every named object: layers, activations, initializers, regularizers,
constraints, losses, metrics, optimizers and schedules.

Each kind keeps one :class:`Registry` of its built-in objects (name and aliases -> object).
User objects come from three places, searched first to last, as Keras searches them:

1. the ``custom_objects`` dict passed to a loader (``load_model(..., custom_objects=...)``);
2. any enclosing :func:`custom_object_scope`;
3. objects registered with :func:`register_keras_serializable` (``"Package>Name"``, and the
   plain name for convenience).

A lookup never imports a module or evaluates anything named in a file: a name that is not in
one of these tables raises a ``ValueError`` listing the valid names and the closest one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lamina._naming import unknown_name_error

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}
_SCOPES = threading.local()


def _scope_stack() -> list[dict]:
    if not hasattr(_SCOPES, "stack"):
        _SCOPES.stack = []
    return _SCOPES.stack


def get_custom_objects() -> dict[str, Any]:
    """The global dict of registered custom objects (as ``keras.saving.get_custom_objects``).

    Adding to it registers an object by name for every loader.

    >>> from lamina.saving import get_custom_objects
    >>> isinstance(get_custom_objects(), dict)
    True
    """
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator registering a class or function under ``"package>name"`` for loading.

    Args:
        package: the package part of the registered name.
        name: the object's name; defaults to its ``__name__``.

    Returns:
        A decorator returning the object unchanged.

    Raises:
        ValueError: if ``package`` contains ``">"`` or the object has no name.

    >>> from lamina.saving import register_keras_serializable, get_registered_name
    >>> @register_keras_serializable(package="Docs")
    ... def half(x):
    ...     return x / 2
    >>> get_registered_name(half)
    'Docs>half'
    """
    if ">" in str(package):
        raise ValueError(f"package must not contain '>'. Received: package={package!r}.")

    def decorator(obj):
        obj_name = name if name is not None else getattr(obj, "__name__", None)
        if not obj_name:
            raise ValueError(f"Cannot register {obj!r}: it has no __name__; pass name=...")
        registered = f"{package}>{obj_name}"
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` was registered under, else its ``__name__``.

    >>> from lamina.saving import get_registered_name
    >>> get_registered_name(len)
    'len'
    """
    try:
        if obj in _GLOBAL_CUSTOM_NAMES:
            return _GLOBAL_CUSTOM_NAMES[obj]
    except TypeError:  # unhashable instances are never registered
        pass
    return getattr(obj, "__name__", type(obj).__name__)


def supplied_object(name: str, custom_objects: dict | None = None) -> Any:
    """The object the caller passed under ``name`` for this load: ``custom_objects``, then the
    enclosing ``custom_object_scope``s (not global registrations); ``None`` when not given.

    >>> with custom_object_scope({"f": len}):
    ...     supplied_object("f") is len
    True
    """
    if isinstance(custom_objects, dict) and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(_scope_stack()):
        if name in scope:
            return scope[name]
    return None


def get_registered_object(
    name: str, custom_objects: dict | None = None, module_objects: dict | None = None
) -> Any:
    """Finds a user object by name: ``custom_objects``, then scopes, then registrations, then
    ``module_objects``; ``None`` when none has it (as Keras's function of the same name).

    >>> from lamina.saving import get_registered_object
    >>> get_registered_object("nothing-here") is None
    True
    """
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(_scope_stack()):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    # A plain class name also finds "Package>Name" registrations (files written by Keras use
    # the registered name; hand-written configs often use the bare one).
    matches = [v for k, v in _GLOBAL_CUSTOM_OBJECTS.items() if k.split(">")[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


@contextlib.contextmanager
def custom_object_scope(*dicts: dict | None) -> Iterator[None]:
    """Makes custom objects visible to every loader inside a ``with`` block.

    Args:
        *dicts: dicts mapping names to classes or functions.

    >>> from lamina.saving import custom_object_scope, get_registered_object
    >>> with custom_object_scope({"twice": lambda x: 2 * x}):
    ...     get_registered_object("twice")(3)
    6
    """
    merged: dict[str, Any] = {}
    for d in dicts:
        if d is None:
            continue
        if not isinstance(d, dict):
            raise TypeError(
                f"custom_object_scope takes dicts of name -> object. Received: {type(d).__name__}."
            )
        merged.update(d)
    stack = _scope_stack()
    stack.append(merged)
    try:
        yield
    finally:
        stack.pop()


#: Keras's class name for the scope object; ``with CustomObjectScope({...}):`` works the same.
CustomObjectScope = custom_object_scope


class Registry:
    """Built-in objects of one kind by name, with aliases and helpful errors.

    Args:
        kind: the word used in error messages (``"loss"``, ``"layer class"``, ...).
        module: the Keras module named in serialized configs (``"keras.losses"``).

    >>> reg = Registry("color", "docs")
    >>> reg.add("RED", "red", "r")
    >>> reg.lookup("r")
    'RED'
    >>> reg.lookup("rd")
    Traceback (most recent call last):
    ...
    ValueError: Unknown color 'rd'. Did you mean 'red'? Valid color names are: r, red.
    """

    def __init__(self, kind: str, module: str):
        self.kind = kind
        self.module = module
        self._by_name: dict[str, Any] = {}
        self._hidden: set[str] = set()

    def add(self, obj: Any, *names: str, listed: bool = True) -> None:
        """Registers ``obj`` under each of ``names`` (its ``__name__`` when none is given).

        ``listed=False`` keeps a name resolvable but out of error listings (abstract bases).
        """
        for name in names or (obj.__name__,):
            self._by_name[name] = obj
            if not listed:
                self._hidden.add(name)

    def update(self, mapping: dict[str, Any]) -> None:
        """Registers every ``name -> obj`` of ``mapping``."""
        for name, obj in mapping.items():
            self.add(obj, name)

    def names(self) -> list[str]:
        """The listed names, sorted."""
        return sorted(n for n in self._by_name if n not in self._hidden)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def builtin(self, name: str) -> Any:
        """The built-in object for ``name``, or ``None``."""
        return self._by_name.get(name)

    def lookup(self, name: str, custom_objects: dict | None = None, *, extra: Iterable[str] = ()):
        """User objects first (see the module docstring), then built-ins; else a ``ValueError``
        naming the closest valid name (``extra`` adds names resolved elsewhere to the list)."""
        if not isinstance(name, str):
            raise TypeError(f"A {self.kind} name must be a string. Received: {name!r}.")
        user = get_registered_object(name, custom_objects)
        if user is not None:
            return user
        if name in self._by_name:
            return self._by_name[name]
        raise unknown_name_error(self.kind, name, [*self.names(), *extra])

    def name_of(self, obj: Any) -> str | None:
        """The first name ``obj`` is registered under, or ``None``."""
        for name, value in self._by_name.items():
            if value is obj:
                return name
        return None

    def is_builtin(self, obj: Any) -> bool:
        """Whether ``obj`` is one of this registry's built-in objects."""
        return any(value is obj for value in self._by_name.values())

    def serialize_object(self, obj: Any, config: dict) -> dict:
        """Keras 3's serialized dict for an instance of a registered or user class."""
        cls = type(obj)
        builtin = self.builtin(cls.__name__) is cls
        return {
            "module": self.module if builtin else cls.__module__,
            "class_name": cls.__name__,
            "config": config,
            "registered_name": None if builtin else get_registered_name(cls),
        }


class ClassRegistry(Registry):
    """A :class:`Registry` of classes sharing a base, with Keras's ``get``/``serialize``/
    ``deserialize`` trio (initializers, regularizers, constraints, ...).

    Args:
        kind: the word used in error messages.
        module: the Keras module named in serialized configs.
        base: the base class every instance derives from.
    """

    def __init__(self, kind: str, module: str, base: type):
        super().__init__(kind, module)
        self.base = base

    def serialize(self, obj: Any) -> dict | None:
        """Keras 3's serialized dict: ``{"module", "class_name", "config", "registered_name"}``
        (a plain function, e.g. Géron's ``my_l1_regularizer``: Keras's function entry, loaded
        back by name from ``custom_objects``); None for None, as Keras's."""
        if obj is None:
            return None
        fn = getattr(obj, "_function", None) if isinstance(obj, self.base) else obj
        if _is_plain_function(fn):
            return {
                "module": "builtins",
                "class_name": "function",
                "config": fn.__name__,
                "registered_name": "function",
            }
        if not isinstance(obj, self.base):
            raise TypeError(
                f"Cannot serialize {self.kind} {obj!r}: expected a {self.base.__name__} instance."
            )
        return self.serialize_object(obj, obj.get_config())

    def class_for(self, config: dict, custom_objects: dict | None = None) -> type:
        """The class a serialized dict names (its ``registered_name`` first, as Keras)."""
        registered = config.get("registered_name")
        if isinstance(registered, str) and registered != config.get("class_name"):
            cls = get_registered_object(registered, custom_objects)
            if cls is not None:
                return cls
        return self.lookup(config["class_name"], custom_objects)

    def deserialize(self, config: Any, custom_objects: dict | None = None) -> Any:
        """Builds an instance from a name or a serialized dict (a function entry: the user
        function of that name)."""
        if isinstance(config, dict) and config.get("class_name") == "function":
            name = config.get("config")
            found = get_registered_object(name, custom_objects) if isinstance(name, str) else None
            if found is None:
                raise ValueError(
                    f"Unknown {self.kind} function {name!r}: pass it in custom_objects "
                    f"(load_model(..., custom_objects={{{name!r}: {name}}}))."
                )
            return found
        if isinstance(config, str):
            found = self.lookup(config, custom_objects)
            return found if _is_plain_function(found) else found()
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
            raise ValueError(
                f"Could not interpret {self.kind} config: expected a name or a dict with "
                f"'class_name' and 'config'. Received: {config!r}."
            )
        cls = self.class_for(config, custom_objects)
        inner = config.get("config") or {}
        if not isinstance(inner, dict):
            raise ValueError(f"Could not interpret {self.kind} config: {config!r}.")
        return cls.from_config({k: _array_entry(v) for k, v in inner.items()})

    def get(self, identifier: Any, custom_objects: dict | None = None) -> Any:
        """Resolves ``None``, a name, a serialized dict, an instance, a class or a callable."""
        if identifier is None:
            return None
        if isinstance(identifier, str | dict):
            return self.deserialize(identifier, custom_objects)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise TypeError(
            f"Could not interpret {self.kind} identifier of type {type(identifier).__name__}: "
            f"{identifier!r}"
        )


_ARRAY_DTYPES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 bfloat16 float32 float64"
    .split()
)


def array_entry(value: Any) -> Any:
    """An array Keras wrote as ``{"class_name": "__numpy__" (or "__tensor__"), "config":
    {"value": [...], "dtype": ...}}`` (``Constant(np.eye(3).flatten())``'s value) as a NumPy
    array; any other value as it is.

    Only plain numeric dtypes are read: a file's dtype string could otherwise name a
    sub-array or huge fixed-width type (``"(16000,16000)f8"``, ``"S2000000000"``) that
    allocates gigabytes from a few bytes of JSON.

    Raises:
        ValueError: the entry has another dtype, no value, or a value that is not a
            rectangular list of numbers.

    >>> array_entry({"class_name": "__numpy__", "config": {"value": [1, 2], "dtype": "int32"}})
    array([1, 2], dtype=int32)
    """
    if not (isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__")):
        return value
    import numpy as np

    inner = value.get("config")
    dtype = str(inner.get("dtype") or "float32") if isinstance(inner, dict) else ""
    if dtype not in _ARRAY_DTYPES or "value" not in inner:
        raise ValueError(
            f"Could not interpret a serialized array: expected a numeric dtype "
            f"({', '.join(sorted(_ARRAY_DTYPES))}) and a value; received {_short(value)}."
        )
    if dtype == "bfloat16":
        import jax.numpy as jnp

        dtype = jnp.bfloat16
    raw = inner["value"]
    if not isinstance(raw, list | tuple | int | float | bool):
        raise ValueError(
            f"Could not interpret a serialized array: its value must be a number or a list of "
            f"numbers; received {_short(value)}."
        )
    try:
        return np.asarray(raw, dtype=np.dtype(dtype))
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(
            f"Could not interpret a serialized array ({e}); received {_short(value)}."
        ) from None


def _short(value, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


_array_entry = array_entry


def _is_plain_function(obj) -> bool:
    """A Python function (not a class, not a configured object): what Keras serializes as a
    ``"function"`` entry."""
    import types

    return isinstance(obj, types.FunctionType)
