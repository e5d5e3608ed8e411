"""Layer configs derived from constructor arguments: a layer is its maths plus its arguments.

Keras writes each layer's ``get_config`` by hand; Lamina derives it. :func:`derived_config`
decorates a built-in layer class: its ``get_config`` returns the base entries (``name``,
``trainable``, ``dtype``, ``activity_regularizer``) plus every named argument of the class's
``__init__`` (and of its declared weights' ``<option>_initializer``/``_regularizer``/
``_constraint`` options, see :mod:`lamina.layers.weight_specs`), each read back from the
attribute of the same name and serialized by its kind, chosen from the argument's name:

* ``activation``, ``*_activation``: :func:`lamina.activations.serialize`;
* ``*_initializer``: :func:`lamina.initializers.serialize`;
* ``*_regularizer``, ``*_constraint``: serialized, ``None`` kept;
* anything else: the attribute's value as it is.

A class whose Keras config differs from its arguments overrides ``get_config`` on top of the
derived one (each such override says why).  User layers that define no ``get_config`` get
Keras 3's automatic config instead: ``Layer.__new__`` records the constructor's arguments
(:func:`auto_config`) and the base ``get_config`` returns them, or raises Keras's
``NotImplementedError`` (:func:`auto_config_message`) when they are not plain values.

>>> from lamina.layers import Dense
>>> config = Dense(3, activation="relu", name="d").get_config()
>>> config["units"], config["activation"], config["kernel_initializer"]["class_name"]
(3, 'relu', 'GlorotUniform')
"""

from __future__ import annotations

import inspect

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers

#: Constructor arguments the base ``Layer`` puts in (or keeps out of) every config itself.
BASE_ARGS = frozenset(
    {
        "self",
        "name",
        "trainable",
        "dtype",
        "activity_regularizer",
        "autocast",
        "weights",
    }
)


def _maybe(serialize):
    return lambda value: None if value is None else serialize(value)


def serializer(arg: str):
    """The function that turns the attribute behind constructor argument ``arg`` into its
    config value, chosen by the argument's kind (see the module docstring).

    >>> serializer("kernel_initializer").__name__
    'serialize'
    """
    if arg == "activation" or arg.endswith("_activation"):
        return _activations.serialize
    if arg.endswith("_initializer"):
        return _initializers.serialize
    if arg.endswith("_regularizer"):
        return _maybe(_regularizers.serialize)
    if arg.endswith("_constraint"):
        return _maybe(_constraints.serialize)
    return _plain


def _plain(value):
    return value


def init_args(cls, extra: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The config keys of ``cls``: its ``__init__``'s named arguments (without the base layer's),
    its declared weights' options, then ``extra``; without ``skip``."""
    names: list[str] = []
    params = inspect.signature(cls.__init__).parameters.values()
    for p in params:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in BASE_ARGS:
            names.append(p.name)
    for spec in getattr(cls, "weight_specs", ()):
        names.extend(spec.option_attrs())
    names.extend(extra)
    seen: set[str] = set()
    out = []
    for n in names:
        if n not in seen and n not in skip:
            seen.add(n)
            out.append(n)
    return tuple(out)


def derived_config(cls=None, *, extra: tuple[str, ...] = (), skip: tuple[str, ...] = ()):
    """Class decorator: ``cls.get_config`` derived from ``cls``'s constructor arguments.

    Args:
        cls: the layer class (when used as ``@derived_config`` without arguments).
        extra: arguments the constructor takes through ``**kwargs`` (passed on to a parent's
            constructor) that belong in the config.
        skip: arguments of the signature that Keras keeps out of the config.

    Returns:
        The class, with ``_derived_config`` (the derived config), ``get_config`` set to it
        unless the class defines its own (which then starts from ``self._derived_config()``
        and says why Keras's config differs), and the tuple ``_config_args`` of its keys.
    """

    def decorate(klass):
        from lamina.layers.base import Layer

        keys = init_args(klass, extra, skip)
        serializers = tuple((k, serializer(k)) for k in keys)

        def get_config(self) -> dict:
            config = Layer._base_config(self)
            for key, serialize in serializers:
                config[key] = serialize(getattr(self, key))
            return config

        get_config.__qualname__ = f"{klass.__qualname__}.get_config"
        get_config.__doc__ = f"Keras's config of {klass.__name__}: {', '.join(keys)}."
        get_config._derived = True  # type: ignore[attr-defined]
        klass._derived_config = get_config
        current = klass.get_config  # a hand-written override (own or inherited) builds on it
        if current is Layer._base_config or getattr(current, "_derived", False):
            klass.get_config = get_config
        klass._config_args = keys
        return klass

    return decorate if cls is None else decorate(cls)


_AUTO_CONFIG_TYPES = (str, int, float, bool, type(None))
_LAMINA_ONLY_ARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")


def _flat_values(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _flat_values(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _flat_values(v)
    else:
        yield value


def auto_config(cls, args: tuple, kwargs: dict) -> tuple[dict | None, bool]:
    """Keras 3's ``Operation.__new__``: ``(config, error_args)`` for a constructor call.

    ``config`` is the bound arguments (defaults applied, ``**kwargs`` expanded, ``name``
    removed), or None when they do not bind, are not all plain values, or use positional-only
    or variadic arguments (then ``error_args`` is True, for Keras's message).
    """
    try:
        signature = inspect.signature(cls.__init__)
        bound = signature.bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None, False
    params = list(signature.parameters.values())
    if any(p.kind == p.POSITIONAL_ONLY for p in params[1:]):
        return None, True
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop(params[0].name, None)  # self
    for p in params[1:]:
        if p.kind == p.VAR_KEYWORD:
            arguments.update(arguments.pop(p.name, {}))
        elif p.kind == p.VAR_POSITIONAL and arguments.pop(p.name, ()):
            return None, True
    arguments.pop("name", None)
    for arg in _LAMINA_ONLY_ARGS:  # named in Lamina's Layer.__init__, **kwargs in Keras's
        if arg not in kwargs:
            arguments.pop(arg, None)
    if not all(isinstance(v, _AUTO_CONFIG_TYPES) for v in _flat_values(arguments)):
        return None, False
    return arguments, False


_CONFIG_EXAMPLE = """
class CustomLayer(keras.layers.Layer):
    def __init__(self, arg1, arg2, **kwargs):
        super().__init__(**kwargs)
        self.arg1 = arg1
        self.arg2 = arg2

    def get_config(self):
        config = super().get_config()
        config.update({
            "arg1": self.arg1,
            "arg2": self.arg2,
        })
        return config"""


def auto_config_message(layer) -> str:
    """Keras 3's message when a layer without ``get_config`` has no automatic config."""
    name = type(layer).__name__
    if layer._auto_config_error_args:
        text = (
            f"Object {name} was created by passing\npositional only or variadic positional "
            "arguments (e.g.,\n`*args`) to `__init__()`, which is not supported by the\n"
            "automatic config generation. Please remove all positional\nonly and variadic "
            "arguments from `__init__()`\nor override `get_config()` and `from_config()` to "
            "make\nthe object serializatble."
        )
    else:
        text = (
            f"Object {name} was created by passing\nnon-serializable argument values in "
            "`__init__()`,\nand therefore the object must override `get_config()` in\norder "
            "to be serializable. Please implement `get_config()`."
        )
    return f"\n{text}\n\nExample:\n{_CONFIG_EXAMPLE}"
