"""The text of ``model.summary()``: Keras 3's table of layers, output shapes and parameters."""

from __future__ import annotations

import re
from typing import Any

import jax
import numpy as np

from lamina.layers.borrowed_weights import borrowed_count
from lamina.layers.symbolic import KerasTensor, TensorOp
from lamina.models import own_variables as _own
from lamina.models import summary_table as _table
from lamina.models.plot_graph import is_sequential as _is_stack
from lamina.models.shared_copies import copies


def _size(n_params: int) -> str:
    b = n_params * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} GB"


def print_summary(
    model,
    line_length=None,
    positions=None,
    print_fn=None,
    expand_nested=False,
    show_trainable=False,
    layer_range=None,
) -> None:
    """Prints ``model``'s summary table, as Keras 3's ``model.summary``.

    Args:
        model: a built (or unbuilt: shapes ``?``) Sequential, functional or subclassed model.
        line_length: the table's width; by default 88 (108 with the "Connected to" column of
            a branching graph, 12 more with ``show_trainable``), at most the terminal's width
            less 4.
        positions: where each column ends, as fractions of ``line_length`` (or, Keras 2's
            way, as character offsets).
        print_fn: called once with the whole text (ending with a newline), as Keras 3 does;
            ``print`` by default.
        expand_nested: also list the layers of nested models, indented under them.
        show_trainable: add a "Trainable" column (``Y``/``N``, ``-`` for a layer without
            weights).
        layer_range: two regular expressions: the rows from the first layer matching the
            first to the last matching the second.

    Raises:
        ValueError: a ``layer_range`` that is not two names or matches no layer, or a line
            too narrow for the columns.

    >>> import lamina
    >>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, name="out")])
    >>> texts = []
    >>> model.summary(line_length=60, show_trainable=True, print_fn=texts.append)
    >>> table = texts[0].splitlines()[1:-4]
    >>> {len(line) for line in table}, table[3]
    ({60}, '│ out (Dense)           │ (None, 2)        │       8 │  Y  │')
    """
    text = render(model, line_length, positions, show_trainable, layer_range, expand_nested)
    if print_fn is None:
        print(text)
    else:
        print_fn(text + "\n")


def render(
    model,
    line_length=None,
    positions=None,
    show_trainable=False,
    layer_range=None,
    expand_nested=False,
) -> str:
    """The text of ``model.summary(...)`` (Keras 3's arguments; see :func:`print_summary`)."""
    if getattr(model, "_is_model", False) and not _is_stack(model):
        model._require_built("summary")
        graph = getattr(model, "_nodes", None) is not None
        connected = graph and not _is_chain(model)
    else:
        graph = connected = False
    rows, (total, train) = _rows(model, graph, connected, show_trainable, expand_nested)
    rows = _in_range(rows, layer_range)
    header = ["Layer (type)", "Output Shape", "Param #"]
    align = ["left", "left", "right"]
    default, default_positions = (88, [0.45, 0.80, 1.0])
    if connected:
        header.append("Connected to")
        align.append("left")
        default, default_positions = (108, [0.3, 0.56, 0.74, 1.0])
    if show_trainable:
        header.append("Trainable")
        align.append("center")
        default += 12
        default_positions = [p * 0.90 for p in default_positions] + [1.0]
    line_length = line_length or _table.line_length_for(default)
    widths = _table.column_widths(line_length, positions or default_positions)
    table = _table.draw(header, align, [r[1] for r in rows], widths)
    out = [f'Model: "{model.name}"', _table.crop_to_console(table)]
    n_opt = _optimizer_count(model)
    out.append(f" Total params: {total + n_opt:,} ({_size(total + n_opt)})")
    out.append(f" Trainable params: {train:,} ({_size(train)})")
    out.append(f" Non-trainable params: {total - train:,} ({_size(total - train)})")
    if n_opt:
        out.append(f" Optimizer params: {n_opt:,} ({_size(n_opt)})")
    return "\n".join(out)


