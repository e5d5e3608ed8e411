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
from collections.abc import Iterable

import numpy as np

from lamina import optimizers as _optimizers
from lamina.callbacks.core import Callback, _check_mode, _monitor_op
from lamina.callbacks.history_dict import log_value
from lamina.optimizers.multi_models import inner_optimizers, log_inner_rates


def get_lr(model) -> float:
    """The model's current learning rate (a Python float)."""
    ts = model.train_state
    if ts is None or ts.opt_state is None:
        lr = model.optimizer._learning_rate  # the configured rate: no state to read yet
        if not isinstance(lr, int | float | np.number):
            raise ValueError("The optimizer uses a learning-rate schedule; it has no single value.")
        return float(np.float32(lr))  # what the float32 state will hold, as Keras reads it
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
    # Keras's rate is one variable: the optimizer's config (get_config, the saved file, a
    # model compiled later with it) reads the rate a scheduler set, not the first one.
    opt = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    raw = opt.__dict__.get("_learning_rate")
    if isinstance(raw, int | float | np.number) and not isinstance(raw, bool):
        opt.__dict__["_learning_rate"] = float(str(np.float32(value)))


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
        inners = inner_optimizers(self.model)
        if inners is not None:  # a MultiOptimizer: each inner optimizer's rate, as Keras
            for opt in inners:
                new = self._new_rate(epoch, float(opt.learning_rate))
                opt.learning_rate = float(new)
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: LearningRateScheduler setting {opt.name} "
                        f"learning rate to {float(new)}."
                    )
            return
        new = self._new_rate(epoch, get_lr(self.model))
        set_lr(self.model, new)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}."
            )

    def _new_rate(self, epoch, lr):
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # Keras 1 style: schedule(epoch)
            new = self.schedule(epoch)
        if not isinstance(new, float | int | np.floating | np.integer):
            raise ValueError(
                f"The output of the schedule function should be a float. Got: {new!r}."
            )
        return new

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and inner_optimizers(self.model) is not None:
            log_inner_rates(self.model, logs)
        elif logs is not None:
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
        inners = inner_optimizers(self.model)
        if inners is not None:  # a MultiOptimizer: each inner optimizer's rate, as Keras
            log_inner_rates(self.model, logs)
        else:
            logs["learning_rate"] = get_lr(self.model)
        current = log_value(logs, self.monitor)
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
        if self.wait >= self.patience and inners is not None:
            reduced = False
            for opt in inners:
                old = float(opt.learning_rate)
                if old > np.float32(self.min_lr):
                    opt.learning_rate = max(old * self.factor, self.min_lr)
                    reduced = True
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing {opt.name} "
                            f"learning rate to {opt.learning_rate}."
                        )
            if reduced:
                self.cooldown_counter = self.cooldown
                self.wait = 0
        elif self.wait >= self.patience:
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
    """Writes one CSV row per epoch: ``epoch`` then the logs, in sorted order, as Keras.

    The columns are fixed at the first epoch of each ``fit``.  When that epoch's logs hold no
    ``val_`` entry (no validation data, or ``validation_freq`` skipping it), a ``val_<name>``
    column is added for every column, so validation results of later epochs have a place;
    a value missing from an epoch's logs is written ``NA``, and logs appearing only later are
    left out.  A 1-D array value is written ``"[a, b]"``.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (no header row when it already has one) instead of
            overwriting it.

    Example:

    >>> logger = CSVLogger("training.csv")
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        # Keras keeps this between fits; only an append onto an existing file recomputes it.
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=_dialect(self.sep)
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _dialect(separator):
    """Excel's CSV dialect (``\\r\\n`` line ends, minimal quoting) with ``separator``."""
    return type("CustomDialect", (csv.excel,), {"delimiter": separator})


def _csv_value(value):
    """A log value as Keras's CSVLogger writes it: iterables (not strings, not 0-d arrays)
    as ``"[a, b]"``, everything else as is.

    >>> _csv_value(np.array([1, 2])), _csv_value(np.float32(0.5)), _csv_value("NA")
    ('"[1, 2]"', np.float32(0.5), 'NA')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
        return f'"[{", ".join(map(str, value))}]"'
    return value


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
