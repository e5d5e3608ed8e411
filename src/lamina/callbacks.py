"""Callbacks (``lamina.callbacks``, as ``keras.callbacks``)."""

from lamina.training.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LambdaCallback,
    TerminateOnNaN,
)
from lamina.training.progress import ProgbarLogger

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ProgbarLogger",
    "TerminateOnNaN",
]
