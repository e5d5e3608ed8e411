"""The text of ``model.summary()``: Keras 3's table of layers, output shapes and parameters."""

from __future__ import annotations

import itertools
import re
import textwrap
from typing import Any

import numpy as np


def _size(n_params: int) -> str:
    b = n_params * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} GB"


def render(model, line_length=None) -> str:
    """Returns the summary table of ``model`` as one string."""
    if getattr(model, "_is_model", False) and not hasattr(model, "add"):
        return render_graph(model, line_length)
    widths = [33, 24, 15]
    if line_length and line_length > 40:
        widths[0] = max(20, line_length - widths[1] - widths[2] - 4)
    rows = []
    built = model.built or (model._input_shape is not None and model._layers)
    if built:
        model._require_built("summary")
        shapes = model._output_shape_of(model._input_shape)
        ts = model._train_state
        trainable = model._trainable_mask()
        total = train = 0
        for layer, shape, p, s, t in zip(model._layers, shapes, ts.params, ts.state, trainable):
            n_p = int(sum(np.prod(v.shape) for v in p.values()))
            n_s = int(sum(np.prod(v.shape) for v in s.values()))
            total += n_p + n_s
            if isinstance(t, frozenset):  # a nested model with frozen layers
                n_p_trained = int(sum(np.prod(v.shape) for k, v in p.items() if k in t))
            else:
                n_p_trained = n_p if t else 0
            train += n_p_trained
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", str(tuple(shape)), f"{n_p + n_s:,}")
            )
    else:
        for layer in model._layers:
            rows.append((f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)"))
        total = train = 0

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells):
        a, b, c = cells
        return f"│ {a:<{widths[0]}.{widths[0]}} │ {b:<{widths[1]}.{widths[1]}} │ {c:>{widths[2]}} │"

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━")]
    out.append(
        f"┃ {'Layer (type)':<{widths[0]}} ┃ {'Output Shape':<{widths[1]}} ┃ {'Param #':>{widths[2]}} ┃"
    )
    out.append(line("┡", "╇", "┩", "━"))
    for i, r in enumerate(rows):
        out.append(row(r))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    out.append(f" Total params: {total:,} ({_size(total)})")
    out.append(f" Trainable params: {train:,} ({_size(train)})")
    out.append(f" Non-trainable params: {total - train:,} ({_size(total - train)})")
    return "\n".join(out)