def _optimizer_count(model) -> int:
    """The optimizer's variables once it has made a step (Keras builds it in ``fit``; a
    model just compiled shows none)."""
    opt = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    try:
        if opt is None or int(opt.iterations) == 0:
            return 0
        variables = opt.variables
    except Exception:  # noqa: BLE001 - a summary never fails on the optimizer
        return 0
    return int(sum(int(np.prod(np.shape(v))) for v in variables))


def _rows(model, graph, connected, show_trainable, expand_nested):
    """``([(layer name, cells, nesting level), ...], (total params, trainable params))``."""
    built = bool(model.built) or bool(model._input_shape is not None and model._layers)
    if not built:
        rows = []
        for _, layer in _entries(model):
            cells = [f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)"]
            rows.append((layer.name, cells + (["-"] if show_trainable else []), 0))
        return rows, (0, 0)
    model._require_built("summary")
    ts = model._train_state
    mask = model._trainable_mask()
    shapes = model._output_shape_of(model._input_shape) if _is_stack(model) else None
    rows, total, train, counted = [], 0, 0, set()
    order = model.__dict__.get("_weight_order") or ()
    copies_of = copies(model)
    for j, (i, layer) in enumerate(_entries(model)):
        n_p = int(sum(np.prod(v.shape) for v in ts.params[i].values()))
        # Only the layer's weights: a stateful RNN's carried states are no weights (Keras).
        names = order[i][1] if i < len(order) else ts.state[i]
        n_s = int(sum(np.prod(ts.state[i][k].shape) for k in names if k in ts.state[i]))
        t = mask[i]
        if i not in counted:  # the totals count a repeated layer's weights once (Keras)
            counted.add(i)
            # ... and a layer that two nested models hold, once (``shared_copies``)
            home = {k: v for k, v in ts.params[i].items() if (i, k) not in copies_of}
            total += int(sum(np.prod(v.shape) for v in home.values()))
            total += int(
                sum(np.prod(ts.state[i][k].shape) for k in names
                    if k in ts.state[i] and (i, k) not in copies_of)
            )  # fmt: skip
            if isinstance(t, frozenset):  # a nested model with frozen layers
                train += int(sum(np.prod(v.shape) for k, v in home.items() if k in t))
            elif t:
                train += int(sum(np.prod(v.shape) for v in home.values()))
        if _own.is_holder(layer):  # a model's own variables: counted, with no row (Keras)
            continue
        shape = str(tuple(shapes[j])) if shapes is not None else _node_shape(model, layer)
        # A row counts the weights its layer reads from others (tied) too; totals once (Keras).
        n_row = n_p + n_s + borrowed_count(layer, (*ts.params[i], *names))
        cells = [f"{layer.name} ({_class_name(layer)})", shape, f"{n_row:,}"]
        if connected:
            cells.append(", ".join(_connections(model, layer)))
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if n_p + n_s else "-")
        rows.append((layer.name, cells, 0))
        if expand_nested:
            rows += _nested_rows(layer, 1, connected, show_trainable)
    return rows, (total, train)


def _class_name(layer) -> str:
    """The type Keras prints for a row: an op on symbolic tensors (``x + y``) by its Keras op
    class (``Add``), as Keras's graph holds the op itself rather than a wrapping layer."""
    keras_op = getattr(layer, "keras_op", None) if isinstance(layer, TensorOp) else None
    return keras_op.spec.class_name if keras_op is not None else type(layer).__name__


def _entries(model) -> list:
    """``(index of the layer's weights, layer)`` per row: a ``Sequential``'s positions (a
    repeated layer at each, as Keras prints it), a graph's layers."""
    stack = model.__dict__.get("_stack") if _is_stack(model) else None
    if stack is None:
        return list(enumerate(model._layers))
    index = {id(layer): i for i, layer in enumerate(model._layers)}
    return [(index[id(layer)], layer) for layer in stack]


