"""Losses by name: ``get``, ``serialize``, ``deserialize``."""

from __future__ import annotations

import inspect
from typing import Any

from lamina._naming import unknown_name_error
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
from lamina.object_registry import get_registered_object

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
}
_FUNCTIONS = {fn.__name__: fn for fn in _FN_TO_CLASS}
_FUNCTIONS.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "kullback_leibler_divergence": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
        "logcosh": log_cosh,
    }
)
_ABSTRACT = {"Loss", "LossFunctionWrapper"}


def valid_names():
    return sorted(set(_FUNCTIONS) | (set(_CLASSES) - _ABSTRACT) | {"crossentropy", "ce"})


def _unknown(name):
    raise unknown_name_error("loss", name, valid_names())


def _is_binary_or_sparse(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    return is_binary, is_sparse


def get(identifier, *, y_true_shape=None, y_pred_shape=None) -> Loss:
    """Resolves a loss identifier to a ``Loss`` instance.

    Strings: every Keras 3 function name and alias (``'mse'``, ``'bce'``, ``'kld'``...), legacy
    aliases (``'logcosh'``, ``'kullback_leibler_divergence'``) and class names; function-name
    strings give the class instance named by the string, as Keras's ``compile`` names it.
    ``'crossentropy'``/``'ce'`` pick binary/sparse/categorical from the shapes (with batch dim).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
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
        if identifier in _CLASSES and identifier not in _ABSTRACT:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _FN_TO_CLASS[_FUNCTIONS[identifier]](name=identifier)
        user = get_registered_object(identifier)
        if user is not None:
            return get(user)
        _unknown(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        if identifier in _FN_TO_CLASS:
            return _FN_TO_CLASS[identifier]()
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss) -> Any:
    """Keras 3 serialized form (``keras.losses.serialize``)."""
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
        return {
            "module": "keras.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    if callable(loss):
        return _serialize_fn(loss)
    raise ValueError(f"Cannot serialize loss {loss!r}")


def deserialize(config, custom_objects=None) -> Loss:
    """Inverse of ``serialize``; also accepts plain names.

    User losses are found through ``custom_objects``, ``custom_object_scope`` and
    ``register_keras_serializable`` (see :mod:`lamina.object_registry`).

    >>> deserialize("mse").name
    'mse'
    """
    if isinstance(config, str):
        user = get_registered_object(config, custom_objects)
        return get(config if user is None else user)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized loss: {config!r}")
    class_name = config["class_name"]
    inner = config.get("config", {})
    registered = config.get("registered_name")
    user = None
    if isinstance(registered, str) and registered not in (class_name, "LossFunctionWrapper"):
        user = get_registered_object(registered, custom_objects)
    if class_name == "function":
        if user is None and isinstance(inner, str):
            user = get_registered_object(inner, custom_objects)
        return get(inner if user is None else user)
    cls = user or get_registered_object(class_name, custom_objects) or _CLASSES.get(class_name)
    if cls is None:
        _unknown(class_name)
    return cls.from_config(dict(inner))
