"""Metrics by name: Keras 3's ``get``, ``serialize``, ``deserialize``, and ``resolve`` (what
``compile`` does with a metric identifier, Keras's ``compile_utils.get_metric``).

``get('mse')`` is a ``MeanSquaredError`` named ``'mean_squared_error'``, as ``keras.metrics.get``
returns it; ``resolve('mse')`` names it ``'mse'``, as ``compile`` logs it.
"""

from __future__ import annotations

import inspect
from typing import Any

from lamina import losses as _losses
from lamina._naming import names_unchanged
from lamina.metrics import accuracy as _acc
from lamina.metrics.base import MeanMetricWrapper, Metric, to_snake_case
from lamina.metrics.correlation import concordance_correlation, pearson_correlation
from lamina.object_registry import Registry, custom_object_scope, get_registered_object

#: Function names ``compile`` accepts as strings besides the class names (Keras's metric
#: functions and the loss functions ``keras.metrics`` re-exports).
METRIC_FUNCTIONS = [
    _acc.accuracy,
    _acc.binary_accuracy,
    _acc.categorical_accuracy,
    _acc.sparse_categorical_accuracy,
    _acc.top_k_categorical_accuracy,
    _acc.sparse_top_k_categorical_accuracy,
    pearson_correlation,
    concordance_correlation,
    _losses.binary_crossentropy,
    _losses.binary_focal_crossentropy,
    _losses.categorical_crossentropy,
    _losses.categorical_focal_crossentropy,
    _losses.sparse_categorical_crossentropy,
    _losses.mean_squared_error,
    _losses.mean_absolute_error,
    _losses.mean_absolute_percentage_error,
    _losses.mean_squared_logarithmic_error,
    _losses.hinge,
    _losses.squared_hinge,
    _losses.categorical_hinge,
    _losses.huber,
    _losses.kl_divergence,
    _losses.log_cosh,
    _losses.poisson,
    _losses.cosine_similarity,
    _losses.cosine_proximity,
]
FUNCTIONS = {f.__name__: f for f in METRIC_FUNCTIONS}
# Keras 2 metric names Keras 3 dropped.  They resolve to the functions, as Keras 2's
# ``metrics.get`` did, and log under the string given (``'kld'``), as every string metric does
# here; they stay out of the registry so ``ALL_OBJECTS_DICT`` keeps Keras 3's names.
FUNCTIONS.update(
    {
        "cosine": _losses.cosine_proximity,
        "kld": _losses.kl_divergence,
        "KLD": _losses.kl_divergence,
        "kullback_leibler_divergence": _losses.kl_divergence,
        "logcosh": _losses.log_cosh,
    }
)
_ALIASES = {
    "bce": "BinaryCrossentropy",
    "BCE": "BinaryCrossentropy",
    "mse": "MeanSquaredError",
    "MSE": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "MAE": "MeanAbsoluteError",
    "mape": "MeanAbsolutePercentageError",
    "MAPE": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError",
    "MSLE": "MeanSquaredLogarithmicError",
}
ABSTRACT = {"Metric", "MeanMetricWrapper", "metric", "mean_metric_wrapper"}


def build_registry(classes) -> Registry:
    """Keras's ``keras.metrics.ALL_OBJECTS_DICT`` as a :class:`Registry`: class names, their
    snake_case names, and the aliases."""
    registry = Registry("metric", "keras.metrics")
    by_name = {c.__name__: c for c in classes}
    for cls in classes:
        for name in (cls.__name__, to_snake_case(cls.__name__)):
            registry.add(cls, name, listed=name not in ABSTRACT)
    for alias, target in _ALIASES.items():
        registry.add(by_name[target], alias)
    return registry


def _accuracy_class(registry, y_true_shape, y_pred_shape):
    is_binary, is_sparse = _losses._is_binary_or_sparse(tuple(y_true_shape), tuple(y_pred_shape))
    if is_binary:
        return registry.builtin("BinaryAccuracy")
    if is_sparse:
        return registry.builtin("SparseCategoricalAccuracy")
    return registry.builtin("CategoricalAccuracy")


def describe_accuracy_choice(y_true_shape, y_pred_shape) -> str:
    """Class name Keras picks for ``'accuracy'``/``'acc'`` given shapes (with batch dim).

    >>> describe_accuracy_choice((None, 1), (None, 1))
    'BinaryAccuracy'
    """
    from lamina.metrics import REGISTRY

    return _accuracy_class(REGISTRY, y_true_shape, y_pred_shape).__name__


