"""Learning curves of a ``History``: ``history.plot()`` (needs ``pip install "lamina[plot]"``).

One panel per quantity (``loss``, then each metric); a quantity's ``val_`` twin is drawn in the
same panel, dashed, so over-fitting shows as the two lines parting.

>>> from lamina.callbacks import History
>>> h = History()
>>> h.history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.6]}
>>> fig = h.plot()                      # doctest: +SKIP
>>> fig.savefig("curves.png")           # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def _series(history: Any) -> dict:
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(
            f"plot_history expects a History (from model.fit) or its .history dict. "
            f"Received: {type(history).__name__}."
        )
    return logs


def curve_names(logs: dict, metrics: str | list[str] | None = None) -> list[str]:
    """The quantities to draw, ``loss`` first: training names, or those of ``metrics``."""
    if metrics is None:
        names = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
        names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
        return sorted(names, key=lambda k: (k != "loss", k))
    if isinstance(metrics, str):
        metrics = [metrics]
    missing = [m for m in metrics if m not in logs and "val_" + m not in logs]
    if missing:
        raise ValueError(f"plot_history: {missing} not in the history. Logged: {sorted(logs)}.")
    return list(metrics)


def plot_history(history: Any, metrics: str | list[str] | None = None, ax: Any = None) -> Any:
    """Draws the per-epoch curves of a fit and returns the matplotlib ``Figure``.

    Args:
        history: the ``History`` returned by ``model.fit`` (or its ``.history`` dict).
        metrics: names to draw (e.g. ``["loss"]``); default: loss and every metric.
        ax: a matplotlib ``Axes`` to draw every curve into; by default a new figure with one
            panel per quantity.

    Returns:
        The ``matplotlib.figure.Figure`` holding the curves; a script shows it with
        ``plt.show()`` or saves it with ``fig.savefig(...)``, a notebook shows it inline as
        the value of the cell (or with ``display(fig)``).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the history is empty, or a name in ``metrics`` was not logged.

    Example:

    >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.8]})  # doctest: +SKIP
    >>> [line.get_label() for line in fig.axes[0].lines]                   # doctest: +SKIP
    ['loss', 'val_loss']
    """
    try:
        import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg itself
    except ImportError:
        raise ImportError(
            'History.plot needs matplotlib: pip install "lamina[plot]"'
        ) from None
    logs = _series(history)
    if not logs or not any(len(v) for v in logs.values()):
        raise ValueError("plot_history: the history is empty (fit ran no epochs).")
    names = curve_names(logs, metrics)
    epochs_of = getattr(history, "epoch", None)
    axes: list[Any]
    if ax is None:
        fig, grid = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        axes = list(grid[0])
    else:
        fig, axes = ax.figure, [ax] * len(names)
    for name, panel in zip(names, axes):
        for key, style in ((name, "-"), ("val_" + name, "--")):
            values = logs.get(key)
            if not values:
                continue
            xs = (
                list(epochs_of)[-len(values) :]
                if epochs_of and len(epochs_of) >= len(values)
                else None
            )
            xs = [e + 1 for e in xs] if xs else list(range(1, len(values) + 1))
            panel.plot(xs, [float(v) for v in values], style, marker=".", label=key)
        panel.set_xlabel("epoch")
        if ax is None:
            panel.set_title(name)
            panel.set_ylabel(name)
        panel.legend()
        panel.grid(True, alpha=0.3)
    fig.tight_layout()
    if ax is None:
        from lamina.callbacks.notebook import in_notebook

        if in_notebook():
            # Jupyter shows the returned figure; closing pyplot's handle stops the inline
            # backend from showing it a second time at the end of the cell.
            plt.close(fig)
    return fig


def history_html(history: Any, max_rows: int = 60) -> str:
    """A ``History`` as an HTML table (epochs down, logged values across), for notebooks.

    Args:
        history: the ``History`` returned by ``model.fit`` (or its ``.history`` dict).
        max_rows: longer histories show their first and last epochs around a ``...`` row.

    Returns:
        An HTML fragment holding one ``<table>``.

    >>> html = history_html({"loss": [0.7, 0.5], "accuracy": [0.5, 0.75]})
    >>> "<th>loss</th>" in html and "<td>0.7500</td>" in html
    True
    """
    import html as _html

    logs = _series(history)
    names = [k for k in logs if not k.startswith("val_")] + [k for k in logs if k.startswith("val_")]
    n = max((len(v) for v in logs.values()), default=0)
    epochs = list(getattr(history, "epoch", []) or [])
    epochs = [e + 1 for e in epochs] if len(epochs) == n else list(range(1, n + 1))
    shown: list[int | None] = list(range(n))
    if n > max_rows:
        shown = shown[: max_rows // 2] + [None] + shown[n - max_rows // 2 :]

    def value(name: str, i: int) -> str:
        values = logs[name]
        if i >= len(values):
            return ""
        try:
            return f"{float(values[i]):.4f}"
        except (TypeError, ValueError):
            return _html.escape(str(values[i]))

    out = ["<table>", "<thead><tr><th>epoch</th>"]
    out += [f"<th>{_html.escape(str(k))}</th>" for k in names]
    out.append("</tr></thead><tbody>")
    for i in shown:
        if i is None:
            out.append("<tr>" + "<td>...</td>" * (len(names) + 1) + "</tr>")
            continue
        cells = "".join(f"<td>{value(k, i)}</td>" for k in names)
        out.append(f"<tr><td>{epochs[i]}</td>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)
