"""More Keras callbacks: ``ReduceLROnPlateau``, ``LearningRateScheduler``, ``CSVLogger``,
``TensorBoard``.

A learning rate lives in the optimizer state as a float32 scalar array
(:func:`lamina.optimizers.get_learning_rate` / :func:`~lamina.optimizers.set_learning_rate`),
so changing it between epochs swaps one array in the training state: nothing recompiles.

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> from lamina.callbacks import LearningRateScheduler
>>> model = Sequential([Dense(1, input_dim=2)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> sched = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
>>> h = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0, callbacks=[sched])
>>> [round(v, 3) for v in h.history["learning_rate"]]
[0.1, 0.05]
"""

from __future__ import annotations

import csv
import os

import numpy as np

from lamina import optimizers as _optimizers
from lamina.callbacks.core import Callback, _check_mode, _monitor_op


def get_lr(model) -> float:
    """The model's current learning rate (a Python float)."""
    ts = model.train_state
    if ts is None or ts.opt_state is None:
        lr = model.optimizer._learning_rate  # the configured rate: no state to read yet
        if not isinstance(lr, int | float):
            raise ValueError("The optimizer uses a learning-rate schedule; it has no single value.")
        return float(lr)
    return float(_optimizers.get_learning_rate(ts.opt_state))


def set_lr(model, value) -> None:
    """Sets the model's learning rate in its optimizer state (no recompilation)."""
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"The learning rate must be a finite float >= 0. Received: {value!r}.")
    ts = model.train_state  # the optimizer state exists once the model is compiled and built
    if ts is None or ts.opt_state is None:
        raise ValueError("The learning rate can only be set on a compiled, built model.")
    model.train_state = ts._replace(opt_state=_optimizers.set_learning_rate(ts.opt_state, value))


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    Args:
        schedule: function of ``(epoch, current_lr)`` (or just ``epoch``) returning a float.
        verbose: 1 prints each change.

    Example:

    >>> sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = get_lr(self.model)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # Keras 1 style: schedule(epoch)
            new = self.schedule(epoch)
        if not isinstance(new, float | int | np.floating | np.integer):
            raise ValueError(
                f"The output of the schedule function should be a float. Got: {new!r}."
            )
        set_lr(self.model, new)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_lr(self.model)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` stops improving.

    Args:
        monitor: the logged quantity, e.g. ``"val_loss"``.
        factor: new_lr = lr * factor (< 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: smallest change counted as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.

    Example:

    >>> cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=1e-5)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}."
            )
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode(mode)
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        self.monitor_op = None

    def on_train_begin(self, logs=None):
        self._reset()

    def _better(self, current):
        if self.best is None:
            return True
        if self.monitor_op is np.less:
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = get_lr(self.model)
        current = logs.get(self.monitor)
        if current is None:
            import warnings

            warnings.warn(
                f"ReduceLROnPlateau is conditioned on {self.monitor!r}, which is not available. "
                f"Available metrics are: {', '.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.monitor_op is None:
            self.monitor_op = _monitor_op(self.mode, self.monitor, self.model)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = get_lr(self.model)
            if old > np.float32(self.min_lr):
                new = max(old * self.factor, self.min_lr)
                set_lr(self.model, new)
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                    )
                self.cooldown_counter = self.cooldown
                self.wait = 0


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` then the logs, in sorted order.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (no header row repeated) instead of overwriting.

    Example:

    >>> logger = CSVLogger("training.csv")
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._write_header = not has_rows
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self.keys], delimiter=self.sep
            )
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoard(Callback):
    """Writes the epoch logs as TensorBoard scalars (``epoch_loss``, ...) under ``log_dir``.

    Training logs go to ``log_dir/train``, ``val_`` logs to ``log_dir/validation``, as Keras.
    Needs ``tensorboardX`` (``pip install "lamina[tensorboard]"``) or ``tensorboard``.

    Args:
        log_dir: the directory of the event files.

    Raises:
        ImportError: neither ``tensorboardX`` nor ``tensorboard`` is installed.

    Example:

    >>> cb = TensorBoard("logs/run1")  # doctest: +SKIP
    """

    def __init__(self, log_dir="logs", **kwargs):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self._writer_cls = _summary_writer_class()
        self._writers = {}

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = self._writer_cls(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            run, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(run).add_scalar(f"epoch_{tag}", float(value), epoch)

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    except ImportError:
        pass
    try:
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError(
            "TensorBoard needs tensorboardX or tensorboard to write event files: "
            "pip install \"lamina[tensorboard]\""
        ) from None

    class _Writer:  # the little of SummaryWriter used here, on tensorboard's own writer
        def __init__(self, logdir):
            self._w = EventFileWriter(logdir)

        def add_scalar(self, tag, value, step):
            from tensorboard.compat.proto.event_pb2 import Event

            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            self._w.add_event(Event(summary=summary, step=step))

        def close(self):
            self._w.close()

    return _Writer
