"""Guardrails: warnings about likely mistakes in the model life cycle, each with its fix.

They run on the host, before anything is traced, from three places:

* :func:`on_compile` (``Sequential.compile``): the output layer and the loss disagree (softmax
  over one unit, a sigmoid/linear output with ``categorical_crossentropy``, a multi-unit softmax
  with ``binary_crossentropy``) or ``'accuracy'`` is asked of a ``mse`` model;
* :func:`on_fit` (``fit``): the targets look like class labels but the loss is a regression loss;
* :func:`on_evaluate` (``evaluate``): the data is the training data again.

Turn them off with ``lamina.config.set_guardrails(False)`` or ``LAMINA_GUARDRAILS=0``.

>>> import warnings
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> model = Sequential([Dense(1, input_dim=3, activation="softmax")])
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     model.compile(optimizer="adam", loss="binary_crossentropy")
>>> "softmax over 1 unit" in str(caught[0].message)
True
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

#: Losses that treat the target as a number.
REGRESSION_LOSSES = {
    "mse",
    "mae",
    "mape",
    "msle",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "huber_loss",
    "log_cosh",
    "logcosh",
}
#: At most this many distinct integer targets look like classes.
MAX_CLASSES = 10
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GuardrailWarning(UserWarning):
    """A likely mistake; the message says how to fix it (or how to silence the check)."""


def enabled() -> bool:
    from lamina import config

    return config.guardrails_enabled()


def warn(message: str) -> None:
    """Warns at the first stack frame outside the lamina package (the user's call)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame, level = frame.f_back, level + 1
    off = " (Silence: lamina.config.set_guardrails(False) or LAMINA_GUARDRAILS=0.)"
    warnings.warn(message + off, GuardrailWarning, stacklevel=level)


def output_head(model) -> tuple[str | None, int | None]:
    """The output activation's name and the number of output units, when they can be read.

    The last layer with ``units`` gives the width; a trailing ``Activation`` layer, or else
    that layer's own activation, gives the activation.
    """
    from lamina import activations

    act = None
    for layer in reversed(model.layers):
        units = getattr(layer, "units", None)
        fn = getattr(layer, "activation", None)
        if units is None and fn is not None and act is None:
            act = _act_name(activations, fn)
        if units is not None:
            if act is None or act == "linear":
                act = _act_name(activations, fn) if fn is not None else "linear"
            return act, int(units)
    return act, None


def _act_name(activations, fn):
    try:
        name = activations.serialize(fn)
    except Exception:  # a custom callable
        return getattr(fn, "__name__", None)
    return name if isinstance(name, str) else None


def _loss_name(loss) -> str:
    return str(getattr(loss, "name", loss)).lower()


def _from_logits(loss) -> bool:
    kwargs = getattr(loss, "_fn_kwargs", None) or {}
    return bool(kwargs.get("from_logits", getattr(loss, "from_logits", False)))


def on_compile(model) -> None:
    """Checks the output layer against the loss and metrics just given to ``compile``."""
    if not enabled() or model._compiled is None:
        return
    act, units = output_head(model)
    loss = model._compiled["loss"]
    name = _loss_name(loss)
    if act == "softmax" and units == 1:
        warn(
            "The output layer is a softmax over 1 unit: it always outputs 1.0, so the model "
            "cannot learn. For two classes use Dense(1, activation='sigmoid') with "
            "binary_crossentropy; for n classes use Dense(n, activation='softmax')."
        )
    elif (
        name == "categorical_crossentropy"
        and act in ("sigmoid", "linear")
        and not _from_logits(loss)
    ):
        warn(
            f"categorical_crossentropy expects a probability distribution over classes, but the "
            f"output layer uses a {act!r} activation. Use Dense(n_classes, activation='softmax') "
            f"(or from_logits=True for a linear output); for two classes with one sigmoid unit "
            f"use binary_crossentropy."
        )
    elif name == "binary_crossentropy" and act == "softmax" and units and units > 1:
        warn(
            f"binary_crossentropy with a softmax over {units} units treats each unit as its own "
            f"yes/no question. For {units} exclusive classes use categorical_crossentropy "
            f"(one-hot targets) or sparse_categorical_crossentropy (integer targets); for two "
            f"classes use Dense(1, activation='sigmoid')."
        )
    metrics = [m for m in model._compiled["metrics"] if isinstance(m, str)]
    if name in ("mse", "mean_squared_error") and any(
        m.lower() in ("accuracy", "acc") for m in metrics
    ):
        if units == 1:
            chosen = "BinaryAccuracy (predictions rounded at 0.5 and compared with the targets)"
        elif units:
            chosen = (
                "SparseCategoricalAccuracy for integer targets or CategoricalAccuracy for "
                "one-hot targets (argmax of the outputs)"
            )
        else:
            chosen = "BinaryAccuracy for a 1-unit output, else (Sparse)CategoricalAccuracy"
        warn(
            f"metrics=['accuracy'] with loss 'mse': 'accuracy' resolves to {chosen}. That is only "
            f"meaningful for class targets: for classes prefer loss='binary_crossentropy' "
            f"(sigmoid) or 'sparse_categorical_crossentropy' (softmax); for a numeric target "
            f"use metrics=['mae'] instead of 'accuracy'."
        )


def on_fit(model, x, y) -> None:
    """Warns when class-like targets meet a regression loss; remembers the training data."""
    model._guardrail_fit_fingerprint = fingerprint(x)
    if not enabled() or y is None:
        return
    name = _loss_name(model._compiled["loss"])
    if name not in REGRESSION_LOSSES:
        return
    act, _ = output_head(model)
    if act in ("sigmoid", "softmax"):
        return  # a classifier trained with mse: on_compile already spoke about it
    y = np.asarray(y)
    if y.size == 0 or (y.ndim > 1 and y.shape[-1] != 1):
        return
    sample = y.reshape(-1)[:100_000]
    if not np.all(np.isfinite(sample)) or not np.all(sample == np.round(sample)):
        return
    values = np.unique(sample)
    if not 2 <= len(values) <= MAX_CLASSES or len(values) * 2 > sample.size:
        return
    shown = ", ".join(str(int(v)) for v in values[:MAX_CLASSES])
    warn(
        f"The targets look like class labels ({len(values)} distinct integers: {shown}) but "
        f"loss {name!r} treats them as numbers to regress. For classes use "
        f"Dense(1, activation='sigmoid') with binary_crossentropy (2 classes) or "
        f"Dense(n, activation='softmax') with sparse_categorical_crossentropy; if the target "
        f"really is a number, ignore this."
    )


def on_evaluate(model, x, y=None) -> None:
    """Warns when ``evaluate`` gets the very data ``fit`` trained on."""
    if not enabled():
        return
    seen = getattr(model, "_guardrail_fit_fingerprint", None)
    if seen is not None and seen == fingerprint(x):
        warn(
            "evaluate() received the same data that fit() trained on: this estimates fit, not "
            "performance on unseen data. Hold out rows before fitting (a train/test split) and "
            "evaluate on those."
        )


def fingerprint(x) -> tuple | None:
    """A cheap identity of an array: its shape plus the bytes of up to 256 evenly spaced rows."""
    try:
        x = np.asarray(x)
    except Exception:
        return None
    if x.ndim == 0 or x.shape[0] == 0:
        return None
    rows = np.unique(np.linspace(0, x.shape[0] - 1, num=min(256, x.shape[0])).astype(np.int64))
    sample = np.ascontiguousarray(x[rows], dtype=np.float32)
    return (x.shape, hash(sample.tobytes()))
