"""Keras 2's callback APIs that Keras 3 dropped: ``ModelCheckpoint(period=)``,
``Callback.validation_data`` and ``BaseLogger``.

Keras 2's ``ModelCheckpoint(filepath, ..., period=1)`` saved every ``period`` epochs (Keras 3
replaced it by ``save_freq``), and its tutorials save weights to ``*.hdf5`` files
(``save_weights_only=True``), which Keras 3 refuses.  This subclass keeps both.

>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     cb = ModelCheckpoint("weights.best.hdf5", monitor="val_acc", save_best_only=True,
...                          save_weights_only=True, mode="max", period=2)
>>> cb.period, cb.mode
(2, 'max')
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.callbacks.checkpoint import ModelCheckpoint as _ModelCheckpoint
from lamina.callbacks.core import Callback as _Callback


class ModelCheckpoint(_ModelCheckpoint):
    """Saves the model (or its weights) at epoch ends; Keras 3's arguments plus Keras 2's.

    Args:
        filepath, monitor, verbose, save_best_only, save_weights_only, mode, save_freq,
            initial_value_threshold: as Keras 3's ``ModelCheckpoint``.
        period: Keras 2: save every ``period`` epochs (default 1, every epoch).
        options: tf.keras 2's ``tf.train.CheckpointOptions``; accepted and unused.

    Raises:
        ValueError: ``period`` is not a positive integer, or as Keras 3's ``ModelCheckpoint``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, period=None, options=None):  # fmt: skip
        if period is not None:
            warnings.warn(
                "ModelCheckpoint(period=...) is the Keras 2 spelling (Keras 3 has save_freq); "
                "Lamina saves every `period` epochs as Keras 2 did.",
                UserWarning,
                stacklevel=2,
            )
        if isinstance(period, bool) or (period is not None and int(period) < 1):
            raise ValueError(f"ModelCheckpoint(period=...) must be >= 1. Received: {period!r}.")
        del options  # tf.keras 2's tf.train.CheckpointOptions: TensorFlow's I/O device
        super().__init__(filepath, monitor=monitor, verbose=verbose,
                         save_best_only=save_best_only, save_weights_only=save_weights_only,
                         mode=mode, save_freq=save_freq,
                         initial_value_threshold=initial_value_threshold)  # fmt: skip
        self.period = 1 if period is None else int(period)
        self._epochs_since_last_save = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_since_last_save += 1
        if self._epochs_since_last_save < self.period:
            return
        self._epochs_since_last_save = 0
        super().on_epoch_end(epoch, logs)


def validation_arrays(x, y, sample_weight) -> list:
    """Keras 2's ``callback.validation_data``: the validation inputs, targets and sample
    weights of a fit, as one flat list of arrays (``[x_val, y_val, sample_weight]`` for a
    model with one input and one output; each output's weights are ones when none were given).

    Callbacks written for Keras 2 read ``self.validation_data[0]`` and ``[1]`` in
    ``on_epoch_end`` (an F1 or ROC AUC callback); Keras 3 dropped the attribute.

    Args:
        x: validation inputs: an array, or a list/tuple/dict of arrays.
        y: validation targets (an array or a list/tuple/dict of arrays), or None.
        sample_weight: an array of per-row weights, or None.

    Returns:
        The list Keras 2 set on every callback.

    >>> import numpy as np
    >>> data = validation_arrays(np.zeros((3, 2)), np.ones((3, 1)), None)
    >>> [a.shape for a in data]
    [(3, 2), (3, 1), (3,)]
    """
    xs = _flat(x)
    ys = [] if y is None else _flat(y)
    n = len(xs[0]) if xs else 0
    if sample_weight is not None:
        weights = [np.asarray(w) for w in _flat(sample_weight)]
    else:
        weights = [np.ones((n,), np.float32) for _ in ys]
    return xs + ys + weights


def set_validation_data(callbacks, arrays) -> None:
    """Sets Keras 2's ``validation_data`` on each callback that has none of its own (a
    callback given its validation arrays in ``__init__`` keeps them; one set by an earlier
    fit is replaced, as Keras 2 replaced it)."""
    for cb in callbacks:
        held = getattr(cb, "validation_data", None)
        if held is None or held is getattr(cb, "_fit_validation_data", None):
            cb.validation_data = cb._fit_validation_data = arrays


def _flat(value) -> list:
    if isinstance(value, dict):
        return [np.asarray(v) for v in value.values()]
    if isinstance(value, list | tuple):
        return [np.asarray(v) for v in value]
    return [np.asarray(value)]


class BaseLogger(_Callback):
    """Keras 2's ``BaseLogger``: the callback that averaged each metric over an epoch's batches
    into the epoch-end ``logs``; Keras 2 added it to every ``fit`` itself.

    Lamina's (and Keras 3's) epoch-end logs already hold those averages (and the results of
    stateful metrics), so adding it explicitly, as some Keras 2 scripts do, changes nothing.

    Args:
        stateful_metrics: names of metrics Keras 2 did not average (their last value); kept
            as an attribute.

    >>> from lamina.callbacks import BaseLogger
    >>> BaseLogger(stateful_metrics=["auc"]).stateful_metrics
    {'auc'}
    """

    def __init__(self, stateful_metrics=None):
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or [])
