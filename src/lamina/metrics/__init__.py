"""Keras-3-compatible metrics with a pure ``init``/``update``/``result`` protocol.

``get``/``serialize``/``deserialize`` follow ``keras.metrics``; ``resolve(identifier, *,
y_true_shape=None, y_pred_shape=None)`` gives the metric ``compile`` uses, as Keras 3's
``compile_utils.get_metric`` (names as they appear in ``History``).  The loss functions Keras
re-exports here (``mean_squared_error``, ``huber``, ...) are the same objects as in
``lamina.losses``.
"""

from __future__ import annotations

from lamina.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    cosine,
    cosine_proximity,
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
from lamina.metrics import lookup as _lookup
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
from lamina.metrics.at_thresholds import (
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
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
from lamina.metrics.correlation import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    R2Score,
    concordance_correlation,
    pearson_correlation,
)
from lamina.metrics.fscore import F1Score, FBetaScore
from lamina.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
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
    R2Score,
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
    ConcordanceCorrelation,
    PearsonCorrelation,
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
    F1Score,
    FBetaScore,
    IoU,
    BinaryIoU,
    MeanIoU,
    OneHotIoU,
    OneHotMeanIoU,
]
#: Every built-in metric by Keras's names (``keras.metrics.ALL_OBJECTS_DICT``).
REGISTRY = _lookup.build_registry(_ALL)
ALL_OBJECTS_DICT = {name: REGISTRY.builtin(name) for name in REGISTRY._by_name}
_FUNCTIONS = _lookup.FUNCTIONS

# Keras 2's short aliases of the loss functions it re-exported here (``from keras.metrics import
# mae``); a function passed to ``compile`` is named by ``__name__``, as in Keras 2.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
describe_accuracy_choice = _lookup.describe_accuracy_choice


def valid_names():
    return sorted(set(REGISTRY.names()) | {"accuracy", "acc"})


def get(identifier):
    """Resolves a metric identifier as ``keras.metrics.get`` does.

    Args:
        identifier: ``None``, a class name (``'MeanSquaredError'``), its snake_case name or an
            alias (``'mse'``), a serialized dict, a class, a ``Metric`` or a function.

    Returns:
        An instance for a name or class (named as its class names it), the function for a
        function, ``None`` for ``None``.

    Raises:
        ValueError: an unknown name (naming the closest) or a non-callable identifier.

    >>> get("mse").name
    'mean_squared_error'
    >>> get(mean_squared_error) is mean_squared_error
    True
    """
    return _lookup.get(REGISTRY, identifier)


def resolve(identifier, *, y_true_shape=None, y_pred_shape=None) -> Metric:
    """The metric ``compile`` uses for ``identifier`` (Keras 3's ``get_metric``).

    Strings give the metric named by the string itself (``'mse'`` -> ``MeanSquaredError`` named
    ``'mse'``); ``'accuracy'``/``'acc'`` need ``y_true_shape``/``y_pred_shape`` (with batch
    dim) to choose binary/sparse/categorical accuracy. Metric instances are returned as they
    are (those sized by the data, such as ``F1Score``, are sized from the shapes); plain
    callables are wrapped in ``MeanMetricWrapper`` named ``fn.__name__``.

    >>> resolve("mse").name
    'mse'
    >>> resolve(mean_squared_error).name
    'mean_squared_error'
    """
    return _lookup.resolve(REGISTRY, identifier, y_true_shape, y_pred_shape)


def serialize(metric):
    """Keras 3 serialized form (``keras.metrics.serialize``).

    >>> serialize(MeanSquaredError())["class_name"]
    'MeanSquaredError'
    """
    return _lookup.serialize(REGISTRY, metric)


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (``keras.metrics.deserialize``).

    >>> deserialize("f1_score").name
    'f1_score'
    """
    return _lookup.deserialize(REGISTRY, config, custom_objects)


__all__ = sorted(
    [c.__name__ for c in _ALL]
    + [f.__name__ for f in _lookup.METRIC_FUNCTIONS if f.__name__ != "cosine_similarity"]
    + ["deserialize", "describe_accuracy_choice", "get", "resolve", "serialize"]
)
