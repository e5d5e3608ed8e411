"""``plot_model`` and ``model_to_dot`` (``keras.utils``; Keras 2's ``keras.utils.vis_utils``).

Keras draws a model with pydot and the Graphviz programs; Lamina does the same when both are
installed (``model_to_dot`` returns a ``pydot.Dot`` as Keras's, with Keras's labels).  Without
Graphviz, ``plot_model`` draws the same boxes and arrows with matplotlib (the ``plot`` extra),
so a script that plots its model runs on a machine with neither; with neither it raises Keras's
``ImportError``.

>>> import os, tempfile
>>> import lamina
>>> model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(2, name="out")])
>>> path = os.path.join(tempfile.mkdtemp(), "model.png")
>>> _ = plot_model(model, to_file=path, show_shapes=True)
>>> os.path.getsize(path) > 0
True
"""

from __future__ import annotations

import html
import os
import sys

__all__ = ["plot_model", "model_to_dot", "layer_label"]


def _pydot():
    try:
        import pydot
    except ImportError:
        return None
    return pydot


def _graphviz_works(pydot) -> bool:
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, pydot.PydotException):
        return False
    return True


def _check(model, kwargs: dict) -> None:
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or "
            "by calling the model on a batch of data."
        )
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")


def _format_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        text = ", ".join(f"{k}: {v}" for k, v in shape.items())
    else:
        text = f"{shape}"
    return text.replace("}", "").replace("{", "")


