"""Guardrails: warnings about likely mistakes in the model life cycle, each with its fix.

They run on the host, before anything is traced, from three places:

* :func:`on_compile` (``Sequential.compile``): the output layer and the loss disagree (softmax
  over one unit, a sigmoid/linear output with ``categorical_crossentropy``, a multi-unit softmax
  with ``binary_crossentropy``) or ``'accuracy'`` is asked of a ``mse`` model;
* :func:`on_fit` (``fit``): the targets look like class labels but the loss is a regression loss;
* :func:`on_train` (``fit``, ``train_on_batch``): a model compiled with trainable weights has
  none left (Keras 2's GAN recipe freezes the discriminator after compiling it);
* :func:`on_evaluate` (``evaluate``): the data is the training data again, or rows of it
  (say, the rows ``validation_split`` left for training): :class:`RowFingerprints` remembers
  the training rows by content.

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
import types
import warnings
from typing import Any

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
    frame: types.FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame, level = frame.f_back, level + 1
    off = " (Silence: lamina.config.set_guardrails(False) or LAMINA_GUARDRAILS=0.)"
    warnings.warn(message + off, GuardrailWarning, stacklevel=level)


def output_head(model: Any) -> tuple[str | None, int | None]:
    """The output activation's name and the number of output units, when they can be read.

    The last layer with ``units`` gives the width; a trailing ``Activation`` layer, or else
    that layer's own activation, gives the activation.
    """
    from lamina import activations

    act = None
    for layer in reversed(model.layers):
        while getattr(layer, "layer", None) is not None:  # TimeDistributed, Bidirectional ...
            layer = layer.layer
        units = getattr(layer, "units", None)
        fn = getattr(layer, "activation", None)
        if units is None and fn is not None and act is None:
            act = _act_name(activations, fn)
        if units is not None:
            if act is None or act == "linear":
                act = _act_name(activations, fn) if fn is not None else "linear"
            return act, int(units)
    return act, None


def _act_name(activations: Any, fn: Any) -> str | None:
    try:
        name = activations.serialize(fn)
    except Exception:  # a custom callable
        return getattr(fn, "__name__", None)
    return name if isinstance(name, str) else None


def _loss_name(loss: Any) -> str:
    return str(getattr(loss, "name", loss)).lower()


def _from_logits(loss: Any) -> bool:
    kwargs = getattr(loss, "_fn_kwargs", None) or {}
    return bool(kwargs.get("from_logits", getattr(loss, "from_logits", False)))


def on_compile(model: Any) -> None:
    """Checks the output layer against the loss and metrics just given to ``compile``."""
    settings = model.saving_view().compile_settings
    if not enabled() or settings is None:
        return
    act, units = output_head(model)
    loss = settings["loss"]
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
    metrics = [m for m in settings["metrics"] if isinstance(m, str)]
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


def _trains_anything(model: Any) -> bool:
    """Whether ``model`` (and some layer of it) is trainable: the flags only, nothing built."""
    if not getattr(model, "trainable", True):
        return False
    layers = list(getattr(model, "layers", None) or [])
    return not layers or any(getattr(layer, "trainable", True) for layer in layers)


def note_compile(model: Any) -> None:
    """Remembers whether the model was trainable when compiled (see :func:`on_train`)."""
    model.saving_view().notes["guardrail_trainable_at_compile"] = _trains_anything(model)


def on_train(model: Any) -> None:
    """Warns once when a model compiled while trainable is trained with everything frozen.

    Keras 2 fixed a model's trainable weights at ``compile``, so its GAN recipe compiled the
    discriminator, set ``discriminator.trainable = False`` and compiled the combined model:
    ``discriminator.train_on_batch`` still trained it.  Keras 3 reads the flags at training
    time, so the same code never trains the discriminator, silently.
    """
    notes = model.saving_view().notes
    if not enabled() or not notes.get("guardrail_trainable_at_compile"):
        return
    if notes.get("guardrail_frozen_warned") or _trains_anything(model):
        return
    notes["guardrail_frozen_warned"] = True
    warn(
        f"Model {getattr(model, 'name', '')!r} was compiled while trainable but is now frozen "
        "(trainable=False was set after compile()), so this training call changes none of its "
        "weights. Keras 3 (and Lamina) read `trainable` when training, not at compile() as "
        "Keras 2 did: in Keras 2's GAN recipe, set discriminator.trainable = True before "
        "discriminator.train_on_batch(...) and False before gan.train_on_batch(...)."
    )


def on_fit(model: Any, x: Any, y: Any) -> None:
    """Warns when class-like targets meet a regression loss; remembers the training data."""
    view = model.saving_view()
    view.notes["guardrail_fit_fingerprint"] = fingerprint(x)
    view.notes["guardrail_fit_rows"] = RowFingerprints.of(x) if enabled() else None
    if not enabled() or y is None:
        return
    name = _loss_name(view.compile_settings["loss"])
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


def on_evaluate(model: Any, x: Any, y: Any = None) -> None:
    """Warns when ``evaluate`` gets the data ``fit`` trained on, or a subset of its rows."""
    if not enabled():
        return
    notes = model.saving_view().notes
    seen = notes.get("guardrail_fit_fingerprint")
    if seen is not None and seen == fingerprint(x):
        warn(
            "evaluate() received the same data that fit() trained on: this estimates fit, not "
            "performance on unseen data. Hold out rows before fitting (a train/test split) and "
            "evaluate on those."
        )
        return
    rows = notes.get("guardrail_fit_rows")
    found = rows.overlap(x) if rows is not None else None
    if found is not None:
        hits, checked = found
        warn(
            f"evaluate() received rows that fit() trained on ({hits} of {checked} rows checked "
            f"were training rows): this estimates fit, not performance on unseen data. With "
            f"validation_split, fit trains on the first rows and validates on the last ones; "
            f"evaluate on rows held out before fitting (a train/test split)."
        )


def fingerprint(x: Any) -> tuple | None:
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


class RowFingerprints:
    """64-bit hashes of training rows, to recognize any of them again at ``evaluate``.

    Hashing every value of a large array would slow ``fit`` down, so rows are sampled *by
    content*: a cheap hash of a few high-variance columns picks the same rows whichever array
    they sit in (the whole training set, a slice, a shuffled subset), and only the picked rows
    are hashed in full.  At most ``BUDGET`` values are hashed, so a fit costs milliseconds.

    >>> x = np.random.default_rng(0).normal(size=(1000, 5)).astype(np.float32)
    >>> rows = RowFingerprints.of(x)
    >>> rows.overlap(x[::7][:50])[0] > 0
    True
    >>> rows.overlap(x + 1.0) is None
    True
    """

    #: Most values hashed in full, at fit and at evaluate.
    BUDGET = 1 << 22
    #: Share of the checked rows that must be training rows to warn (a test set may repeat a few).
    THRESHOLD = 0.5

    def __init__(
        self, row_shape: tuple, columns: np.ndarray, rate: float, hashes: np.ndarray | None
    ) -> None:
        self.row_shape, self.columns, self.rate, self.hashes = row_shape, columns, rate, hashes

    @staticmethod
    def _flat(x: Any) -> np.ndarray | None:
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] == 0 or x.dtype.kind not in "fiub":
            return None
        flat = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)
        return flat.view(np.uint32)

    @staticmethod
    def _mix(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """A 64-bit hash per row of ``values`` (uint32) over ``columns``: sum of keyed products."""
        keys = np.random.default_rng(columns.size).integers(
            1, 2**63, size=columns.size, dtype=np.uint64
        ) | np.uint64(1)
        every = columns.size == values.shape[1]
        h = np.empty(values.shape[0], np.uint64)
        # Blocks of rows keep the uint64 temporaries small (reused, not a fresh allocation
        # the size of the data set at every fit).
        step = max(1, (1 << 16) // max(1, columns.size))
        with np.errstate(over="ignore"):
            for start in range(0, values.shape[0], step):
                rows = values[start : start + step]
                block = (rows if every else rows[:, columns]).astype(np.uint64)
                block *= keys
                h[start : start + step] = block.sum(axis=1, dtype=np.uint64)
            return h ^ (h >> np.uint64(29))

    def _sampled_hashes(self, flat: np.ndarray, limit: int | None = None) -> np.ndarray:
        """The full-row hashes of the sampled rows of ``flat`` (at most ``limit`` of them),
        block by block: the sampled rows are never copied out as one array."""
        every = np.arange(flat.shape[1])
        out, count = [], 0
        step = max(1, (1 << 20) // max(1, flat.shape[1]))
        for start in range(0, flat.shape[0], step):
            picked = self._pick(flat[start : start + step])
            if limit is not None:
                picked = picked[: limit - count]
            if picked.shape[0]:
                out.append(self._mix(picked, every))
                count += picked.shape[0]
            if limit is not None and count >= limit:
                break
        return np.concatenate(out) if out else np.empty(0, np.uint64)

    def _pick(self, flat: np.ndarray) -> np.ndarray:
        """The rows whose cheap hash falls in the sampled share (the same rows in any array)."""
        if self.rate >= 1.0:
            return flat
        cheap = self._mix(flat, self.columns)
        with np.errstate(over="ignore"):
            u = (cheap * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        return flat[u < np.uint64(int(self.rate * (1 << 24)))]

    @classmethod
    def of(cls, x: Any) -> RowFingerprints | None:
        """The fingerprints of the rows of ``x`` (``None`` for data that is not a numeric array)."""
        try:
            flat = cls._flat(x)
        except Exception:
            return None
        if flat is None:
            return None
        n, d = flat.shape
        sample = flat[:: max(1, n // 1024)].view(np.float32)
        with np.errstate(invalid="ignore"):
            spread = np.nan_to_num(sample.var(axis=0))
        columns = np.sort(np.argsort(-spread, kind="stable")[:8])
        rate = min(1.0, cls.BUDGET / float(n * d))
        rows = cls(np.asarray(x).shape[1:], columns, rate, None)
        rows.hashes = np.unique(rows._sampled_hashes(flat))
        return rows

    def overlap(self, x: Any) -> tuple[int, int] | None:
        """``(hits, checked)`` when most sampled rows of ``x`` are training rows, else ``None``."""
        try:
            flat = self._flat(x)
        except Exception:
            return None
        if flat is None or self.hashes is None or self.hashes.size == 0:
            return None
        if np.asarray(x).shape[1:] != self.row_shape:
            return None
        hashes = self._sampled_hashes(flat, limit=max(1, self.BUDGET // flat.shape[1]))
        if hashes.shape[0] == 0:
            return None
        hits = int(np.isin(hashes, self.hashes, assume_unique=False).sum())
        if hits < self.THRESHOLD * hashes.shape[0]:
            return None
        return hits, int(hashes.shape[0])
