"""Callbacks (``lamina.callbacks``, as ``keras.callbacks``)."""

from lamina.training.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LambdaCallback,
    TerminateOnNaN,
)
from lamina.training.callbacks_extra import (
    CSVLogger,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TensorBoard,
)
from lamina.training.checkpoint import BackupAndRestore as BackupAndRestore
from lamina.training.checkpoint import ModelCheckpoint as ModelCheckpoint
from lamina.training.progress import ProgbarLogger

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
