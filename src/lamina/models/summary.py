"""The text of ``model.summary()``: Keras 3's table of layers, output shapes and parameters."""

from __future__ import annotations

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
            train += n_p if t else 0
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
