"""Fit-time checks of targets against the loss and the model's output, before tracing."""

from __future__ import annotations

import numpy as np

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
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from lamina.losses.functions import (
    _same_rank_shapes,
)
from lamina.losses.lookup import resolve


def _dims_agree(a, b) -> bool:
    """Shapes agree where both are known: a ``None`` dimension (e.g. a variable sequence
    length of the model's output) matches any size."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


_ELEMENTWISE = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    LogCosh,
    Huber,
    Hinge,
    SquaredHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CosineSimilarity,
    CategoricalHinge,
)


def check_targets(loss, y_shape, y_dtype_kind, output_shape, y_sample=None) -> None:
    """Validates targets against the loss and the model output before tracing.

    ``y_shape``/``output_shape`` include the batch dimension; ``y_dtype_kind`` is a NumPy dtype
    kind (``'i'``, ``'u'``, ``'f'``, ``'b'``); ``y_sample`` (optional, host array) enables the
    range check of sparse labels. Raises ``ValueError`` saying what was expected, what was
    received and how to fix it.
    """
    loss = resolve(loss)
    if loss is None:  # compile() without a loss: the model's add_loss terms are the loss
        return
    y_shape, out_shape = tuple(y_shape), tuple(output_shape)
    units = out_shape[-1] if len(out_shape) > 1 else 1
    name = loss.name
    if isinstance(loss, CategoricalCrossentropy):
        if units > 1 and (len(y_shape) < len(out_shape) or y_shape[-1] == 1):
            raise ValueError(
                f"Loss {name!r}: integer labels with categorical_crossentropy: use "
                "sparse_categorical_crossentropy or lamina.utils.to_categorical. Expected one-hot "
                f"targets of shape (batch, {units}); received y with shape {y_shape} "
                f"(dtype kind {y_dtype_kind!r}) for a model output of shape {out_shape}."
            )
        if len(y_shape) != len(out_shape) or y_shape[-1] != units:
            raise ValueError(
                f"Loss {name!r}: y has {y_shape[-1]} columns but the model outputs {units}. "
                f"Expected one-hot targets of shape (batch, {units}); received y with shape "
                f"{y_shape}. Fix the number of classes in the last layer or in the labels."
            )
        return
    if isinstance(loss, SparseCategoricalCrossentropy):
        ok = len(y_shape) == len(out_shape) - 1 or (
            len(y_shape) == len(out_shape) and y_shape[-1] == 1
        )
        if not ok:
            raise ValueError(
                f"Loss {name!r}: expected integer class labels of shape (batch,) or (batch, 1); "
                f"received y with shape {y_shape} for a model output of shape {out_shape}. For "
                "one-hot labels use categorical_crossentropy (or argmax the labels)."
            )
        if y_sample is not None:
            ys = np.asarray(y_sample)
            if ys.size:
                valid = ys if loss.ignore_class is None else ys[ys != loss.ignore_class]
                if valid.size:
                    lo, hi = valid.min(), valid.max()
                    if lo < 0 or hi >= units:
                        raise ValueError(
                            f"Loss {name!r}: sparse labels out of range: expected integers in "
                            f"[0, {units}) for a model with {units} output units; received "
                            f"labels from {lo} to {hi}. Make the last layer output "
                            f"{int(hi) + 1} units or re-encode the labels to 0..{units - 1}."
                        )
        return
    if isinstance(loss, _ELEMENTWISE):
        s_true, s_pred = _same_rank_shapes(y_shape, out_shape)
        differ = not _dims_agree(s_true[1:], s_pred[1:])
        if differ and len(out_shape) > 2 and len(y_shape) < len(out_shape):
            raise ValueError(
                f"Loss {name!r}: the model outputs shape {out_shape} (rank {len(out_shape)}: "
                f"values per step or position of each sample) but y has shape {y_shape}. A "
                "model without an input shape is built from x's shape, and Dense acts on the "
                "last axis only, keeping the others. For one output per sample, flatten x "
                "(x.reshape(len(x), -1)) or add Flatten() (or GlobalAveragePooling1D()) before "
                f"the last Dense layer; otherwise give y the shape {out_shape}."
            )
        if differ:
            cols_y = y_shape[-1] if len(y_shape) > 1 else 1
            raise ValueError(
                f"Loss {name!r}: y has {cols_y} columns but the model outputs {units}. Expected "
                f"targets of shape {out_shape} (or (batch,) for a 1-unit output); received y with "
                f"shape {y_shape}. Make the last layer output {cols_y} units or reshape y."
            )
