"""Losses by name: Keras 3's ``get``, ``serialize``, ``deserialize``, and ``resolve`` (what
``compile`` does with a loss identifier).

``get``/``deserialize`` follow ``keras.losses``: a function name (``'mse'``,
``'mean_squared_error'``) gives the per-sample function, a class name (``'MeanSquaredError'``)
an instance.  ``resolve`` always gives a :class:`Loss` object, named as Keras's ``compile``
names it (``'mse'`` -> a ``MeanSquaredError`` named ``'mse'``).
"""

from __future__ import annotations

import inspect
from typing import Any

from lamina._naming import unknown_name_error
from lamina.losses import extra as _extra
from lamina.losses import extra_classes as _extra_classes
from lamina.losses.classes import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    _serialize_fn,
)
from lamina.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_proximity,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from lamina.object_registry import Registry, custom_object_scope, get_registered_object

_CLASSES = {
    c.__name__: c
    for c in [
        Loss,
        LossFunctionWrapper,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        BinaryFocalCrossentropy,
        CategoricalCrossentropy,
        _extra_classes.CategoricalFocalCrossentropy,
        SparseCategoricalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        LogCosh,
        Huber,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        _extra_classes.Dice,
        _extra_classes.Tversky,
        _extra_classes.Circle,
        _extra_classes.CTC,
        _extra_classes.CategoricalGeneralizedCrossEntropy,
    ]
}
_FN_TO_CLASS = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    cosine_similarity: CosineSimilarity,
    huber: Huber,
    log_cosh: LogCosh,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
    binary_crossentropy: BinaryCrossentropy,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    _extra.categorical_focal_crossentropy: _extra_classes.CategoricalFocalCrossentropy,
    _extra.dice: _extra_classes.Dice,
    _extra.tversky: _extra_classes.Tversky,
    _extra.circle: _extra_classes.Circle,
    _extra.ctc: _extra_classes.CTC,
}
#: Functions whose class needs an argument the function takes positionally (no default).
_NO_DEFAULT_CLASS = {_extra.categorical_generalized_cross_entropy}
_FUNCTIONS = {fn.__name__: fn for fn in [*_FN_TO_CLASS, *_NO_DEFAULT_CLASS]}
#: Keras 3's aliases, then the legacy ones Keras 2 files and scripts use.
_ALIASES = {
    "bce": binary_crossentropy,
    "BCE": binary_crossentropy,
    "kld": kl_divergence,
    "KLD": kl_divergence,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
    "kullback_leibler_divergence": kl_divergence,
    "logcosh": log_cosh,
    # Keras 1/2 only; Keras 3 dropped the name (its ``cosine_similarity`` sums, not averages).
    "cosine_proximity": cosine_proximity,
    "cosine": cosine_proximity,
}
_FUNCTIONS.update(_ALIASES)
_ABSTRACT = {"Loss", "LossFunctionWrapper"}

#: Every built-in loss by Keras's name and alias (``keras.losses.ALL_OBJECTS_DICT``).
REGISTRY = Registry("loss", "keras.losses")
for _name, _obj in _CLASSES.items():
    REGISTRY.add(_obj, _name, listed=_name not in _ABSTRACT)
REGISTRY.update(_FUNCTIONS)


def valid_names():
    return sorted(set(REGISTRY.names()) | {"crossentropy", "ce"})


def _unknown(name):
    raise unknown_name_error("loss", name, valid_names())