def _node_shape(model, layer) -> str:
    """A layer's output shape(s) from its node in ``model``'s graph, or from the call that
    built it in a subclassed model (``?`` without either)."""
    if not getattr(layer, "_inbound_nodes", None):
        built = layer.__dict__.get("_built_output_shape")
        if built is None:
            return "?"
        if isinstance(built, tuple) and all(d is None or isinstance(d, int) for d in built):
            return str(built)
        return str(built).replace("'", "")
    nodes = [n for n in layer._inbound_nodes if n in (getattr(model, "_nodes", None) or [])]
    if not nodes:
        return "?"
    outs = nodes[0].output_tensors
    shape = ", ".join(str(t.shape) for t in outs)
    return f"[{shape}]" if len(outs) > 1 else shape  # as Keras lists several outputs' shapes


def _nested_rows(layer, level, connected, show_trainable) -> list:
    """Rows for the layers of a nested model (``expand_nested=True``), indented as Keras."""
    inner = getattr(layer, "layers", None) if getattr(layer, "_is_model", False) else None
    rows = []
    for sub in inner or []:
        shape = "?"
        nodes = getattr(sub, "_inbound_nodes", None)
        if nodes:
            outs = nodes[-1].output_tensors
            shape = ", ".join(str(t.shape) for t in outs)
            shape = f"[{shape}]" if len(outs) > 1 else shape
        else:
            try:
                shape = str(tuple(sub.output_shape))
            except Exception:  # noqa: BLE001 - Keras shows "?" when it cannot tell
                shape = "?"
        n = sub.count_params() if sub.built else None
        prefix = "   " * level + "└ "
        cells = [f"{prefix}{sub.name} ({_class_name(sub)})", shape]
        cells.append("0 (unbuilt)" if n is None else f"{n:,}")
        if connected:
            cells.append("-")
        if show_trainable:
            cells.append(("Y" if sub.trainable else "N") if n else "-")
        rows.append((sub.name, cells, level))
        rows += _nested_rows(sub, level + 1, connected, show_trainable)
    return rows


def _in_range(rows, layer_range):
    """Keras's ``layer_range``: the rows from the first layer whose name matches
    ``layer_range[0]`` to the last matching ``layer_range[1]`` (regular expressions)."""
    if layer_range is None:
        return rows
    if len(layer_range) != 2:
        raise ValueError(
            "layer_range must be a list or tuple of length 2. Received: "
            f"layer_range = {layer_range} of length {len(layer_range)}"
        )
    if not all(isinstance(n, str) for n in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    top = [i for i, row in enumerate(rows) if row[2] == 0]  # ranges count top-level layers
    lower = [k for k, i in enumerate(top) if re.match(layer_range[0], rows[i][0])]
    upper = [k for k, i in enumerate(top) if re.match(layer_range[1], rows[i][0])]
    if not lower or not upper:
        raise ValueError(
            f"Passed layer_names do not match the layer names in the model. Received: {layer_range}"
        )
    first, last = (min(upper), max(lower)) if min(lower) > max(upper) else (min(lower), max(upper))
    end = top[last + 1] if last + 1 < len(top) else len(rows)
    return rows[top[first] : end]


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
        for t in _node_tensors(layer, node):
            src, i, j = t._keras_history
            out.append(f"{src.name}[{i}][{j}]")
    return out or ["-"]


def _node_tensors(layer, node) -> list:
    """The node's input tensors as Keras's node holds them: a layer recording its call in
    Keras's terms (``mha(x, x)``: no key, which the layer packs as the value) lists those."""
    hook = getattr(layer, "_keras_node_arguments", None)
    if hook is None:
        return node.input_tensors
    args, kwargs = hook(list(node.args), dict(node.kwargs))
    leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=lambda v: isinstance(v, KerasTensor))
    return [t for t in leaves if isinstance(t, KerasTensor)]


def _is_chain(model) -> bool:
    """Keras prints "Connected to" only for graphs that are not a plain chain of layers."""
    for node in model._nodes:
        if len(node.input_tensors) > 1 or len(node.output_tensors) > 1:
            return False
    # A layer called twice within the model; its calls in other graphs do not count (Keras).
    in_model = {id(n) for n in model._nodes}
    return all(
        sum(id(n) in in_model for n in layer._inbound_nodes or []) <= 1 for layer in model._layers
    )
