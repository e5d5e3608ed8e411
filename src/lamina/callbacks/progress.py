"""Keras-style progress output, updated once per compiled chunk.

``verbose=1`` on a terminal: an ``Epoch k/N`` line, then a live bar redrawn in place with the
step count, the ETA, the time per step and the running metrics; drawn with ``rich`` when it is
installed, else with plain text and carriage returns::

    Epoch 3/10
    12/24 ━━━━━━━━━━────────── ETA 0s 4ms/step - accuracy: 0.7104 - loss: 0.5532

``verbose=1`` when output is piped (CI, a log file): one plain line per epoch, never a
carriage return::

    Epoch 3/10 - 24/24 - 0s - 4ms/step - accuracy: 0.7104 - loss: 0.5532

``verbose=2``: Keras 3's text, line for line (the ``Epoch k/N`` line only when ``epochs`` > 1,
the elapsed time in whole seconds, a log value of at most ``1e-3`` in exponent form)::

    Epoch 3/10
    24/24 - 0s - 4ms/step - accuracy: 0.7104 - loss: 0.5532

In Jupyter (an IPython kernel), ``verbose=1`` shows the same bar as one output line updated in
place (:mod:`lamina.callbacks.notebook`).  When the number of steps is unknown (a generator
without ``steps_per_epoch``), the first epoch counts up as Keras does (``12/Unknown``) and later
epochs use the count the first one found.

``verbose=0``: nothing.

>>> import io
>>> from lamina.callbacks.progress import ProgbarLogger
>>> out = io.StringIO()
>>> bar = ProgbarLogger(verbose=2, stream=out)
>>> bar.set_params({"epochs": 1, "steps": 4})
>>> bar.on_epoch_begin(0); bar.on_epoch_end(0, {"loss": 0.5})
>>> out.getvalue().startswith("4/4 - ")
True
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

import numpy as np

from lamina.callbacks import notebook as _notebook
from lamina.callbacks.core import Callback

#: ``auto`` uses rich when installed; ``plain`` forces the text bar (``LAMINA_PROGRESS``).
BACKENDS = ("auto", "rich", "plain")


def resolve_verbose(verbose: int | str | bool) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) and not isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}.")
    return int(verbose)


def format_logs(logs: dict, verbose: int = 1) -> str:
    """``name: value`` pairs joined by `` - ``; ``verbose=2`` formats values as Keras 3's
    ``verbose=2`` lines do (``.4f`` above ``1e-3``, else ``.4e``: zero and negative values too).

    >>> format_logs({"loss": 0.25, "acc": 0.0}), format_logs({"loss": -0.5}, verbose=2)
    ('loss: 0.2500 - acc: 0.0000', 'loss: -5.0000e-01')
    """
    fmt = _fmt_keras2 if verbose == 2 else _fmt
    return " - ".join(f"{k}: {fmt(v)}" for k, v in logs.items())


def _fmt(v: Any) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


def _fmt_keras2(v: Any) -> str:
    # Keras 3's Progbar, verbose=2: ``avg > 1e-3`` (not ``abs``) picks the fixed-point form.
    try:
        v = float(np.mean(v))
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4f}" if v > 1e-3 else f"{v:.4e}"


def _per_step(seconds: float, steps: int) -> str:
    if steps <= 0:
        return ""
    t = seconds / steps
    if t >= 1 or t == 0:
        return f"{t:.0f}s/step"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/step"
    return f"{t * 1e6:.0f}us/step"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"


def bar_text(done: int, total: int, width: int) -> str:
    """The bar itself: ``width`` cells, filled ``━`` and empty ``─``."""
    filled = int(width * done / max(total, 1))
    filled = min(width, max(0, filled))
    return "━" * filled + "─" * (width - filled)


def _rich_available() -> bool:
    try:
        import rich.console  # noqa: F401
    except ImportError:
        return False
    return True


def is_live(stream: TextIO | None = None) -> bool:
    """Whether progress output can be redrawn in place: a terminal, or a Jupyter kernel's output.

    Args:
        stream: the stream written to; ``None`` means ``sys.stdout``, which in Jupyter is live.

    Returns:
        ``True`` for a terminal or a notebook cell, ``False`` for a pipe or a file.
    """
    if stream is None and _notebook.in_notebook():
        return True
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgbarLogger(Callback):
    """Prints Keras-style progress for ``fit``; added by ``fit`` when ``verbose`` > 0.

    Args:
        verbose: 1 for a live bar (one line per epoch when piped), 2 for one line per epoch.
        stream: where to write; ``sys.stdout`` (read at each write) when ``None``.
        width: the bar's width in characters.
        backend: ``"auto"`` (rich when installed, else plain), ``"rich"`` or ``"plain"``;
            the environment variable ``LAMINA_PROGRESS`` sets the default.

    Example:

    >>> import io
    >>> out = io.StringIO()  # not a terminal: one line per epoch
    >>> bar = ProgbarLogger(verbose=1, stream=out)
    >>> bar.set_params({"epochs": 2, "steps": 3})
    >>> for e in range(2):
    ...     bar.on_epoch_begin(e); bar.on_train_batch_end(2, {"loss": 1.0})
    ...     bar.on_epoch_end(e, {"loss": 1.0})
    >>> len(out.getvalue().splitlines()), "\\r" in out.getvalue()
    (2, False)
    """

    def __init__(
        self,
        verbose: int = 1,
        stream: TextIO | None = None,
        width: int = 20,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.width = width
        backend = backend or os.environ.get("LAMINA_PROGRESS", "auto")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}.")
        self.backend = backend
        self._rich: Any = None  # the rich Live display of the current epoch
        self._line: _notebook.LiveLine | None = None  # the notebook line of the current epoch
        self._start: float | None = None
        self._steps: int | None = None  # None: unknown (a generator without steps_per_epoch)
        self._seen = 0
        self._known_steps: int | None = None  # what the first epoch of unknown length counted

    @property
    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def _live(self) -> bool:
        return self.verbose == 1 and is_live(self.stream)

    def _use_notebook(self) -> bool:
        return self.stream is None and _notebook.in_notebook()

    def _use_rich(self) -> bool:
        if self.backend == "plain":
            return False
        return _rich_available()

    # ----------------------------------------------------------------- hooks
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._steps = self.params.get("steps") or self._known_steps
        self._seen = 0
        self._header = f"Epoch {epoch + 1}/{self.params.get('epochs')}"
        if self._live():
            if self._use_notebook():
                self._line = _notebook.LiveLine(self._header)
            else:
                self._write(self._header + "\n")
                if self._use_rich():
                    self._rich_begin()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._seen = batch + 1
        if not self._live():
            return
        done = self._seen
        start = self._start if self._start is not None else time.perf_counter()
        elapsed = time.perf_counter() - start
        stats = f"{_per_step(elapsed, done)} - {format_logs(logs or {})}".rstrip(" -")
        if self._steps is None:  # Keras's running count: no total, no bar, no ETA
            self._show(done, None, f"{_duration(elapsed)} {stats}")
            return
        total = max(self._steps, done)
        eta = elapsed / done * (total - done)
        self._show(done, total, f"ETA {_duration(eta)} {stats}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        start = self._start if self._start is not None else time.perf_counter()
        elapsed = time.perf_counter() - start
        steps = self._steps or self._seen
        if self._steps is None and self._seen:
            self._known_steps = self._seen  # later epochs show a bar against this count
        if self.verbose == 2:
            self._write(self._keras_verbose_2(epoch, steps, elapsed, logs or {}))
            return
        stats = f"{_per_step(elapsed, steps)} - {format_logs(logs or {})}".rstrip(" -")
        if not self._live():
            self._write(f"{self._header} - {steps}/{steps} - {_duration(elapsed)} - {stats}\n")
            return
        self._show(steps, steps, f"{_duration(elapsed)} {stats}")
        if self._rich is not None:
            self._rich_end()
        elif self._line is not None:
            self._line = None
        else:
            self._write("\n")

    def _keras_verbose_2(self, epoch: int, steps: int, elapsed: float, logs: dict) -> str:
        """Keras 3's ``verbose=2`` text of one epoch: its ``Epoch k/N`` line (when ``epochs``
        > 1, as Keras's ``ProgbarLogger``), then the step count, time and logs."""
        epochs = self.params.get("epochs") or 1
        header = f"Epoch {epoch + 1}/{epochs}\n" if epochs > 1 else ""
        return header + evaluation_line(steps, elapsed, logs, verbose=2) + "\n"

    def _show(self, done: int, total: int | None, stats: str) -> None:
        """Redraws the live line: ``done/total bar stats`` (``done/Unknown stats`` without a total)."""
        if total is None:
            text = f"{done}/Unknown {stats}"
        else:
            text = f"{done}/{total} {bar_text(done, total, self.width)} {stats}"
        if self._line is not None:
            self._line.update(f"{self._header}\n{text}")
        elif self._rich is not None:
            self._rich_update(done, total, stats)
        else:
            self._write(f"\r{text}\x1b[K")

    def on_train_end(self, logs: dict | None = None) -> None:
        self._rich_end()

    # ------------------------------------------------------------------ rich
    def _rich_begin(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self._out, force_terminal=True, highlight=False)
        self._rich = Live(console=console, auto_refresh=False, transient=False)
        self._rich.start()
        self._rich_update(0, self._steps, "")

    def _rich_update(self, done: int, total: int | None, stats: str) -> None:
        from rich.text import Text

        line = Text(no_wrap=True, overflow="ellipsis")
        if total is None:
            line.append(f"{done}/Unknown {stats}")
            self._rich.update(line, refresh=True)
            return
        total = max(total, 1)
        filled = len(bar_text(done, total, self.width).rstrip("─"))
        line.append(f"{done:>{len(str(total))}}/{total} ")
        line.append("━" * filled, style="green")
        line.append("─" * (self.width - filled), style="bright_black")
        line.append(f" {stats}")
        self._rich.update(line, refresh=True)

    def _rich_end(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def evaluation_line(steps: int, seconds: float, logs: dict, verbose: int = 1) -> str:
    """The line ``evaluate`` prints, as Keras does: real steps, time, time per step, logs.

    Args:
        steps: the batches evaluated, ``ceil(rows / batch_size)`` (not padded steps).
        seconds: the wall time of the evaluation.
        logs: the loss and metrics.
        verbose: 1 draws a full bar (Keras's ``verbose=1``), 2 a plain ``-`` separated line.

    Returns:
        The line, without a newline.

    >>> evaluation_line(50, 0.1, {"loss": 0.5}, verbose=2)
    '50/50 - 0s - 2ms/step - loss: 0.5000'
    """
    stats = f"{_per_step(seconds, steps)} - {format_logs(logs, verbose)}".rstrip(" -")
    if verbose == 2:  # Keras 3's Progbar: the elapsed time in whole seconds, never m:ss
        return f"{steps}/{steps} - {max(0.0, seconds):.0f}s - {stats}"
    return f"{steps}/{steps} {bar_text(steps, steps, 20)} {_duration(seconds)} {stats}"


class StepCounter(Callback):
    """Counts the batches an evaluation ran (its ``on_test_batch_end`` calls), for the report.

    >>> counter = StepCounter()
    >>> counter.on_test_batch_end(11); counter.steps
    12
    """

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps = batch + 1
