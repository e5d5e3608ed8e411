"""``plot_model``/``model_to_dot``: Keras's graph and labels (compared with Keras's own
``model_to_dot`` through pydot), and a drawing on a machine without Graphviz (matplotlib)."""

import numpy as np
import pytest

import lamina
from lamina.utils import model_plot
from tests.helpers import keras_ref

pydot = pytest.importorskip("pydot")


def _model(k, kind):
    """The same model in Keras (``k = keras``) or Lamina (``k = lamina``), with explicit
    names: ``kind`` is "sequential", "functional" (with a nested functional and a nested
    Sequential) or "subclassed"."""
    if kind == "sequential":
        return k.Sequential(
            [k.Input((3,)), k.layers.Dense(4, activation="relu", name="h"),
             k.layers.Dense(1, name="o")],
            name="seq",
        )
    if kind == "subclassed":
        class Sub(k.Model):
            def __init__(self):
                super().__init__(name="sub")
                self.d = k.layers.Dense(2)

            def call(self, t):
                return self.d(t)

        sub = Sub()
        sub(np.zeros((1, 3), "float32"))
        return sub
    x = k.Input((4,), name="x")
    a = k.layers.Dense(3, name="a")(x)
    b = k.layers.Dense(3, activation="tanh", name="b")(x)
    inner = k.Model(x, k.layers.Add(name="add")([a, b]), name="inner")
    i1, i2 = k.Input((4,), name="i1"), k.Input((2,), name="i2")
    joined = k.layers.Concatenate(name="cat")([inner(i1), i2])
    small = k.Sequential([k.Input((5,)), k.layers.Dense(2, name="s1")], name="small")
    out = k.layers.Dense(1, name="out")(small(joined))
    return k.Model([i1, i2], out, name="func")


KINDS = ("sequential", "functional", "subclassed")


def _shape(dot):
    """``(box labels, arrows as label pairs, frame names)`` of a pydot graph (Keras puts a
    nested model's boxes and arrows in its frame's subgraph)."""
    def nodes(graph, out):
        for n in graph.get_nodes():
            if n.get_name() not in ("node", "edge", "graph"):
                out.append(n)
        for sub in graph.get_subgraphs():
            nodes(sub, out)
        return out

    def edges(graph, out):
        out += graph.get_edges()
        for sub in graph.get_subgraphs():
            edges(sub, out)
        return out

    names = {n.get_name(): n.get_label() for n in nodes(dot, [])}
    pairs = [(names[e.get_source()], names[e.get_destination()]) for e in edges(dot, [])]
    clusters = [s.get_label() for s in dot.get_subgraphs()]
    return sorted(names.values()), sorted(pairs), clusters


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"show_shapes": True, "show_layer_activations": True},
        {"show_dtype": True, "show_trainable": True, "show_layer_names": False, "expand_nested": True},
    ],
)
def test_model_to_dot_matches_keras(keras, kind, options):
    with keras_ref():
        keras.backend.clear_session()
        theirs = _model(keras, kind)
        ref = _shape(keras.utils.model_to_dot(theirs, **options))
    ours = _model(lamina, kind)
    got = _shape(lamina.utils.model_to_dot(ours, **options))
    assert got[1] == ref[1]
    assert got[2] == ref[2]
    # Keras's labels are HTML tables; Lamina escapes text the same way and uses the same cells.
    assert [_cells(x) for x in got[0]] == [_cells(x) for x in ref[0]]


def _cells(label: str) -> list[str]:
    import re

    return re.findall(r"<b>(.*?)</b>", label)


def test_plot_model_draws_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(model_plot, "_graphviz_works", lambda _: False)
    for kind in KINDS:
        model = _model(lamina, kind)
        for ext in ("png", "svg", "pdf"):
            path = tmp_path / f"{kind}.{ext}"
            model_plot.plot_model(model, str(path), show_shapes=True, show_trainable=True,
                                  expand_nested=True, rankdir="LR" if ext == "svg" else "TB")
            head = path.read_bytes()[:8]
            assert head.startswith({"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}[ext])
    image = model_plot.plot_model(_model(lamina, "sequential"), str(tmp_path / "m.png"))
    ipython = pytest.importorskip("IPython.display")
    assert isinstance(image, ipython.Image)
    assert model_plot.plot_model(model, str(tmp_path / "m.pdf")) is None


def test_plot_model_without_any_renderer_raises_keras_import_error(tmp_path, monkeypatch):
    from lamina.utils import model_plot_draw

    monkeypatch.setattr(model_plot, "_graphviz_works", lambda _: False)
    monkeypatch.setattr(model_plot_draw, "available", lambda: False)
    model = _model(lamina, "sequential")
    with pytest.raises(ImportError, match="You must install graphviz"):
        lamina.utils.plot_model(model, str(tmp_path / "m.png"))


def test_plot_model_errors_as_keras(tmp_path):
    unbuilt = lamina.Sequential([lamina.layers.Dense(2)])
    with pytest.raises(ValueError, match="has not yet been built"):
        lamina.utils.plot_model(unbuilt, str(tmp_path / "m.png"))
    model = _model(lamina, "sequential")
    with pytest.raises(ValueError, match="layer_range. is no longer supported"):
        lamina.utils.plot_model(model, str(tmp_path / "m.png"), layer_range=["h", "o"])
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        lamina.utils.plot_model(model, str(tmp_path / "m.png"), show_colors=True)
    with pytest.raises(ValueError, match="rankdir must be 'TB' or 'LR'"):
        from lamina.utils import model_plot_draw

        model_plot_draw.draw(lamina.models.plot_graph.model_graph(model), {}, "x.png", "png",
                             rankdir="BT")


def test_keras2_import_paths_draw(tmp_path):
    from lamina.utils.vis_utils import model_to_dot, plot_model

    model = _model(lamina, "functional")
    assert isinstance(model_to_dot(model, show_shapes=True), pydot.Dot)
    plot_model(model, to_file=str(tmp_path / "model.png"), show_shapes=True)
    assert (tmp_path / "model.png").stat().st_size > 1000


def test_ranks_put_each_box_below_its_inputs():
    from lamina.models.plot_graph import model_graph
    from lamina.utils.model_plot_draw import _ranks

    graph = model_graph(_model(lamina, "functional"), expand_nested=True)
    rank = _ranks(graph)
    assert all(rank[a] < rank[b] for a, b in graph.edges)
    by_name = {graph.name(k): r for k, r in rank.items()}
    assert by_name["i2"] == by_name["cat"] - 1  # an input sits just above its reader
