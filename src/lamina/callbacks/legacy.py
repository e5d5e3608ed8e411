"""Keras 2's ``ModelCheckpoint`` arguments on Lamina's checkpoint callback.

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

from lamina.callbacks.checkpoint import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Saves the model (or its weights) at epoch ends; Keras 3's arguments plus Keras 2's.

    Args:
        filepath, monitor, verbose, save_best_only, save_weights_only, mode, save_freq,
            initial_value_threshold: as Keras 3's ``ModelCheckpoint``.
        period: Keras 2: save every ``period`` epochs (default 1, every epoch).

    Raises:
        ValueError: ``period`` is not a positive integer, or as Keras 3's ``ModelCheckpoint``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, period=None):  # fmt: skip
        if period is not None:
            warnings.warn(
                "ModelCheckpoint(period=...) is the Keras 2 spelling (Keras 3 has save_freq); "
                "Lamina saves every `period` epochs as Keras 2 did.",
                UserWarning,
                stacklevel=2,
            )
        if isinstance(period, bool) or (period is not None and int(period) < 1):
            raise ValueError(f"ModelCheckpoint(period=...) must be >= 1. Received: {period!r}.")
        path = str(filepath)
        keras2_weights = save_weights_only and path.lower().endswith(".hdf5")
        if keras2_weights:  # Keras 2 wrote HDF5 weights under any .h5/.hdf5 name: check as .h5
            filepath = path[: -len(".hdf5")] + ".h5"
        super().__init__(filepath, monitor=monitor, verbose=verbose,
                         save_best_only=save_best_only, save_weights_only=save_weights_only,
                         mode=mode, save_freq=save_freq,
                         initial_value_threshold=initial_value_threshold)  # fmt: skip
        if keras2_weights:
            self.filepath = path  # saved in the legacy .h5 layout, which .hdf5 names too
        self.period = 1 if period is None else int(period)
        self._epochs_since_last_save = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_since_last_save += 1
        if self._epochs_since_last_save < self.period:
            return
        self._epochs_since_last_save = 0
        super().on_epoch_end(epoch, logs)
