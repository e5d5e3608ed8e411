"""``Loss`` classes: Keras names and configs; ``per_sample`` for the compiled loop."""

from __future__ import annotations

import jax.numpy as jnp

from lamina._naming import snake_case
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
    squeeze_or_expand_to_same_rank,
)
from lamina.losses.reduction import reduce_weighted_values, standardize_reduction


class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred)`` returning per-sample values."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype or "float32"

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def _mask(self, y_true, y_pred):
        return None

    def per_sample(self, y_true, y_pred):
        """Unreduced values, shape ``(batch, ...)``, after Keras's squeeze/expand rule."""
        return self.call(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = jnp.asarray(y_pred, jnp.float32)
        y_true = jnp.asarray(y_true, jnp.float32)
        values = self.call(y_true, y_pred)
        mask = self._mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _key(self):
        return (type(self), repr(sorted(self.get_config().items(), key=lambda kv: kv[0])))

    def __eq__(self, other):
        return isinstance(other, Loss) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


#: Arguments of Keras's loss classes that Keras 3.15's ``get_config`` drops (defaults).
_UNSAVED_BY_KERAS = {
    "Huber": {"delta": 1.0},
    "CosineSimilarity": {"axis": -1},
    "SparseCategoricalCrossentropy": {"axis": -1},
}


class LossFunctionWrapper(Loss):
    """Wraps ``fn(y_true, y_pred, **kwargs)``; ``y_true``/``y_pred`` are squeezed/expanded first."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = _serialize_fn(self.fn)
            config.update(self._fn_kwargs)
        # Keras 3.15 leaves these arguments out of the config, so a saved Huber(2.0) reloads
        # as Huber(1.0) there (tf.keras 2 kept them): written when not the default, the
        # file stays Keras's own otherwise and Keras's constructor takes them back.
        for arg, default in _UNSAVED_BY_KERAS.get(type(self).__name__, {}).items():
            value = self._fn_kwargs.get(arg, default)
            if value != default and arg not in config:
                config[arg] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            fn = config["fn"]
            if isinstance(fn, dict):
                fn = fn.get("config")
            if isinstance(fn, str):
                from lamina.losses.lookup import _FUNCTIONS, _unknown
                from lamina.object_registry import get_registered_object

                # A user function (``custom_objects``, a scope, a registration) first.
                fn = get_registered_object(fn) or _FUNCTIONS.get(fn) or _unknown(fn)
            config["fn"] = fn
        return cls(**config)

    def __repr__(self):
        if type(self) is not LossFunctionWrapper:
            return super().__repr__()
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


def _serialize_fn(fn):
    return {
        "module": "builtins",
        "class_name": "function",
        "config": getattr(fn, "__name__", str(fn)),
        "registered_name": "function",
    }


def _simple(fn, default_name, doc):
    class _Simple(LossFunctionWrapper):
        def __init__(self, reduction="sum_over_batch_size", name=default_name, dtype=None):
            super().__init__(fn, reduction=reduction, name=name, dtype=dtype)

    _Simple.__doc__ = doc
    return _Simple


MeanSquaredError = _simple(mean_squared_error, "mean_squared_error", "Mean of squared errors.")
MeanAbsoluteError = _simple(mean_absolute_error, "mean_absolute_error", "Mean absolute error.")
MeanAbsolutePercentageError = _simple(
    mean_absolute_percentage_error, "mean_absolute_percentage_error", "Mean absolute % error."
)
MeanSquaredLogarithmicError = _simple(
    mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "Mean squared log error."
)
LogCosh = _simple(log_cosh, "log_cosh", "Logarithm of the hyperbolic cosine of the error.")
Hinge = _simple(hinge, "hinge", "Hinge loss.")
SquaredHinge = _simple(squared_hinge, "squared_hinge", "Squared hinge loss.")
CategoricalHinge = _simple(categorical_hinge, "categorical_hinge", "Categorical hinge loss.")
KLDivergence = _simple(kl_divergence, "kl_divergence", "Kullback-Leibler divergence.")
Poisson = _simple(poisson, "poisson", "Poisson loss.")
for _cls, _n in [
    (MeanSquaredError, "MeanSquaredError"),
    (MeanAbsoluteError, "MeanAbsoluteError"),
    (MeanAbsolutePercentageError, "MeanAbsolutePercentageError"),
    (MeanSquaredLogarithmicError, "MeanSquaredLogarithmicError"),
    (LogCosh, "LogCosh"),
    (Hinge, "Hinge"),
    (SquaredHinge, "SquaredHinge"),
    (CategoricalHinge, "CategoricalHinge"),
    (KLDivergence, "KLDivergence"),
    (Poisson, "Poisson"),
]:
    _cls.__name__ = _cls.__qualname__ = _n


class CosineSimilarity(LossFunctionWrapper):
    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _mask(self, y_true, y_pred):
        if self.ignore_class is None:
            return None
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[self.axis] == 1:
            y_true = jnp.squeeze(y_true, self.axis)
        return y_true != self.ignore_class

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
        }


_to_snake_case = snake_case
