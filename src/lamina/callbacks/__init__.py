"""Callbacks (``lamina.callbacks``, as ``keras.callbacks``)."""

from lamina.callbacks.callback_list import CallbackList
from lamina.callbacks.checkpoint import BackupAndRestore as BackupAndRestore
from lamina.callbacks.core import (
    Callback,
    EarlyStopping,
    History,
    LambdaCallback,
    TerminateOnNaN,
)
from lamina.callbacks.ema import SwapEMAWeights
from lamina.callbacks.extra import (
    CSVLogger,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TensorBoard,
)
from lamina.callbacks.legacy import BaseLogger  # Keras 2
from lamina.callbacks.legacy import ModelCheckpoint as ModelCheckpoint  # + Keras 2 period
from lamina.callbacks.progress import ProgbarLogger
from lamina.callbacks.remote import RemoteMonitor

__all__ = [
    "BaseLogger",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("callbacks", globals())  # Keras names Lamina lacks: a clear error
