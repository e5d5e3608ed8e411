"""The box-drawn table of ``model.summary()``, laid out as Keras 3 lays it out with ``rich``:
the same column widths for a line length, the same word wrapping inside cells, the same
borders.  Pure text functions (no model here); :mod:`lamina.models.summary` fills the rows.

>>> print(draw(["Layer", "Param #"], ["left", "right"], [["dense (Dense)", "36"]], [13, 7]))
┏━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer         ┃ Param # ┃
┡━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ dense (Dense) │      36 │
└───────────────┴─────────┘
"""

from __future__ import annotations

import itertools
import re
import shutil

_WORD = re.compile(r"\s*\S+\s*")


def line_length_for(default: int) -> int:
    """Keras's default width: ``default`` (88, or 108 with "Connected to"), at most the
    terminal's width less 4 (80 columns when there is no terminal)."""
    return min(default, shutil.get_terminal_size().columns - 4)


def crop_to_console(table: str) -> str:
    """The table's lines cut at the console's width, as ``rich`` prints a table wider than
    its console (``model.summary(line_length=120)`` on an 80-column terminal)."""
    columns = shutil.get_terminal_size().columns
    return "\n".join(line[:columns] for line in table.split("\n"))


def column_widths(line_length: int, positions) -> list[int]:
    """The text width of each column for a table ``line_length`` wide.

    ``positions`` are where each column ends, as fractions of the line (Keras 3) or as
    character offsets (Keras 2, when the last is above 1).  Keras asks ``rich`` for columns
    of those widths inside a table of ``line_length``; the borders and each cell's two
    padding spaces do not fit, so ``rich`` takes the excess from the columns evenly (its
    "last resort" reduction), which is what this reproduces.

    Raises:
        ValueError: a column would be narrower than 4 characters (Keras's message).

    >>> column_widths(76, [0.45, 0.80, 1.0]), column_widths(88, [0.45, 0.80, 1.0])
    ([31, 22, 13], [36, 27, 15])
    """
    if positions[-1] <= 1:
        ends = [int(p * line_length) for p in positions]
    else:
        ends = [int(p) for p in positions]
    widths, current = [], 0
    for end in ends:
        width = end - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    cells = [w + 2 for w in widths]  # each cell's text plus its two padding spaces
    excess = sum(cells) - (line_length - (len(cells) + 1))
    if excess > 0:
        cells = _reduce_evenly(excess, cells)
    return [max(c - 2, 0) for c in cells]


def _reduce_evenly(total: int, values: list[int]) -> list[int]:
    """Takes ``total`` off ``values`` in equal shares, rounding each share as it goes (the
    rounding ``rich`` uses, so that the widths match Keras's to the character)."""
    out, remaining, left = [], total, len(values)
    for value in values:
        share = min(value, round(remaining / left))
        out.append(value - share)
        remaining -= share
        left -= 1
    return out


def wrap(text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` characters at spaces; a word longer
    than a line gets a line of its own, cut with an ellipsis, as ``rich`` wraps a table cell
    (Keras's columns keep rich's default ``overflow="ellipsis"``).

    >>> wrap("[(None, 8), (None, 8)]", 12)
    ['[(None, 8),', '(None, 8)]']
    >>> wrap("a_very_long_layer_name (Dense)", 8)
    ['a_very_…', '(Dense)']
    """
    if width <= 0:
        return [text]
    lines: list[str] = []
    current = ""
    for match in _WORD.finditer(text):
        word = match.group(0)
        if len(current) + len(word.rstrip()) <= width:
            current += word
            continue
        if current.strip() or match.start():
            lines.append(current)
        current = word
    lines.append(current)
    return [_crop(line.rstrip(), width) for line in lines]


def _crop(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def _align(text: str, width: int, how: str) -> str:
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text.ljust(width)


def draw(header: list[str], align: list[str], rows: list[list[str]], widths: list[int]) -> str:
    """The table: a bold-edged header, then one block per row (cells wrapped to
    ``widths``), rows separated by lines, as ``rich.table.Table(show_lines=True)``."""

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def block(cells, edge, bottom=False):
        wrapped = [wrap(str(c), w) for c, w in zip(cells, widths)]
        if bottom:  # header cells sit on the header's last line, as rich aligns them
            height = max(len(w) for w in wrapped)
            wrapped = [[""] * (height - len(w)) + w for w in wrapped]
        out = []
        for parts in itertools.zip_longest(*wrapped, fillvalue=""):
            inner = edge.join(f" {_align(p, w, a)} " for p, w, a in zip(parts, widths, align))
            out.append(edge + inner + edge)
        return out

    out = [rule("┏", "┳", "┓", "━"), *block(header, "┃", bottom=True)]
    out.append(rule("┡", "╇", "┩", "━"))
    for i, cells in enumerate(rows):
        out.extend(block(cells, "│"))
        if i < len(rows) - 1:
            out.append(rule("├", "┼", "┤", "─"))
    out.append(rule("└", "┴", "┘", "─"))
    return "\n".join(out)
