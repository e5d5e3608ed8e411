"""Keras-style progress output, updated once per compiled chunk.

``verbose=1``: a live bar rewritten in place on a terminal; when output is piped (CI, a log
file) the bar is not redrawn and one plain line per epoch is written, with no carriage returns.
``verbose=2``: one line per epoch.  ``verbose=0``: nothing.
"""

from __future__ import annotations

import sys
import time

from lamina.training.callbacks import Callback


def resolve_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) and not isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}.")
    return int(verbose)


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {_fmt(v)}" for k, v in logs.items())


def _fmt(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


def _per_step(seconds: float, steps: int) -> str:
    if steps <= 0:
        return ""
    t = seconds / steps
    if t >= 1:
        return f"{t:.0f}s/step"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/step"
    return f"{t * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """Prints Keras-style progress for ``fit``; added by ``fit`` when ``verbose`` > 0."""

    def __init__(self, verbose=1, stream=None, width=20):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.width = width

    @property
    def _out(self):
        return self.stream or sys.stdout

    def _live(self) -> bool:
        isatty = getattr(self._out, "isatty", None)
        return self.verbose == 1 and bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = self.params.get("steps") or 0
        epochs = self.params.get("epochs")
        self._write(f"Epoch {epoch + 1}/{epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        if not self._live():
            return
        done = batch + 1
        total = self._steps or done
        filled = int(self.width * done / max(total, 1))
        bar = "━" * filled + " " * (self.width - filled)
        elapsed = time.perf_counter() - self._start
        eta = elapsed / done * (total - done)
        line = f"\r{done}/{total} {bar} {eta:.0f}s {_per_step(elapsed, done)} - {format_logs(logs or {})}"
        self._write(line + "\x1b[K")

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        steps = self._steps
        logs = logs or {}
        if self.verbose == 2 or not self._live():
            line = f"{steps}/{steps} - {elapsed:.0f}s - {_per_step(elapsed, steps)} - {format_logs(logs)}"
            self._write(line + "\n")
        else:
            bar = "━" * self.width
            line = f"\r{steps}/{steps} {bar} {elapsed:.0f}s {_per_step(elapsed, steps)} - {format_logs(logs)}"
            self._write(line + "\x1b[K\n")

    def _write(self, text: str):
        self._out.write(text)
        self._out.flush()
