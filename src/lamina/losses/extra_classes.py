"""``Loss`` classes of Keras 3's newer losses (``CategoricalFocalCrossentropy``,
``CategoricalGeneralizedCrossEntropy``, ``Dice``, ``Tversky``, ``Circle``, ``CTC``), with
Keras's names and configs.

>>> CategoricalFocalCrossentropy(gamma=1.0).get_config()["gamma"]
1.0
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.losses.classes import Loss, LossFunctionWrapper
from lamina.losses.extra import (
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    circle,
    ctc,
    dice,
    tversky,
)


class _Configured(LossFunctionWrapper):
    """A wrapper whose config is ``Loss``'s plus the listed attributes (Keras's pattern)."""

    _keys: tuple[str, ...] = ()

    def get_config(self):
        config = Loss.get_config(self)
        config.update({k: getattr(self, k) for k in self._keys})
        return config


class CategoricalFocalCrossentropy(_Configured):
    """Focal crossentropy over one-hot labels (see :func:`categorical_focal_crossentropy`).

    >>> import numpy as np
    >>> round(float(CategoricalFocalCrossentropy()(np.eye(2), np.array([[0.9, 0.1], [0.2, 0.8]]))), 5)
    0.00125
    """

    _keys = ("from_logits", "label_smoothing", "axis", "alpha", "gamma")

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.alpha, self.gamma = alpha, gamma


class CategoricalGeneralizedCrossEntropy(_Configured):
    """Generalized cross entropy over integer labels (see
    :func:`categorical_generalized_cross_entropy`).

    Raises:
        ValueError: if ``q`` is not in (0, 1).

    >>> CategoricalGeneralizedCrossEntropy(q=0.3).get_config()["q"]
    0.3
    """

    _keys = ("q",)

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1). Received: q={q!r}")
        super().__init__(
            categorical_generalized_cross_entropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            q=q,
        )
        self.q = q

    def call(self, y_true, y_pred):  # integer labels: no squeeze/expand to y_pred's rank
        return categorical_generalized_cross_entropy(y_true, y_pred, self.q)


class Dice(_Configured):
    """Dice loss (see :func:`dice`); ``axis=None`` gives one value for the whole batch.

    >>> Dice(axis=(1,)).get_config()["axis"]
    (1,)
    """

    _keys = ("axis",)
    _zero_padding_rows = True  # sums over the batch: padding rows must add nothing

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(_Configured):
    """Tversky loss (see :func:`tversky`).

    >>> Tversky(alpha=0.7, beta=0.3).get_config()["alpha"]
    0.7
    """

    _keys = ("alpha", "beta", "axis")
    _zero_padding_rows = True  # sums over the batch: padding rows must add nothing

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        reduction="sum_over_batch_size",
        name="tversky",
        axis=None,
        dtype=None,
    ):
        super().__init__(
            tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis
        )
        self.alpha, self.beta, self.axis = alpha, beta, axis


class Circle(_Configured):
    """Circle loss over integer labels and L2-normalized embeddings (see :func:`circle`).

    As in Keras, samples with a zero loss are left out of the ``sum_over_batch_size`` mean.

    >>> Circle().get_config()["gamma"]
    80.0
    """

    _keys = ("gamma", "margin", "remove_diagonal")

    def __init__(
        self,
        gamma=80.0,
        margin=0.4,
        remove_diagonal=True,
        reduction="sum_over_batch_size",
        name="circle",
        dtype=None,
    ):
        super().__init__(
            circle,
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def call(self, y_true, y_pred):  # integer labels: no squeeze/expand to y_pred's rank
        return circle(
            y_true,
            y_pred,
            gamma=self.gamma,
            margin=self.margin,
            remove_diagonal=self.remove_diagonal,
        )

    def _mask(self, y_true, y_pred):
        return self.call(y_true, y_pred) > 0

    def per_sample(self, y_true, y_pred):
        """Per-sample values scaled by ``batch / nonzero`` so the compiled loop's batch mean is
        Keras's mean over the samples with a nonzero loss."""
        values = self.call(y_true, y_pred)
        nonzero = jnp.sum((values > 0).astype(values.dtype))
        scale = jnp.where(nonzero > 0, values.shape[0] / jnp.maximum(nonzero, 1.0), 0.0)
        return values * scale


class CTC(_Configured):
    """CTC loss (see :func:`ctc`): integer labels ``(batch, max_len)``, logits
    ``(batch, time, classes)``.

    >>> CTC().name
    'ctc'
    """

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):  # labels (batch, len) vs logits (batch, time, classes)
        return ctc(y_true, y_pred)
