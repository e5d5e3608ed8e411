"""Errors for the Keras names Lamina lacks, told apart from typos.

A Keras script that reaches for a Keras 2/3 public name Lamina does not have
(``from lamina.layers import Deconvolution3D``) gets :class:`UnsupportedKerasAPIError`, which names
the Keras API and says it is not supported, instead of a bare ``AttributeError`` or
``ImportError``.  Any other unknown name is a typo: an ``AttributeError`` with the closest
public name.  Each package installs the hook with ``__getattr__ = module_getattr(...)``; it runs
only for names the module does not define, so a name Lamina gains later simply wins.

>>> import lamina.layers
>>> try:
...     lamina.layers.Deconvolution3D
... except NotImplementedError as e:
...     print(str(e).split(":")[0])
keras.layers.Deconvolution3D is not supported by Lamina
"""

from __future__ import annotations

from lamina._naming import closest


class UnsupportedKerasAPIError(NotImplementedError):
    """A Keras API that Lamina does not implement (a ``NotImplementedError``).

    It is deliberately not an ``AttributeError``: ``from lamina.layers import X`` would turn an
    ``AttributeError`` into a bare "cannot import name" and lose the message.
    """


_LAYERS = """TFSMLayer TorchModuleWrapper
Deconvolution3D DenseFeatures"""

_MODELS = ""

_UTILS = ""

_CALLBACKS = """OrbaxCheckpoint"""

_OPTIMIZERS = """TFOptimizer"""

_DTYPE_POLICIES = """QuantizedFloat8DTypePolicy
GPTQDTypePolicy AWQDTypePolicy"""

_APPLICATIONS = ""

_DISTRIBUTION = ""

#: Keras 2/3 public names Lamina lacks, per module (``lamina.X`` mirrors ``keras.X``).
KNOWN: dict[str, frozenset[str]] = {
    "layers": frozenset(_LAYERS.split()),
    "models": frozenset(_MODELS.split()),
    "utils": frozenset(_UTILS.split()),
    "callbacks": frozenset(_CALLBACKS.split()),
    "optimizers": frozenset(_OPTIMIZERS.split()),
    "dtype_policies": frozenset(_DTYPE_POLICIES.split()),
    "applications": frozenset(_APPLICATIONS.split()),
    "distribution": frozenset(_DISTRIBUTION.split()),
}

#: Replacements worth naming in the message.
_HINTS = {
    "Merge": "Keras 2 replaced it by the functional-API merge layers (Concatenate, Add, ...) "
    "and keras.models.Model",
}


def unsupported(module: str, name: str, hint: str | None = None) -> UnsupportedKerasAPIError:
    """The error for Keras's ``keras.<module>.<name>``, which Lamina does not support.

    Args:
        module: the Keras module path after ``keras.``, e.g. ``"layers"``.
        name: the public name.
        hint: an optional replacement to suggest.

    Returns:
        An :class:`UnsupportedKerasAPIError` to raise.

    >>> str(unsupported("layers", "Highway")).startswith("keras.layers.Highway is not supported")
    True
    """
    hint = hint or _HINTS.get(name)
    tail = f" {hint[0].upper()}{hint[1:]}." if hint else ""
    keras_name = f"keras.{module}.{name}" if module else f"keras.{name}"
    lamina_module = f"lamina.{module}" if module else "lamina"
    return UnsupportedKerasAPIError(
        f"{keras_name} is not supported by Lamina: {lamina_module} has no {name}."
        f"{tail} See the README's 'Coming from Keras 2' section for what is supported."
    )


