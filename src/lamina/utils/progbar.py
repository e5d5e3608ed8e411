"""Keras's ``keras.utils.Progbar``: a text progress bar for custom loops.

Lamina's own ``fit``/``evaluate``/``predict`` print through ``lamina.callbacks``; this is the
standalone bar Keras scripts drive by hand (``update``/``add``).  Output goes to stdout, or to
the ``"lamina"`` logger after ``lamina.config.disable_interactive_logging()``.

>>> from lamina.utils import Progbar
>>> bar = Progbar(3, verbose=2)
>>> for step in range(3):
...     bar.add(1, values=[("loss", 0.5)])  # doctest: +ELLIPSIS
3/3 - ...s - .../step - loss: 0.5000
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time

import numpy as np

__all__ = ["Progbar", "print_msg"]


def print_msg(message: str, line_break: bool = True) -> None:
    """Prints to stdout, or logs to ``"lamina"`` when interactive logging is disabled."""
    from lamina.config import is_interactive_logging_enabled

    if is_interactive_logging_enabled():
        sys.stdout.write(message + ("\n" if line_break else ""))
        sys.stdout.flush()
    else:
        logging.getLogger("lamina").info(message)


def _format_time(seconds: float, unit_name: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


class Progbar:
    """Displays a progress bar (Keras's API).

    Args:
        target: total number of steps expected, ``None`` if unknown.
        width: the bar's width in characters.
        verbose: 0 (silent), 1 (live bar) or 2 (one line when done).
        interval: minimum seconds between two redraws.
        stateful_metrics: names of metrics shown as given (the others are averaged over the
            steps); give this or ``stateless_metrics``, not both.
        stateless_metrics: names of metrics that are averaged (the others shown as given).
        unit_name: the name of a step in the time-per-step display.

    Raises:
        ValueError: if both ``stateful_metrics`` and ``stateless_metrics`` are given.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):  # fmt: skip
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be provided. "
                "`stateful_metrics` is used to make metrics stateless by default (with an "
                "exclusion list), while `stateless_metrics` is used to make metrics stateful by "
                "default (with an exclusion list)."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics), None
        elif stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(), None
        self._dynamic_display = (
            (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
            or "ipykernel" in sys.modules
            or "posix" in sys.modules
            or "PYCHARM_HOSTED" in os.environ
        )
        self._seen_so_far = 0
        self._values: dict = {}
        self._values_order: list = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _stateless(self, name) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Updates the bar to step ``current``.

        Args:
            current: the index of the current step.
            values: ``[(name, value_for_last_step), ...]``; stateless metrics are averaged
                over the steps, stateful ones shown as given.
            finalize: whether this is the last update (default: ``current >= target``).
        """
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            if self._stateless(k):
                if finalize:
                    self._values[k] = [v, 1]
                else:
                    base = max(current - self._seen_so_far, 1)
                    if k not in self._values:
                        self._values[k] = [v * base, base]
                    else:
                        self._values[k][0] += v * base
                        self._values[k][1] += base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            info = f"%{digits}d/%d - {now - self._start:.0f}s" % (current, self.target)
            info += f" -{_format_time(per_unit, self.unit_name)}" + self._metrics_text()
            print_msg(info + "\n", line_break=False)
        self._last_update = now

    def _metrics_text(self) -> str:
        out = ""
        for k in self._values_order:
            total, count = self._values[k]
            if not isinstance(total, float):
                total = np.mean(total)
            avg = total / max(1, count)
            out += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        return out

    def _draw(self, current, now, per_unit, finalize):
        message = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n"
        special = 0
        if self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{f'%{digits}d/%d' % (current, self.target)}\x1b[0m "
            special += 8
            filled = int(self.width * float(current) / self.target)
            if filled > 0:
                bar += f"\33[32m{'━' * filled}\x1b[0m"
                special += 9
            bar += f"\33[37m{'━' * (self.width - filled)}\x1b[0m"
            special += 9
        else:
            bar = f"{current:7d}/Unknown"
        if self.target is not None and self.target > 0 and not finalize:
            eta = per_unit * (self.target - current)
            if eta > 3600:
                eta_text = f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                eta_text = f"{int(eta)}s"
            info = f" \x1b[1m{eta_text}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        special += 8
        info += _format_time(per_unit, self.unit_name) + self._metrics_text()
        total_width = len(bar) + len(info) - special
        message += bar + info
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def add(self, n, values=None):
        """Advances the bar by ``n`` steps (see :meth:`update`)."""
        self.update(self._seen_so_far + n, values)

    def _step_duration(self, current, now) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
