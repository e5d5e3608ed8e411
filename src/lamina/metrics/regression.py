"""Regression, probabilistic and hinge metrics (means of the Keras loss functions)."""

from __future__ import annotations

import jax.numpy as jnp

from lamina import losses as L
from lamina.metrics.base import Mean, MeanMetricWrapper


def cosine_similarity(y_true, y_pred, axis=-1):
    """Metric version: positive cosine similarity (the loss negates it)."""
    return -L.cosine_similarity(y_true, y_pred, axis=axis)


def _wrapper(fn, default_name, class_name):
    class _W(MeanMetricWrapper):
        def __init__(self, name=default_name, dtype=None):
            super().__init__(fn, name=name, dtype=dtype)

    _W.__name__ = _W.__qualname__ = class_name
    _W.__doc__ = f"Weighted mean of ``{fn.__name__}`` (Keras ``{class_name}``)."
    return _W


MeanSquaredError = _wrapper(L.mean_squared_error, "mean_squared_error", "MeanSquaredError")
MeanAbsoluteError = _wrapper(L.mean_absolute_error, "mean_absolute_error", "MeanAbsoluteError")
MeanAbsolutePercentageError = _wrapper(
    L.mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "MeanAbsolutePercentageError",
)
MeanSquaredLogarithmicError = _wrapper(
    L.mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "MeanSquaredLogarithmicError",
)
LogCoshError = _wrapper(L.log_cosh, "logcosh", "LogCoshError")
KLDivergence = _wrapper(L.kl_divergence, "kl_divergence", "KLDivergence")
Poisson = _wrapper(L.poisson, "poisson", "Poisson")
Hinge = _wrapper(L.hinge, "hinge", "Hinge")
SquaredHinge = _wrapper(L.squared_hinge, "squared_hinge", "SquaredHinge")
CategoricalHinge = _wrapper(L.categorical_hinge, "categorical_hinge", "CategoricalHinge")


class CosineSimilarity(MeanMetricWrapper):
    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


class RootMeanSquaredError(Mean):
    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true = jnp.asarray(y_true, jnp.float32)
        y_pred = jnp.asarray(y_pred, jnp.float32)
        y_true, y_pred = L.squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().update(state, jnp.square(y_pred - y_true), sample_weight)

    def compute(self, state):
        return jnp.sqrt(super().compute(state))


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0
    ):
        super().__init__(
            L.binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits, self.label_smoothing = from_logits, label_smoothing

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(
        self,
        name="categorical_crossentropy",
        dtype=None,
        from_logits=False,
        label_smoothing=0,
        axis=-1,
    ):
        super().__init__(
            L.categorical_crossentropy,
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


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(
        self,
        name="sparse_categorical_crossentropy",
        dtype=None,
        from_logits=False,
        ignore_class=None,
        axis=-1,
    ):
        super().__init__(
            L.sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def update(self, state, y_true, y_pred, sample_weight=None):
        values = self.values(y_true, y_pred)
        if self.ignore_class is not None and sample_weight is not None:
            # Keras applies the ignore_class mask only when weights are given: it then zeroes
            # those samples' weights; unweighted, ignored samples count as zero-loss samples.
            yt = jnp.asarray(y_true)
            yp = jnp.asarray(y_pred)
            if yt.ndim == yp.ndim and yt.shape[-1] == 1:
                yt = jnp.squeeze(yt, -1)
            mask = (yt != self.ignore_class).astype(jnp.float32)
            if sample_weight is not None:
                sw = jnp.asarray(sample_weight, jnp.float32)
                if sw.ndim < mask.ndim:
                    sw = jnp.reshape(sw, sw.shape + (1,) * (mask.ndim - sw.ndim))
                mask = mask * sw
            sample_weight = mask
        return Mean.update(self, state, values, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }
