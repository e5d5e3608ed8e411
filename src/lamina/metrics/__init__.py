"""Keras-3-compatible metrics with a pure ``init``/``update``/``result`` protocol.

``get(identifier, *, y_true_shape=None, y_pred_shape=None)`` resolves identifiers exactly as
Keras 3's ``compile_utils.get_metric`` (names as they appear in ``History``).
"""

from __future__ import annotations

import inspect

from lamina import losses as _losses
from lamina._naming import unknown_name_error
from lamina.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from lamina.metrics.base import Mean, MeanMetricWrapper, Metric, Sum, to_snake_case
from lamina.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from lamina.metrics.regression import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)

_ALL = [
    Metric,
    Mean,
    Sum,
    MeanMetricWrapper,
    MeanSquaredError,
    RootMeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCoshError,
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
]
_ABSTRACT = {"Metric", "MeanMetricWrapper"}
ALL_OBJECTS_DICT = {c.__name__: c for c in _ALL}
ALL_OBJECTS_DICT.update({to_snake_case(c.__name__): c for c in _ALL})
ALL_OBJECTS_DICT.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
    }
)
_FUNCTIONS = {
    f.__name__: f
    for f in [
        accuracy,
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
    ]
}
_FUNCTIONS.update({f.__name__: f for f in _losses._FN_TO_CLASS})


def valid_names():
    names = {k for k, v in ALL_OBJECTS_DICT.items() if v.__name__ not in _ABSTRACT}
    return sorted(names | {"accuracy", "acc"})


def _is_binary_or_sparse_categorical(y_true_shape, y_pred_shape):
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    return is_binary, is_sparse


def describe_accuracy_choice(y_true_shape, y_pred_shape) -> str:
    """Class name Keras picks for ``'accuracy'``/``'acc'`` given shapes (with batch dim)."""
    is_binary, is_sparse = _is_binary_or_sparse_categorical(
        tuple(y_true_shape), tuple(y_pred_shape)
    )
    if is_binary:
        return "BinaryAccuracy"
    if is_sparse:
        return "SparseCategoricalAccuracy"
    return "CategoricalAccuracy"


def get(identifier, *, y_true_shape=None, y_pred_shape=None) -> Metric:
    """Resolves a metric identifier like Keras 3's ``compile_utils.get_metric``.

    Strings give the metric named by the string itself (``'mse'`` -> ``MeanSquaredError`` named
    ``'mse'``); ``'accuracy'``/``'acc'`` need ``y_true_shape``/``y_pred_shape`` (with batch dim)
    to choose binary/sparse/categorical accuracy. Metric instances are returned as they are;
    plain callables are wrapped in ``MeanMetricWrapper`` named ``fn.__name__`` (snake_case).
    """
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError(
                    f"Metric {identifier!r} is chosen from the label and output shapes (binary, "
                    "sparse categorical or categorical accuracy): pass y_true_shape and "
                    "y_pred_shape, or use an explicit metric such as 'binary_accuracy'."
                )
            cls = ALL_OBJECTS_DICT[describe_accuracy_choice(y_true_shape, y_pred_shape)]
            return cls(name=identifier)
        cls = ALL_OBJECTS_DICT.get(identifier)
        if cls is None or cls.__name__ in _ABSTRACT:
            raise unknown_name_error("metric", identifier, valid_names())
        obj = cls()
        obj.name = identifier
        return obj
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, _losses.Loss):
        return MeanMetricWrapper(identifier.per_sample, name=identifier.name)
    if callable(identifier):
        name = getattr(identifier, "__name__", None)
        name = to_snake_case(name) if name else to_snake_case(type(identifier).__name__)
        return MeanMetricWrapper(identifier, name=name)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric):
    """Keras 3 serialized form (``keras.metrics.serialize``)."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric):
        return {
            "module": "keras.metrics",
            "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": None,
        }
    if callable(metric):
        return _losses._serialize_fn(metric)
    raise ValueError(f"Cannot serialize metric {metric!r}")


def deserialize(config, custom_objects=None) -> Metric:
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        return get(custom_objects.get(config, config))
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized metric: {config!r}")
    class_name, inner = config["class_name"], config.get("config", {})
    if class_name == "function":
        fn = custom_objects.get(inner) or _FUNCTIONS.get(inner)
        if fn is None:
            raise unknown_name_error("metric", inner, sorted(_FUNCTIONS))
        return get(fn)
    cls = custom_objects.get(class_name) or ALL_OBJECTS_DICT.get(class_name)
    if cls is None:
        raise unknown_name_error("metric", class_name, valid_names())
    return cls.from_config(dict(inner))


__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Poisson",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "deserialize",
    "describe_accuracy_choice",
    "get",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
