"""``model.summary()`` prints Keras 3's text to the character: its column widths for a line
length (rich's layout), its wrapping and cropping of long cells, its arguments
(``line_length``, ``positions``, ``show_trainable``, ``layer_range``, ``expand_nested``) and
the optimizer's parameters once ``fit`` built them."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _models(k):
    seq = k.Sequential(
        [
            k.Input((8,)),
            k.layers.Dense(16, activation="relu", name="dense"),
            k.layers.Dropout(0.1, name="dropout"),
            k.layers.Dense(1, name="dense_1"),
        ],
        name="seq",
    )
    a, b = k.Input((2,), name="a"), k.Input((3,), name="b")
    shared = k.layers.Dense(3, name="shared")
    h = k.layers.Dense(2, name="proj")(b)
    branching = k.Model([a, b], [shared(a), shared(h)], name="two")
    enc_in, dec_in = k.Input((None, 4), name="enc"), k.Input((None, 4), name="dec")
    _, hh, c = k.layers.LSTM(8, return_state=True, name="encoder_with_a_rather_long_name")(enc_in)
    s2s = k.Model([enc_in, dec_in], k.layers.LSTM(8, name="decoder")(dec_in, [hh, c]), name="s2s")
    inner = k.Sequential(
        [k.Input((4,)), k.layers.Dense(5, name="in1"), k.layers.Dense(6, name="in2")],
        name="inner",
    )
    x = k.Input((4,), name="x")
    nested = k.Model(x, k.layers.Dense(1, name="head")(inner(x)), name="outer")
    unbuilt = k.Sequential([k.layers.Dense(2, name="u1"), k.layers.Dense(3, name="u2")], name="u")
    return {"seq": seq, "branching": branching, "s2s": s2s, "nested": nested, "unbuilt": unbuilt}


CASES = [
    ("seq", {}),
    ("seq", {"line_length": 50, "show_trainable": True}),
    ("seq", {"positions": [0.5, 0.7, 1.0]}),
    ("seq", {"layer_range": ["dense", "dropout"]}),
    ("branching", {}),
    ("branching", {"show_trainable": True}),
    ("branching", {"line_length": 90}),  # wider than the 80-column console: cropped
    ("s2s", {}),
    ("nested", {}),
    ("nested", {"expand_nested": True, "show_trainable": True}),
    ("unbuilt", {}),
]


def _text(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda s, **_: lines.append(s), **kwargs)
    return "".join(lines)


@pytest.mark.parametrize("columns", ["80", "132"])
def test_summary_text_matches_keras(keras, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)  # both read the console width from here
    with keras_ref():
        ref_models = _models(keras)
        expected = [_text(ref_models[name], **kw) for name, kw in CASES]
    models = _models(lamina)
    got = [_text(models[name], **kw) for name, kw in CASES]
    for (name, kw), g, e in zip(CASES, got, expected):
        assert g == e, f"{name} {kw}\n{g}\n{e}"


def test_summary_counts_the_optimizer_after_fit_as_keras(keras, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    x, y = np.ones((8, 8), "float32"), np.ones((8, 1), "float32")

    def run(k, optimizer):
        k.backend.clear_session()  # automatic names (``adam``, ``adam_1``) start afresh
        model = _models(k)["seq"]
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=4, verbose=0)
        return _text(model), [(v.path, tuple(v.shape)) for v in model.optimizer.variables]

    for optimizer in ("adam", "sgd", "rmsprop"):
        with keras_ref():
            expected = run(keras, optimizer)
        assert run(lamina, optimizer) == expected


def test_functional_model_optimizer_state_is_visible_after_fit(keras):
    """``model.optimizer.iterations`` and ``.variables`` of a functional model read the
    trained state (they used to read nothing: only Sequential models were found)."""

    def run(k):
        inputs = k.Input((3,))
        model = k.Model(inputs, k.layers.Dense(2)(inputs))
        model.compile("adam", "mse")
        model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), batch_size=4, verbose=0)
        return int(model.optimizer.iterations), len(model.optimizer.variables)

    with keras_ref():
        expected = run(keras)
    assert run(lamina) == expected == (2, 6)


def test_summary_arguments_are_checked_as_keras():
    model = _models(lamina)["seq"]
    with pytest.raises(ValueError, match="do not match the layer names"):
        model.summary(layer_range=["nope", "dense"])
    with pytest.raises(ValueError, match="length 2"):
        model.summary(layer_range=["dense"])
    with pytest.raises(ValueError, match="Insufficient console width"):
        model.summary(line_length=8)
