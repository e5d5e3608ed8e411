"""Callbacks, fired between compiled chunks (never inside one), with Keras's hook names.

Hooks run as Keras 3 runs them, each with a ``logs`` dict: ``on_train_begin``, then per epoch
``on_epoch_begin``, the batch hooks, validation (``on_test_begin``, ``on_test_batch_*``,
``on_test_end``) and ``on_epoch_end``; ``evaluate`` calls the ``on_test_*`` hooks and
``predict`` the ``on_predict_*`` hooks (``on_predict_batch_end`` logs hold ``outputs``).  When a
callback overrides a batch hook, the engine runs ``steps_per_execution`` steps per compiled
call (one by default) and calls the hook after each, as Keras does; without such a callback
a whole epoch runs as one compiled program and the batch hooks fire only at chunk ends.

A callback's ``on_train_begin`` may return an epoch number to resume from
(``BackupAndRestore``); :meth:`CallbackList.on_train_begin` returns the largest.
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.callbacks.base import (
    BATCH_HOOKS,
    Callback,
    _duck_callback,
    overrides_hooks,
)
from lamina.callbacks.history_dict import HistoryDict as _HistoryDict
from lamina.callbacks.history_dict import log_value


class CallbackList:
    """Dispatches each hook to every callback, in order, always with a ``logs`` dict.

    Args:
        callbacks: the callbacks.
        model: the model, set on each callback (``callback.model``).
        params: ``{'verbose', 'epochs', 'steps'}``, set on each callback.

    >>> calls = []
    >>> class Log(Callback):
    ...     def on_train_begin(self, logs=None):
    ...         calls.append(dict(logs))
    >>> CallbackList([Log()], None, {}).on_train_begin()
    >>> calls
    [{}]
    """

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        self.model = model
        self.params = params
        for cb in self.callbacks:
            if not isinstance(cb, Callback) and not _duck_callback(cb):
                raise TypeError(
                    f"callbacks must be lamina.callbacks.Callback instances; received "
                    f"{type(cb).__name__}."
                )
            cb.set_model(model)
            cb.set_params(params)

    def append(self, callback):
        callback.set_model(self.model)
        callback.set_params(self.params)
        self.callbacks.append(callback)

    def overrides(self, kind) -> bool:
        """Whether any callback does something in the ``kind`` loop's batch hooks
        (``"train"``, ``"test"`` or ``"predict"``); Keras's base hooks do nothing."""
        return any(overrides_hooks(cb, BATCH_HOOKS[kind]) for cb in self.callbacks)

    def _call(self, hook, *args, logs=None):
        given = {} if logs is None else logs
        # Keras 2 callbacks read ``logs.get('acc')``/``logs['val_acc']`` (course code): the
        # callbacks see Keras 3's keys, answering those names too; what a callback adds to
        # the logs reaches the caller's dict.
        logs = _HistoryDict(given) if type(given) is dict else given
        out = []
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                out.append(fn(*args, logs))
        if logs is not given:
            given.update(logs)
        return out

    def on_train_begin(self, logs=None):
        """Runs every ``on_train_begin``; returns the epoch to resume from (the largest value
        a callback returned, e.g. ``BackupAndRestore``), or ``None``."""
        values = [v for v in self._call("on_train_begin", logs=logs) if isinstance(v, int)]
        return max(values) if values else None

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)


class History(Callback):
    """Records ``logs`` per epoch; ``model.fit`` returns it.

    Attributes:
        history: dict of lists, one per logged name (``loss``, metrics, ``val_...``); Keras 2's
            ``'lr'`` reads the ``'learning_rate'`` entry, while ``keys()`` stay Keras 3's.
        epoch: the epoch indices run.
        params: ``{'verbose', 'epochs', 'steps'}`` as Keras, plus ``compile_time``.
    """

    def __init__(self):
        super().__init__()
        self.history = _HistoryDict()
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def plot(self, metrics=None, ax=None):
        """Draws the learning curves; returns a matplotlib ``Figure`` (shown inline in Jupyter).

        See :func:`lamina.callbacks.plot.plot_history` for the arguments.
        """
        from lamina.callbacks.plot import plot_history

        return plot_history(self, metrics=metrics, ax=ax)

    def _repr_html_(self) -> str:
        """One row per epoch, one column per logged value: what a notebook shows."""
        from lamina.callbacks.plot import history_html

        return history_html(self)


class LambdaCallback(Callback):
    """A callback built from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving (Keras 3 semantics).

    Args:
        monitor: the logged quantity, e.g. ``"val_loss"``.
        min_delta: smallest change counted as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: a value the quantity must beat.
        restore_best_weights: restore the weights of the best epoch when stopping.
        start_from_epoch: epochs to wait before monitoring.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _check_mode(mode)
        self.monitor_op = None

    def _set_op(self):
        self.monitor_op = _monitor_op(self.mode, self.monitor, self.model)
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_op()
        current = log_value(logs, self.monitor)
        if current is None or epoch < self.start_from_epoch:
            if current is None:
                warnings.warn(
                    f"EarlyStopping is conditioned on {self.monitor!r}, which is not available. "
                    f"Available metrics are: {', '.join(logs or {})}.",
                    stacklevel=2,
                )
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def _improved(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss becomes NaN or infinite.

    Args:
        raise_error: ``False`` (Keras's default) stops gracefully (``model.stop_training``,
            so the other callbacks' ``on_train_end`` still run); ``True`` raises a
            ``RuntimeError`` at once, skipping them (Keras 3.15).

    >>> import numpy as np
    >>> import lamina
    >>> model = lamina.Sequential([lamina.Input((1,)), lamina.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.ones((4, 1), "float32"), np.full((4, 1), 1e30, "float32")  # loss overflows
    >>> stop = lamina.callbacks.TerminateOnNaN(raise_error=True)
    >>> model.fit(x, y, callbacks=[stop], verbose=0)
    Traceback (most recent call last):
    ...
    RuntimeError: NaN or Inf loss encountered at batch 0. Loss value: nan. Terminating training immediately.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:  # Keras's words
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True

    on_epoch_end = on_train_batch_end


def _check_mode(mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}.")
    return mode


def _monitor_op(mode, monitor, model):
    """Keras's rule: 'auto' maximizes accuracy-like and AUC-like metrics, else minimizes."""
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return np.less
    for m in getattr(model, "_compiled_metrics", None) or []:
        if m.name == name and getattr(m, "_direction", None) == "up":
            return np.greater
    if any(k in name for k in ("acc", "auc", "precision", "recall", "fmeasure")):
        return np.greater
    return np.less