def namespace_getattr(module: str, names: str, hint: str):
    """A module-level ``__getattr__`` for a Keras namespace Lamina does not support at all
    (``lamina.export`` for ``keras.export``): each of Keras's names there raises
    :class:`UnsupportedKerasAPIError`, so ``import lamina.export`` works and using it fails
    with the reason; any other name is an ``AttributeError`` (a typo, or a tool probing).

    Args:
        module: the namespace after ``keras.`` (``"export"``).
        names: Keras's public names in it, separated by whitespace.
        hint: what to use instead, or why there is none.

    Returns:
        The module-level ``__getattr__`` function.

    >>> getattr_ = namespace_getattr("export", "ExportArchive", "use model.export(path)")
    >>> try:
    ...     getattr_("ExportArchive")
    ... except NotImplementedError as e:
    ...     print(str(e).split(":")[0])
    keras.export.ExportArchive is not supported by Lamina
    """
    known = frozenset(names.split())

    def __getattr__(name: str):  # noqa: N807
        if name in known:
            raise unsupported(module, name, hint)
        guess = closest(name, known) if not name.startswith("_") else None
        tail = f" (keras.{module}.{guess} is not supported by Lamina either)" if guess else ""
        raise AttributeError(f"module 'lamina.{module}' has no attribute {name!r}{tail}.")

    return __getattr__


def module_getattr(module: str, namespace: dict):
    """A module-level ``__getattr__`` for ``lamina.<module>``.

    Args:
        module: the name after ``lamina.`` (``"layers"``).
        namespace: the module's ``globals()`` (its public names are the typo candidates).

    Returns:
        A function ``__getattr__(name)`` raising :class:`UnsupportedKerasAPIError` for Keras
        names in :data:`KNOWN` and ``AttributeError`` (with the closest name) otherwise.
    """
    known = KNOWN.get(module, frozenset())

    def __getattr__(name: str):  # noqa: N807
        if name in known:
            raise unsupported(module, name)
        if name.startswith("__"):
            raise AttributeError(f"module 'lamina.{module}' has no attribute {name!r}")
        public = [n for n in namespace.get("__all__", namespace) if not n.startswith("_")]
        guess = closest(name, public)
        hint = f" Did you mean {guess!r}?" if guess else ""
        raise AttributeError(f"module 'lamina.{module}' has no attribute {name!r}.{hint}")

    return __getattr__


#: Names Keras 2's layer modules re-exported (``from keras.layers.convolutional import
#: MaxPooling2D``, ``from keras.layers.core import Lambda``), found in ``lamina.layers``.
KERAS2_LAYER_MODULES = {
    "convolutional": frozenset(
        """Convolution1D Convolution2D Deconvolution2D SeparableConvolution2D MaxPooling1D
        MaxPooling2D AveragePooling1D AveragePooling2D MaxPool1D MaxPool2D AvgPool1D AvgPool2D
        ZeroPadding1D ZeroPadding2D Cropping1D Cropping2D UpSampling1D UpSampling2D
        Conv3D Convolution3D MaxPooling3D AveragePooling3D ZeroPadding3D Cropping3D
        UpSampling3D AtrousConvolution1D AtrousConvolution2D""".split()
    ),
    "core": frozenset(
        """Permute RepeatVector Lambda Masking ActivityRegularization SpatialDropout1D
        SpatialDropout2D SpatialDropout3D Highway MaxoutDense TimeDistributedDense Merge
        Input InputLayer""".split()
    ),
}


def layer_module_getattr(module: str):
    """A ``__getattr__`` for ``lamina.layers.<module>`` that serves the names Keras 2's
    ``keras.layers.<module>`` re-exported, from ``lamina.layers`` (an unsupported one raises
    :class:`UnsupportedKerasAPIError` there).

    Args:
        module: ``"convolutional"`` or ``"core"``.

    Returns:
        The module-level ``__getattr__`` function.
    """
    names = KERAS2_LAYER_MODULES[module]

    def __getattr__(name: str):  # noqa: N807
        if name in names:
            import lamina.layers

            return getattr(lamina.layers, name)
        raise AttributeError(f"module 'lamina.layers.{module}' has no attribute {name!r}")

    return __getattr__
