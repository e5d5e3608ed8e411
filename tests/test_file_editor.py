"""``lamina.saving.KerasFileEditor`` against Keras 3's ``keras.saving.KerasFileEditor``.

Both editors open the same files (saved by Keras and by Lamina), make the same edits, and save;
each library's edited file must load into the other library's model with identical weights.
"""

import contextlib
import io
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving import KerasFileEditor
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)


def _quiet(fn, *args):
    """Runs ``fn`` and returns ``(result, printed text)``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args)
    return out, buf.getvalue()


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}/{k}"))
        else:
            out[f"{prefix}/{k}"] = v
    return out


def _same_tree(a, b):
    fa, fb = _flat(a), _flat(b)
    assert list(fa) == list(fb)
    for k in fa:
        np.testing.assert_array_equal(np.asarray(fa[k]), np.asarray(fb[k]), err_msg=k)
        assert np.asarray(fa[k]).dtype == np.asarray(fb[k]).dtype, k


def _keras_model(keras, sizes, bn=True, bias=True):
    with keras_ref():
        layers = [keras.Input((3,)), keras.layers.Dense(sizes[0], use_bias=bias)]
        layers += [keras.layers.BatchNormalization()] if bn else []
        layers += [keras.layers.Dense(n) for n in sizes[1:]]
        return keras.Sequential(layers)


def _lamina_model(sizes, bn=True, bias=True):
    layers = [lamina.Input((3,)), lamina.layers.Dense(sizes[0], use_bias=bias)]
    layers += [lamina.layers.BatchNormalization()] if bn else []
    layers += [lamina.layers.Dense(n) for n in sizes[1:]]
    return lamina.Sequential(layers)


@pytest.fixture
def saved(keras, tmp_path):
    """A trained-looking Keras model (random weights, compiled) saved in both formats."""
    model = _keras_model(keras, (4, 2))
    with keras_ref():
        model.set_weights([RNG.normal(size=w.shape).astype("float32") for w in model.weights])
        model.compile(optimizer="adam", loss="mse")
        model.save(tmp_path / "m.keras")
        model.save_weights(tmp_path / "m.weights.h5")
    return model, tmp_path


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5", "lamina.keras"])
def test_open_matches_keras(keras, saved, name):
    model, folder = saved
    if name == "lamina.keras":  # a file Lamina wrote, read by both editors
        mine = _lamina_model((4, 2))
        mine.set_weights(model.get_weights())
        mine.save(folder / name)
    with keras_ref():
        ref, ref_out = _quiet(keras.saving.KerasFileEditor, str(folder / name))
        _, ref_summary = _quiet(ref.summary)
    got, got_out = _quiet(KerasFileEditor, folder / name)
    _same_tree(got.weights_dict, ref.weights_dict)
    assert got.object_metadata == ref.object_metadata
    assert got.config == ref.config and got.metadata == ref.metadata
    # Rich wraps Keras's long lines at the console's width (inside words, such as a long
    # path): the text is the same once whitespace is dropped.
    assert "".join(got_out.split()) == "".join(ref_out.split())
    assert _quiet(got.summary)[1] == ref_summary


def _messages(text):
    return sorted(line for line in text.splitlines() if line.startswith("..."))


@pytest.mark.parametrize("sizes", [(5, 2), (4, 2)])
def test_compare_matches_keras(keras, saved, sizes):
    _, folder = saved
    path = str(folder / "m.weights.h5")
    reference = _keras_model(keras, sizes)
    with keras_ref():
        reference.build((None, 3))
        ref, ref_out = _quiet(keras.saving.KerasFileEditor(path).compare, reference)
    editor, _ = _quiet(KerasFileEditor, path)
    got, got_out = _quiet(editor.compare, _lamina_model(sizes))
    assert _messages(got_out) == _messages(ref_out)
    assert got["status"] == ref["status"]
    # Keras 3.15 adds nested counts twice; the documented meaning is one per mismatch.
    assert got["error_count"] == len(_messages(ref_out))
    # A Keras model as the reference gives the same answer.
    with keras_ref():
        same, _ = _quiet(editor.compare, reference)
    assert same == got


def test_compare_success_counts_matching_weights(keras, tmp_path):
    model = _keras_model(keras, (4, 2))
    with keras_ref():
        model.save_weights(tmp_path / "plain.weights.h5")
        ref, ref_out = _quiet(
            keras.saving.KerasFileEditor(str(tmp_path / "plain.weights.h5")).compare, model
        )
    editor, _ = _quiet(KerasFileEditor, tmp_path / "plain.weights.h5")
    got, got_out = _quiet(editor.compare, _lamina_model((4, 2)))
    assert ref["status"] == got["status"] == "success" and ref["error_count"] == 0
    assert got == {"status": "success", "error_count": 0, "match_count": len(model.weights)}
    assert "Comparison successful: saved file is compatible with the reference model" in got_out
    assert f"Found {len(model.weights)} matching weights" in got_out
    assert "Comparison successful" in ref_out


def _edits(weights):
    """Per scenario: (edits, the architecture they adapt the file to, expected weights)."""
    k1, b1, g, be, mm, mv, k2, b2, *_ = weights
    k3, b3 = np.ones((2, 3), "float32"), np.full(3, 0.5, "float32")
    eye, zero = np.eye(4, dtype="float32"), np.zeros(4, "float32")
    return {
        "delete": (
            [("delete_object", "layers/batch_normalization"), ("delete_object", "optimizer")],
            dict(sizes=(4, 2), bn=False), [k1, b1, k2, b2]),
        "add": (
            [("delete_object", "optimizer"),
             ("add_object", "layers/dense_2", {"0": k3, "1": b3})],
            dict(sizes=(4, 2, 3)), [k1, b1, g, be, mm, mv, k2, b2, k3, b3]),
        "rename": (
            [("rename_object", "layers/dense_1", "dense_2"),
             ("add_object", "layers/dense_1", {"0": eye, "1": zero})],
            dict(sizes=(4, 4, 2)), [k1, b1, g, be, mm, mv, eye, zero, k2, b2]),
        "weights": (
            [("delete_weight", "layers/dense", "1"), ("delete_object", "optimizer")],
            dict(sizes=(4, 2), bias=False), [k1, g, be, mm, mv, k2, b2]),
        "add_weights": (
            [("delete_weight", "layers/dense", "1"), ("add_weights", "layers/dense", {"1": zero})],
            dict(sizes=(4, 2)), [k1, zero, g, be, mm, mv, k2, b2]),
    }  # fmt: skip


@pytest.mark.parametrize("scenario", ["delete", "add", "rename", "weights", "add_weights"])
@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_edits_round_trip_both_ways(keras, saved, scenario, name):
    model, folder = saved
    with keras_ref():
        weights = [np.asarray(w) for w in model.get_weights()]
    edits, arch, expected = _edits(weights)[scenario]
    with keras_ref():
        ref, _ = _quiet(keras.saving.KerasFileEditor, str(folder / name))
        for method, *args in edits:
            getattr(ref, method)(*args)
        ref.save(str(folder / "keras_edit.weights.h5"))
    got, _ = _quiet(KerasFileEditor, folder / name)
    for method, *args in edits:
        getattr(got, method)(*args)
    _same_tree(got.weights_dict, ref.weights_dict)
    got.resave_weights(folder / "lamina_edit.weights.h5")

    mine = _lamina_model(**arch)
    mine.load_weights(folder / "keras_edit.weights.h5")  # Keras's edit, loaded by Lamina
    theirs = _keras_model(keras, **arch)
    with keras_ref():
        theirs.load_weights(folder / "lamina_edit.weights.h5")  # Lamina's edit, by Keras
        theirs_w = theirs.get_weights()
    for a, b, want in zip(mine.get_weights(), theirs_w, expected, strict=True):
        np.testing.assert_array_equal(a, want)
        np.testing.assert_array_equal(b, want)


def test_bare_names_and_errors_match_keras(keras, saved):
    _, folder = saved
    path = str(folder / "m.keras")
    with keras_ref():
        ref, _ = _quiet(keras.saving.KerasFileEditor, path)
    got, _ = _quiet(KerasFileEditor, path)
    cases = [
        (lambda e: e.rename_object("layers/nope", "x"), "Path 'layers/nope' not found in model"),
        (lambda e: e.delete_object("nope"), "Source name 'nope' does not appear in the model"),
        (lambda e: e.rename_object("layers/dense", "a/b"), "should be a leaf name"),
        (lambda e: e.delete_weight("layers/dense", "7"), r"Weight 7 not found .* \['0', '1'\]"),
        (lambda e: e.add_object("nope/x", {}), "Path 'nope' not found in model"),
        (lambda e: e.add_weights("layers/dense", [1]), "should be a dict"),
        (lambda e: e.save(str(folder / "x.h5")), "expected a `.weights.h5` extension"),
    ]
    for call, match in cases:
        with keras_ref(), pytest.raises(ValueError, match=match):
            call(ref)
        with pytest.raises(ValueError, match=match):
            call(got)
    for bad in ("x.h5", "x.zip"):
        with keras_ref(), pytest.raises(ValueError, match="Invalid filename"):
            keras.saving.KerasFileEditor(str(folder / bad))
        with pytest.raises(ValueError, match="Invalid filename: expected a `.keras`"):
            KerasFileEditor(folder / bad)
    # A name that occurs once is found without its path (Keras 3.15 miscounts it as two,
    # and would silently replace an existing object on rename).
    got.rename_object("dense_1", "head")
    assert list(got.weights_dict["layers"]) == ["batch_normalization", "dense", "head"]
    with pytest.raises(ValueError, match="Name '0' occurs more than once"):
        got.delete_object("0")
    with pytest.raises(ValueError, match="'dense' already exists"):
        got.rename_object("layers/head", "dense")


def test_nested_model_weights_are_kept(keras, tmp_path):
    inner = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(4)])
    model = lamina.Sequential([lamina.Input((3,)), inner, lamina.layers.Dense(2)])
    model.save_weights(tmp_path / "n.weights.h5")
    editor, _ = _quiet(KerasFileEditor, tmp_path / "n.weights.h5")
    assert sorted(_flat(editor.weights_dict)) == [
        "/layers/dense/0", "/layers/dense/1",
        "/layers/sequential/layers/dense/0", "/layers/sequential/layers/dense/1",
    ]  # fmt: skip
    editor.save(tmp_path / "out.weights.h5")
    with keras_ref():
        k_inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
        ref = keras.Sequential([keras.Input((3,)), k_inner, keras.layers.Dense(2)])
        ref.load_weights(tmp_path / "out.weights.h5")
        ref_w = ref.get_weights()
    for a, b in zip(ref_w, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_recurrent_cell_weights_are_kept(keras, tmp_path):
    """Keras keeps an LSTM's weights on ``layers/lstm/cell``; Keras 3.15's editor drops them."""
    with keras_ref():
        ref = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
        ref.save_weights(tmp_path / "r.weights.h5")
        want = ref.get_weights()
    editor, _ = _quiet(KerasFileEditor, tmp_path / "r.weights.h5")
    assert sorted(_flat(editor.weights_dict)) == [
        "/layers/dense/0", "/layers/dense/1",
        "/layers/lstm/cell/0", "/layers/lstm/cell/1", "/layers/lstm/cell/2",
    ]  # fmt: skip
    editor.save(tmp_path / "out.weights.h5")
    mine = lamina.Sequential([lamina.Input((5, 3)), lamina.layers.LSTM(4), lamina.layers.Dense(2)])
    mine.load_weights(tmp_path / "out.weights.h5")
    with keras_ref():
        ref.set_weights([np.zeros_like(w) for w in want])
        ref.load_weights(tmp_path / "out.weights.h5")
        back = ref.get_weights()
    for a, b, w in zip(mine.get_weights(), back, want, strict=True):
        np.testing.assert_array_equal(a, w)
        np.testing.assert_array_equal(b, w)


def _with_weights(src, dst, build):
    """Copies the archive ``src`` to ``dst`` with ``model.weights.h5`` made by ``build(h5)``."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = buf.getvalue() if info.filename == "model.weights.h5" else zi.read(info)
            zo.writestr(info.filename, data)


def test_hostile_weights_are_refused(saved, tmp_path):
    _, folder = saved
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(3.0)

    def link(f):
        f.create_dataset("layers/dense/vars/0", data=np.zeros((3, 4), "float32"))
        f["layers/dense/vars/1"] = h5py.ExternalLink(str(secret), "/data")

    def huge(f):  # declares 4 TiB; stored as one unwritten chunk
        f.create_dataset("layers/dense/vars/0", shape=(1 << 40,), dtype="float32", chunks=(1024,))

    for build, match in [(link, "ExternalLink"), (huge, r"declares \d+ bytes, over the")]:
        path = tmp_path / f"{build.__name__}.keras"
        _with_weights(folder / "m.keras", path, build)
        with pytest.raises(ValueError, match=match) as info:
            KerasFileEditor(path)
        assert str(path) in str(info.value)