def _structure(value, fn):
    if isinstance(value, dict):
        return {k: _structure(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_structure(v, fn) for v in value]
    return fn(value)


def _shapes(layer):
    try:
        return (
            _structure(layer.input, lambda t: tuple(t.shape)),
            _structure(layer.output, lambda t: tuple(t.shape)),
        )
    except Exception:  # noqa: BLE001 - an unknown shape is drawn as "?" (Keras)
        return None, None


def _activation_name(activation) -> str:
    for attr in ("name", "__name__"):
        if isinstance(getattr(activation, attr, None), str):
            return getattr(activation, attr)
    return str(activation)


def layer_label(layer, show_shapes=False, show_dtype=False, show_layer_names=True,
                show_layer_activations=False, show_trainable=False):
    """What a layer's box shows: ``(name or None, class name, activation or None, cells)``,
    each cell ``(caption, value, colour or None)`` as Keras lays them out.

    >>> import lamina
    >>> layer_label(lamina.layers.Dense(2, activation="relu", name="d"),
    ...             show_layer_activations=True)
    ('d', 'Dense', 'relu', [])
    """
    keras_op = getattr(layer, "keras_op", None)  # an op on symbolic tensors: Keras's class
    kind = keras_op.spec.class_name if keras_op is not None else type(layer).__name__
    act = getattr(layer, "activation", None) if show_layer_activations else None
    cells = []
    if show_shapes:
        shape_in, shape_out = _shapes(layer)
        if kind != "InputLayer":
            cells.append(("Input shape: ", _format_shape(shape_in), None))
        cells.append(("Output shape: ", _format_shape(shape_out), None))
    if show_dtype:
        try:
            dtype = _structure(layer.output, lambda t: str(t.dtype))
        except Exception:  # noqa: BLE001 - an unknown dtype is drawn as "?" (Keras)
            dtype = None
        cells.append(("Output dtype: ", f"{dtype or '?'}", None))
    if show_trainable and layer.weights:
        cells.append(("", "Trainable", "forestgreen") if layer.trainable else
                     ("", "Non-trainable", "firebrick"))
    name = layer.name if show_layer_names else None
    return name, kind, (_activation_name(act) if act is not None else None), cells


def _html_label(name, kind, activation, cells, span) -> str:
    """Keras's HTML-like Graphviz label (``span``: the columns the top rows stretch over)."""
    esc = html.escape
    title = f"<b>{esc(name)}</b> ({esc(kind)})" if name is not None else f"<b>{esc(kind)}</b>"
    out = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
           f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" color="white">'
           f"{title}</font></td></tr>")
    if activation is not None:
        out += (f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">'
                f"Activation: <b>{esc(activation)}</b></font></td></tr>")
    tds = "".join(
        f'<td bgcolor="{colour}"><font point-size="14" color="white"><b>{esc(value)}</b>'
        "</font></td>" if colour else
        f'<td bgcolor="white"><font point-size="14">{caption}<b>{esc(value)}</b></font></td>'
        for caption, value, colour in cells)
    if tds:
        out += f"<tr>{tds}</tr>"
    return out + "</table>>"


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """The model as a ``pydot.Dot`` graph (Keras's ``keras.utils.model_to_dot``).

    Args:
        model: a built model.
        show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable: what
            each box shows.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"``.
        expand_nested: draw nested functional/``Sequential`` models as frames of their layers.
        dpi: the resolution Graphviz renders at.
        subgraph: return a ``pydot.Cluster`` (for a nested model) instead of a ``pydot.Dot``.
        splines: Graphviz's edge style.

    Returns:
        A ``pydot.Dot`` (or ``pydot.Cluster``).

    Raises:
        ImportError: pydot is not installed (Keras's message).
        ValueError: the model is not built, or an unknown keyword argument.
    """
    _check(model, kwargs)
    pydot = _pydot()
    if pydot is None:
        raise ImportError(
            'You must install pydot (`pip install pydot`, or `pip install "lamina[plot]"`) for '
            "model_to_dot to work."
        )
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype,
                   show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        for key, value in (("rankdir", rankdir), ("concentrate", True), ("dpi", dpi),
                           ("splines", splines)):
            dot.set(key, value)
        dot.set_node_defaults(shape="record")
    from lamina.models.plot_graph import model_graph  # models import utils: not at import

    graph = model_graph(model, expand_nested)
    span = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    clusters = {(): dot}
    for box in graph.boxes:
        for depth in range(1, len(box.frames) + 1):
            path = box.frames[:depth]
            if path not in clusters:
                cluster = pydot.Cluster(style="dashed", graph_name=path[-1])
                cluster.set("label", path[-1])
                cluster.set("labeljust", "l")
                clusters[path[:-1]].add_subgraph(cluster)
                clusters[path] = cluster
        label = _html_label(*layer_label(box.layer, **options), span=span)
        node = pydot.Node(box.key, label=label)
        for key, value in (("fontname", "Helvetica"), ("border", "0"), ("margin", "0")):
            node.set(key, value)
        clusters[box.frames].add_node(node)
    for src, dst in graph.edges:
        edge = pydot.Edge(src, dst)
        edge.set("penwidth", "2")
        dot.add_edge(edge)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Draw the model's layers and connections to an image file (Keras's ``plot_model``).

    With pydot and Graphviz installed this is Keras's drawing; otherwise matplotlib draws the
    same boxes and arrows (any format matplotlib writes: png, pdf, svg, jpg, ...).

    Args:
        model: a built model.
        to_file: the image's path; its extension picks the format (png without one).
        show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable: what
            each box shows.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        expand_nested: draw nested functional/``Sequential`` models as frames of their layers.
        dpi: the image's resolution.
        splines: Graphviz's edge style (ignored by the matplotlib drawing).

    Returns:
        The drawing as IPython shows it inline (``display.Image``, ``display.SVG`` for svg)
        when IPython is installed, as Keras; otherwise ``None``.

    Raises:
        ImportError: neither Graphviz (with pydot) nor matplotlib is installed.
        ValueError: the model is not built, or an unknown keyword argument.

    Example:
        >>> import os, tempfile
        >>> import lamina
        >>> inp = lamina.Input((3,))
        >>> model = lamina.Model(inp, lamina.layers.Dense(1)(inp))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.svg")
        >>> _ = plot_model(model, path, show_shapes=True, rankdir="LR")
        >>> open(path).read().startswith("<?xml")
        True
    """
    _check(model, kwargs)
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype,
                   show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    pydot = _pydot()
    if pydot is not None and _graphviz_works(pydot):
        dot = model_to_dot(model, rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                           splines=splines, **options)
        dot.write(to_file, format=extension)
    else:
        from lamina.models.plot_graph import model_graph  # models import utils
        from lamina.utils import model_plot_draw

        if not model_plot_draw.available():
            message = (
                "You must install graphviz (see instructions at https://graphviz.gitlab.io/"
                'download/) with pydot, or matplotlib (`pip install "lamina[plot]"`), for '
                "`plot_model` to work."
            )
            if "IPython.core.magics.namespace" in sys.modules:  # a notebook keeps running (Keras)
                print(message)
                return None
            raise ImportError(message)
        graph = model_graph(model, expand_nested)
        labels = {box.key: layer_label(box.layer, **options) for box in graph.boxes}
        model_plot_draw.draw(graph, labels, to_file, extension, rankdir=rankdir, dpi=dpi)
    return _notebook_image(to_file, extension)


def _notebook_image(path: str, extension: str):
    """The drawing as IPython shows it inline (as Keras returns it), or ``None``."""
    try:
        from IPython import display
    except ImportError:
        return None
    if extension.lower() == "svg":
        return display.SVG(filename=path)
    if extension.lower() in ("png", "jpg", "jpeg", "gif"):
        return display.Image(filename=path)
    return None