def get(registry: Registry, identifier: Any) -> Any:
    """``keras.metrics.get``: a name gives an instance of its class, a function name the
    function; dicts are deserialized; callables are returned unchanged."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(registry, identifier)
    elif isinstance(identifier, str):
        if identifier not in registry and identifier in FUNCTIONS:
            obj = FUNCTIONS[identifier]
        else:
            obj = registry.lookup(identifier, extra=FUNCTIONS)
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def resolve(registry: Registry, identifier, y_true_shape=None, y_pred_shape=None) -> Metric:
    """The ``Metric`` object ``compile`` uses (see :func:`lamina.metrics.resolve`)."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    metric = _resolve(registry, identifier, y_true_shape, y_pred_shape)
    build = getattr(metric, "build_for_shapes", None)
    if build is not None and y_true_shape is not None and y_pred_shape is not None:
        build(y_true_shape, y_pred_shape)
    return metric


def _resolve(registry, identifier, y_true_shape, y_pred_shape) -> Metric:
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return _resolve(registry, deserialize(registry, identifier), None, None)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError(
                    f"Metric {identifier!r} is chosen from the label and output shapes (binary, "
                    "sparse categorical or categorical accuracy): pass y_true_shape and "
                    "y_pred_shape, or use an explicit metric such as 'binary_accuracy'."
                )
            return _accuracy_class(registry, y_true_shape, y_pred_shape)(name=identifier)
        if identifier in ABSTRACT:
            raise ValueError(f"Metric {identifier!r} is an abstract base class, not a metric.")
        if identifier not in registry and identifier in FUNCTIONS:
            metric = MeanMetricWrapper(FUNCTIONS[identifier], name=identifier)
            fn_name = getattr(FUNCTIONS[identifier], "__name__", identifier)
            metric.__dict__["_variable_scope"] = fn_name  # Keras's wrapper took it first
            return metric
        obj = registry.lookup(identifier, extra=[*FUNCTIONS, "accuracy", "acc"])
        # Resolved again at every use; the compiled metrics count the name once (Keras's
        # ``AUC()`` made when they are built), so a later ``AUC()`` is named as in Keras.
        with names_unchanged():
            metric = _resolve(registry, obj, None, None)
        # Keras makes the variables under the metric's own name, then renames it.
        metric.__dict__["_variable_scope"] = metric.name
        metric.name = identifier
        return metric
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, _losses.Loss):
        # Keras wraps the loss object itself: its reduced value (a batch mean, or a sum with
        # ``reduction="sum"``) counts once per batch.
        return MeanMetricWrapper(identifier, name=identifier.name)
    if callable(identifier):
        name = getattr(identifier, "__name__", None)
        name = to_snake_case(name) if name else to_snake_case(type(identifier).__name__)
        return MeanMetricWrapper(identifier, name=name)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(registry: Registry, metric) -> Any:
    """``keras.metrics.serialize``: a class dict for a ``Metric``, a function dict for a
    function."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric):
        return registry.serialize_object(metric, metric.get_config())
    if callable(metric):
        return _losses._serialize_fn(metric)
    raise ValueError(f"Cannot serialize metric {metric!r}")


def deserialize(registry: Registry, config, custom_objects=None) -> Any:
    """``keras.metrics.deserialize``: names and class dicts give instances, function dicts the
    function; user objects come from ``custom_objects``, scopes and registrations."""
    if isinstance(config, str):
        if config not in registry and config in FUNCTIONS:
            if get_registered_object(config, custom_objects) is None:
                return FUNCTIONS[config]
        obj = registry.lookup(config, custom_objects, extra=FUNCTIONS)
        return obj() if inspect.isclass(obj) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret serialized metric: {config!r}")
    class_name, inner = config["class_name"], config.get("config", {})
    registered = config.get("registered_name")
    user = None
    if isinstance(registered, str) and registered not in (class_name, "function"):
        user = get_registered_object(registered, custom_objects)
    if class_name == "function":
        if user is not None:
            return user
        if not isinstance(inner, str):
            raise ValueError(f"Could not interpret serialized metric function: {config!r}")
        found = get_registered_object(inner, custom_objects) or FUNCTIONS.get(inner)
        if found is None:
            try:
                found = _losses.REGISTRY.lookup(inner, custom_objects)  # any loss function
            except ValueError:
                # A saved user metric (``metrics=[rmse]`` in a Keras 2 tutorial) loaded
                # without it: name it as a metric, with the fix, not as an unknown loss.
                raise ValueError(
                    f"Unknown metric function {inner!r}: pass it in custom_objects "
                    f"(load_model(..., custom_objects={{{inner!r}: {inner}}})) or register "
                    "it with keras.saving.register_keras_serializable()."
                ) from None
        return found
    cls = user or registry.lookup(class_name, custom_objects, extra=FUNCTIONS)
    if not inspect.isclass(cls):
        return cls
    # A wrapper's inner function (``LossFunctionWrapper(fn=my_loss)``) is found through
    # ``custom_objects`` as the outer object is.
    with custom_object_scope(custom_objects):
        return cls.from_config(dict(inner or {}))
