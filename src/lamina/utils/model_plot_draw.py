"""``plot_model``'s drawing without Graphviz: boxes in ranks, arrows between them, matplotlib.

Each box sits on the rank of its longest path from an input (Graphviz's ``dot`` ranks a graph
the same way), ranks top to bottom (``rankdir="TB"``) or left to right (``"LR"``), boxes of a
rank side by side in the model's layer order; nested models drawn expanded get a dashed frame
with their name.  Sizes are in points, so the text never overlaps whatever the model's size.

>>> available()
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["available", "draw"]

_FONT = 9.0  # points
_CHAR = 0.62 * _FONT  # average width of a character of the default sans-serif font
_LINE = 1.6 * _FONT
_PAD = 8.0
_GAP = 36.0  # between ranks, room for the arrows
_SIDE_GAP = 18.0
_MAX_PIXELS = 30000  # matplotlib's Agg renderer refuses images over 2**16 pixels a side


def available() -> bool:
    """Whether matplotlib is installed (the ``plot`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _lines(label) -> list[tuple[str, str | None, bool]]:
    """``(text, background colour, bold)`` per line of a box."""
    name, kind, activation, cells = label
    lines = [(f"{name} ({kind})" if name is not None else kind, "black", True)]
    if activation is not None:
        lines.append((f"Activation: {activation}", None, False))
    plain = [caption + value for caption, value, colour in cells if colour is None]
    if plain:
        lines.append(("  |  ".join(plain), None, False))
    lines += [(value, colour, True) for _, value, colour in cells if colour is not None]
    return lines


def _ranks(graph: Any) -> dict[str, int]:
    """Longest-path rank of each box (inputs just above their first reader), in topological order (no recursion, so a
    model of thousands of layers draws too)."""
    children: dict[str, list[str]] = {b.key: [] for b in graph.boxes}
    waiting = dict.fromkeys(children, 0)
    for src, dst in graph.edges:
        if src in children and dst in children:
            children[src].append(dst)
            waiting[dst] += 1
    rank = dict.fromkeys(children, 0)
    ready = [k for k, n in waiting.items() if n == 0]
    while ready:
        key = ready.pop()
        for child in children[key]:
            rank[child] = max(rank[child], rank[key] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    for key, kids in children.items():  # an input sits just above its first reader (dot)
        if kids and not any(dst == key for _, dst in graph.edges):
            rank[key] = min(rank[k] for k in kids) - 1
    return rank


def _layout(graph, labels, rankdir):
    """Centre and size ``(x, y, w, h)`` of each box in points, and the drawing's extent."""
    sizes = {}
    for box in graph.boxes:
        lines = _lines(labels[box.key])
        sizes[box.key] = (max(len(t) for t, _, _ in lines) * _CHAR + 2 * _PAD,
                          len(lines) * _LINE)
    rank = _ranks(graph)
    by_rank: dict[int, list[str]] = {}
    for box in graph.boxes:
        by_rank.setdefault(rank[box.key], []).append(box.key)
    across = 0 if rankdir.upper() == "TB" else 1  # the size that lies along a rank
    extents = {r: sum(sizes[k][across] for k in keys) + _SIDE_GAP * (len(keys) - 1)
               for r, keys in by_rank.items()}
    width = max(extents.values(), default=0.0)
    pos, along = {}, 0.0
    for r in sorted(by_rank):
        depth = max(sizes[k][1 - across] for k in by_rank[r])
        offset = (width - extents[r]) / 2
        for key in by_rank[r]:
            size = sizes[key][across]
            a, b = offset + size / 2, along + depth / 2
            pos[key] = ((a, -b) if across == 0 else (b, -a)) + sizes[key]
            offset += size + _SIDE_GAP
        along += depth + _GAP
    extent = (width, along - _GAP) if across == 0 else (along - _GAP, width)
    return pos, extent


def _frames(graph, pos):
    """``(name, x0, y0, x1, y1, depth)`` of each nested model's dashed frame."""
    out = []
    paths = sorted({b.frames[:d] for b in graph.boxes for d in range(1, len(b.frames) + 1)})
    for path in paths:
        inside = [pos[b.key] for b in graph.boxes if b.frames[:len(path)] == path]
        pad = _PAD * (2 + max(len(b.frames) for b in graph.boxes) - len(path))
        x0 = min(x - w / 2 for x, _, w, _ in inside) - pad
        x1 = max(x + w / 2 for x, _, w, _ in inside) + pad
        y0 = min(y - h / 2 for _, y, _, h in inside) - pad
        y1 = max(y + h / 2 for _, y, _, h in inside) + pad + _LINE
        out.append((path[-1], x0, y0, x1, y1))
    return out


def draw(graph: Any, labels: dict, to_file: str, fmt: str, rankdir="TB", dpi=200) -> None:
    """Write the drawing of ``graph`` (boxes labelled by ``labels[key]``) to ``to_file``.

    Args:
        graph: the boxes and arrows (:func:`lamina.models.plot_graph.model_graph`).
        labels: ``key -> (name, class name, activation, cells)`` (:func:`model_plot.layer_label`).
        to_file: the output path.
        fmt: a format matplotlib writes (``png``, ``pdf``, ``svg``, ``jpg``, ...).
        rankdir: ``"TB"`` or ``"LR"``.
        dpi: the resolution of raster formats.

    Raises:
        ValueError: ``rankdir`` is not ``"TB"`` or ``"LR"``, or matplotlib cannot write ``fmt``.
    """
    if str(rankdir).upper() not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR'; received {rankdir!r}.")
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle

    pos, (width, height) = _layout(graph, labels, rankdir)
    frames = _frames(graph, pos)
    margin = 2 * _PAD + _PAD * max((len(b.frames) for b in graph.boxes), default=0) + _LINE
    x_lo, x_hi = -margin, width + margin
    y_lo, y_hi = -height - margin, margin
    fig_w, fig_h = (x_hi - x_lo) / 72.0, (y_hi - y_lo) / 72.0
    dpi = min(float(dpi), _MAX_PIXELS / max(fig_w, fig_h, 1e-6))
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.axis("off")
    for name, x0, y0, x1, y1 in frames:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--",
                               linewidth=0.8, edgecolor="grey"))
        ax.text(x0 + _PAD / 2, y1 - _LINE / 2, name, fontsize=_FONT, va="center", ha="left",
                color="dimgrey")
    for key, (x, y, w, h) in pos.items():
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, facecolor="white",
                               edgecolor="black", linewidth=1.0, zorder=2))
        top = y + h / 2
        for i, (text, colour, bold) in enumerate(_lines(labels[key])):
            yc = top - (i + 0.5) * _LINE
            if colour is not None:
                ax.add_patch(Rectangle((x - w / 2, yc - _LINE / 2), w, _LINE, facecolor=colour,
                                       edgecolor="none", zorder=3))
            ax.text(x, yc, text, fontsize=_FONT, ha="center", va="center", zorder=4,
                    color="white" if colour is not None else "black",
                    fontweight="bold" if bold else "normal")
    vertical = rankdir.upper() == "TB"
    for src, dst in graph.edges:
        (x0, y0, w0, h0), (x1, y1, w1, h1) = pos[src], pos[dst]
        start = (x0, y0 - h0 / 2) if vertical else (x0 + w0 / 2, y0)
        end = (x1, y1 + h1 / 2) if vertical else (x1 - w1 / 2, y1)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10,
                                     linewidth=1.2, color="black", zorder=1))
    fig.savefig(to_file, format=fmt, dpi=dpi)