def render_html(model: Any) -> str:
    """The summary as an HTML table, for notebooks (``Sequential._repr_html_``).

    Built from :func:`render`'s text, so it always shows the same columns: header cells
    between ``┃``, body cells between ``│`` (a row whose first cell is empty continues the row
    above), and the parameter counts below.

    Args:
        model: the model to describe.

    Returns:
        An HTML fragment: the model's name, a ``<table>`` and the parameter totals.

    >>> from lamina.models import Sequential
    >>> from lamina.layers import Input, Dense
    >>> html = render_html(Sequential([Input((3,)), Dense(2, name="out")], name="tiny"))
    >>> "<td>out (Dense)</td>" in html and "Param #</th>" in html
    True
    """
    import html

    lines = render(model).splitlines()
    title = lines[0] if lines else ""
    header: list[str] = []
    rows: list[list[str]] = []
    notes: list[str] = []
    for line in lines[1:]:
        if line.startswith("┃"):
            header = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if rows and not cells[0]:  # a continuation line of the row above
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        elif line.strip() and line.strip()[0] not in "┏┡├└":
            notes.append(line.strip())
    esc = html.escape
    right = {i for i, h in enumerate(header) if h.lower().startswith("param")}

    def cell(tag, i, text):
        style = " style='text-align:right'" if i in right else ""
        return f"<{tag}{style}>{esc(text)}</{tag}>"

    out = [f"<p><b>{esc(title)}</b></p>", "<table>"]
    out.append("<thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)))
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    out.append("<p>" + "<br>".join(esc(n) for n in notes) + "</p>")
    return "\n".join(out)


def _connections(model, layer) -> list[str]:
    """Keras's "Connected to" cell lines: ``name[node][tensor]`` of each inbound tensor."""
    in_model = {id(n) for n in model._nodes}
    out = []
    for node in layer._inbound_nodes or []:
        if id(node) not in in_model or node.is_input:
            continue
        for t in node.input_tensors:
            src, i, j = t._keras_history
            out.append(f"{src.name}[{i}][{j}]")
    return out or ["-"]


def _is_chain(model) -> bool:
    """Keras prints "Connected to" only for graphs that are not a plain chain of layers."""
    for node in model._nodes:
        if len(node.input_tensors) > 1 or len(node.output_tensors) > 1:
            return False
    return all(len(layer._inbound_nodes or []) <= 1 for layer in model._layers)


def render_graph(model, line_length=None) -> str:
    """The summary of a functional or subclassed model (Keras 3's table, with the "Connected
    to" column for graphs that branch or share layers).

    >>> import lamina
    >>> from lamina import layers
    >>> a, b = lamina.Input((2,), name="a"), lamina.Input((2,), name="b")
    >>> shared = layers.Dense(3, name="shared")
    >>> model = lamina.Model([a, b], [shared(a), shared(b)])
    >>> "a[0][0]" in render_graph(model)
    True
    """
    model._require_built("summary")
    graph = getattr(model, "_nodes", None) is not None
    connected = graph and not _is_chain(model)
    widths = [28, 22, 11, 22] if connected else [33, 24, 15]
    if line_length and line_length > 60:
        widths[0] = max(20, line_length - sum(widths[1:]) - 3 * len(widths) - 1)
    ts = model._train_state
    mask = model._trainable_mask()
    rows, total, train = [], 0, 0
    for i, layer in enumerate(model._layers):
        n_p = int(sum(np.prod(v.shape) for v in ts.params[i].values()))
        n_s = int(sum(np.prod(v.shape) for v in ts.state[i].values()))
        total += n_p + n_s
        t = mask[i]
        if isinstance(t, frozenset):  # a nested model with frozen layers
            train += int(sum(np.prod(v.shape) for k, v in ts.params[i].items() if k in t))
        else:
            train += n_p if t else 0
        shape = "?"
        if graph and layer._inbound_nodes:
            nodes = [n for n in layer._inbound_nodes if n in model._nodes]
            if nodes:
                outs = nodes[0].output_tensors
                shape = ", ".join(str(t.shape) for t in outs)
                if len(outs) > 1:  # as Keras lists several outputs' shapes
                    shape = f"[{shape}]"
        cells = [f"{layer.name} ({type(layer).__name__})", shape, f"{n_p + n_s:,}"]
        if connected:
            rows.append((cells, _connections(model, layer)))
        else:
            rows.append((cells, []))

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells):
        out = []
        for k, (c, w) in enumerate(zip(cells, widths)):
            out.append(f" {c:>{w}.{w}} " if k == 2 else f" {c:<{w}.{w}} ")
        return "│" + "│".join(out) + "│"

    heads = ["Layer (type)", "Output Shape", "Param #", "Connected to"][: len(widths)]
    head = "┃" + "┃".join(
        f" {h:>{w}} " if k == 2 else f" {h:<{w}} " for k, (h, w) in enumerate(zip(heads, widths))
    ) + "┃"
    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), head, line("┡", "╇", "┩", "━")]
    for r, (cells, links) in enumerate(rows):
        # Long names and several outputs' shapes wrap inside their cells, as Keras's table.
        columns = [_wrap(cells[0], widths[0]), _wrap(cells[1], widths[1]), [cells[2]]]
        if connected:
            columns.append([part for link in links for part in _wrap(link, widths[3])])
        for parts in itertools.zip_longest(*columns, fillvalue=""):
            out.append(row(list(parts)))
        if r < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    out.append(f" Total params: {total:,} ({_size(total)})")
    out.append(f" Trainable params: {train:,} ({_size(train)})")
    out.append(f" Non-trainable params: {total - train:,} ({_size(total - train)})")
    return "\n".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken after spaces where it can
    (never inside one shape's parentheses)."""
    kept = re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\xa0"), text)
    lines = textwrap.wrap(kept, width, break_on_hyphens=False) or [""]
    return [line.replace("\xa0", " ") for line in lines]