def _is_binary_or_sparse(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    return is_binary, is_sparse


def get(identifier: Any) -> Any:
    """Resolves a loss identifier as ``keras.losses.get`` does.

    Args:
        identifier: ``None``, a function or class name or alias (``'mse'``,
            ``'MeanSquaredError'``), a serialized dict, a class, a ``Loss`` or a function.

    Returns:
        The per-sample function for a function name, an instance for a class name or class,
        anything callable unchanged; ``None`` for ``None``.

    Raises:
        ValueError: an unknown name (naming the closest) or a non-callable identifier.

    >>> get("mse").__name__
    'mean_squared_error'
    >>> type(get("MeanSquaredError")).__name__
    'MeanSquaredError'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = REGISTRY.lookup(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def resolve(identifier, *, y_true_shape=None, y_pred_shape=None) -> Loss:
    """The ``Loss`` object ``compile`` uses for ``identifier`` (Keras's ``get_loss``).

    Function names and aliases give their class's instance named by the string, as Keras's
    ``compile`` names the wrapped function; ``'crossentropy'``/``'ce'`` pick
    binary/sparse/categorical crossentropy from the shapes (batch dimension included).

    >>> resolve("mse").name
    'mse'
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return resolve(deserialize(identifier))
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError(
                    f"Loss {identifier!r} picks binary/sparse/categorical crossentropy from the "
                    "label and output shapes: pass y_true_shape and y_pred_shape."
                )
            is_binary, is_sparse = _is_binary_or_sparse(y_true_shape, y_pred_shape)
            fn = (
                binary_crossentropy
                if is_binary
                else sparse_categorical_crossentropy
                if is_sparse
                else categorical_crossentropy
            )
            return _FN_TO_CLASS[fn](name=identifier)
        obj = REGISTRY.lookup(identifier, extra=("crossentropy", "ce"))
        if inspect.isclass(obj) and identifier in _ABSTRACT:
            raise ValueError(f"Loss {identifier!r} is an abstract base class, not a loss.")
        if obj in _FN_TO_CLASS and REGISTRY.builtin(identifier) is obj:
            return _FN_TO_CLASS[obj](name=identifier)
        if REGISTRY.builtin(identifier) is obj and not inspect.isclass(obj):
            return LossFunctionWrapper(obj, name=identifier)
        return resolve(obj)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        if identifier in _FN_TO_CLASS:
            return _FN_TO_CLASS[identifier]()
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss) -> Any:
    """Keras 3 serialized form (``keras.losses.serialize``).

    >>> serialize(get("mse"))["config"]
    'mean_squared_error'
    """
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Loss):
        if type(loss) is LossFunctionWrapper:
            return {
                "module": "keras.src.losses.losses",
                "class_name": "LossFunctionWrapper",
                "config": loss.get_config(),
                "registered_name": "LossFunctionWrapper",
            }
        return REGISTRY.serialize_object(loss, loss.get_config())
    if callable(loss):
        return _serialize_fn(loss)
    raise ValueError(f"Cannot serialize loss {loss!r}")


def deserialize(config, custom_objects=None) -> Any:
    """Inverse of ``serialize`` (``keras.losses.deserialize``); also accepts plain names.

    A function's config gives the function, a class's config an instance. User losses are
    found through ``custom_objects``, ``custom_object_scope`` and
    ``register_keras_serializable`` (see :mod:`lamina.object_registry`).

    >>> deserialize("mse").__name__
    'mean_squared_error'
    >>> deserialize({"class_name": "Huber", "config": {"name": "h"}}).name
    'h'
    """
    if isinstance(config, str):
        obj = REGISTRY.lookup(config, custom_objects)
        return obj() if inspect.isclass(obj) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized loss: {config!r}")
    class_name = config["class_name"]
    inner = config.get("config", {})
    registered = config.get("registered_name")
    user = None
    if isinstance(registered, str) and registered not in (class_name, "LossFunctionWrapper"):
        user = get_registered_object(registered, custom_objects)
    if class_name == "function":
        if user is not None:
            return user
        if not isinstance(inner, str):
            raise ValueError(f"Could not interpret serialized loss function: {config!r}")
        return REGISTRY.lookup(inner, custom_objects)
    cls = user or REGISTRY.lookup(class_name, custom_objects)
    if not inspect.isclass(cls):
        return cls
    # A wrapper's inner function (``LossFunctionWrapper(fn=my_loss)``) is found through
    # ``custom_objects`` as the outer object is.
    with custom_object_scope(custom_objects):
        return cls.from_config(dict(inner or {}))
