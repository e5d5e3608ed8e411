"""Lookup vocabularies as ``.keras`` assets (``assets/<layer path>/vocabulary.txt``), the way
``keras.src.saving.saving_lib`` and ``keras.src.layers.preprocessing.index_lookup`` store
them: an adapted Keras layer keeps ``vocabulary: None`` in ``config.json`` and its vocabulary
(special tokens first, one per line) in the asset."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest

import lamina
from lamina import layers
from lamina.saving import keras_assets
from lamina.saving.safety import FileFormatError


def _int_model(functional=False):
    lookup = layers.IntegerLookup(name="ids")
    lookup.adapt(np.array([[7], [7], [3], [9], [9], [9]]))
    if functional:
        x = lamina.Input((1,), dtype="int64")
        h = layers.Flatten()(layers.Embedding(5, 2)(lookup(x)))
        return lamina.Model(x, layers.Dense(1)(h))
    return lamina.Sequential(
        [lamina.Input((1,), dtype="int64"), lookup, layers.Embedding(5, 2), layers.Flatten(),
         layers.Dense(1)]
    )  # fmt: skip


def _as_keras_wrote_it(src, dst):
    """The archive as Keras writes an adapted layer: no vocabulary in the config."""

    def drop(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("IntegerLookup", "StringLookup", "TextVectorization"):
                node["config"]["vocabulary"] = None
            for v in node.values():
                drop(v)
        elif isinstance(node, list):
            for v in node:
                drop(v)

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                cfg = json.loads(data)
                drop(cfg)
                data = json.dumps(cfg).encode()
            zout.writestr(name, data)


@pytest.mark.parametrize("functional", [False, True])
def test_integer_lookup_vocabulary_travels_as_an_asset(tmp_path, functional):
    model = _int_model(functional)
    x = np.array([[7], [3], [9], [4]])
    expected = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        vocab = zf.read("assets/layers/integer_lookup/vocabulary.txt").decode()
    assert vocab.split("\n") == ["-1", "9", "7", "3"]  # OOV token, then by descending count
    keras_form = tmp_path / "k.keras"
    _as_keras_wrote_it(path, keras_form)
    loaded = lamina.models.load_model(keras_form)
    assert loaded.get_layer("ids").get_vocabulary() == [-1, 9, 7, 3]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)


def test_string_lookup_and_text_vectorization_assets(tmp_path):
    words = np.array([["b"], ["a"], ["b"], ["c"], ["b"], ["a"]])
    lookup = layers.StringLookup(name="words")
    lookup.adapt(words)
    text = layers.TextVectorization(output_sequence_length=3, name="text")
    text.adapt(np.array(["the cat sat", "the dog", "the cat"]))
    # Written and read through a stand-in with the layer as its only entry of ``layers``
    # (string inputs do not enter a compiled Lamina model): Keras's folder for each class.
    for layer, folder in ((lookup, "string_lookup"), (text, "text_vectorization")):
        buf = io.BytesIO()
        fake = type("M", (), {"layers": [layer]})()
        with zipfile.ZipFile(buf, "w") as zf:
            keras_assets.write(zf, fake)
        with zipfile.ZipFile(buf) as zf:
            saved = zf.read(f"assets/layers/{folder}/vocabulary.txt").decode().split("\n")
        assert saved == [str(t) for t in layer.get_vocabulary()]
        fresh = (
            layers.StringLookup(name="words")
            if folder == "string_lookup"
            else layers.TextVectorization(output_sequence_length=3, name="text")
        )
        with zipfile.ZipFile(buf) as zf:
            keras_assets.read(zf, "<mem>", type("M", (), {"layers": [fresh]})())
        assert fresh.get_vocabulary() == layer.get_vocabulary()
    # Keras's adapt order (descending count) gives the ids the lookup maps to.
    assert lookup.get_vocabulary() == ["[UNK]", "b", "a", "c"]
    np.testing.assert_array_equal(np.asarray(lookup(words)).ravel(), [1, 2, 1, 3, 1, 2])


class _WithLookup(lamina.Model):
    """A subclassed model: its config holds no layer, so the vocabulary travels only as the
    asset (Keras's attribute walk puts the layer under ``layers/``, sorted before ``lookup``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lookup = layers.IntegerLookup()
        self.embed = layers.Embedding(5, 2)
        self.flat = layers.Flatten()
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.flat(self.embed(self.lookup(x))))


def test_subclassed_model_vocabulary_comes_back_from_the_asset(tmp_path):
    model = _WithLookup()
    model.lookup.adapt(np.array([[7], [7], [3], [9], [9], [9]]))
    x = np.array([[7], [3], [9], [4]])
    expected = model.predict(x, verbose=0)
    path = tmp_path / "sub.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert "assets/layers/integer_lookup/vocabulary.txt" in zf.namelist()
    loaded = lamina.models.load_model(path, custom_objects={"_WithLookup": _WithLookup})
    assert loaded.lookup.get_vocabulary() == [-1, 9, 7, 3]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)


def _archive_with(tmp_path, name, data, mode=None):
    model = _int_model()
    src = tmp_path / "src.keras"
    model.save(src)
    dst = tmp_path / "bad.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            if not n.startswith("assets/"):
                zout.writestr(n, zin.read(n))
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        zout.writestr(info, data)
    return dst


def test_a_linked_asset_is_refused(tmp_path):
    path = _archive_with(
        tmp_path, "assets/layers/integer_lookup/vocabulary.txt", b"/etc/passwd",
        mode=stat.S_IFLNK | 0o777,
    )  # fmt: skip
    with pytest.raises(FileFormatError, match="symbolic link"):
        lamina.models.load_model(path)


def test_an_oversized_asset_is_refused(tmp_path, monkeypatch):
    path = _archive_with(tmp_path, "assets/layers/integer_lookup/vocabulary.txt", b"-1\n" * 100)
    monkeypatch.setattr(keras_assets, "MAX_ASSET_BYTES", 64)
    with pytest.raises(FileFormatError, match="over the 64-byte limit"):
        lamina.models.load_model(path)


def test_a_vocabulary_with_too_many_lines_is_refused(tmp_path, monkeypatch):
    """Each vocabulary line becomes a Python string and a table entry (tens of bytes of
    memory per byte of file): the line count is bounded before the layer reads it."""
    lines = b"".join(b"%d\n" % i for i in range(100))
    path = _archive_with(tmp_path, "assets/layers/integer_lookup/vocabulary.txt", lines)
    monkeypatch.setattr(keras_assets, "MAX_ASSET_LINES", 50)
    with pytest.raises(FileFormatError, match="more than 50 lines"):
        lamina.models.load_model(path)


def test_files_outside_the_layer_folder_are_not_read(tmp_path):
    path = _archive_with(tmp_path, "assets/layers/integer_lookup/sub/vocabulary.txt", b"not an int")
    loaded = lamina.models.load_model(path)  # the config's vocabulary stands
    assert loaded.get_layer("ids").get_vocabulary() == [-1, 9, 7, 3]


def test_a_damaged_vocabulary_names_the_file(tmp_path):
    path = _archive_with(tmp_path, "assets/layers/integer_lookup/vocabulary.txt", b"-1\nseven")
    with pytest.raises(FileFormatError, match="assets of layer 'ids'") as info:
        lamina.models.load_model(path)
    assert os.fspath(path) in str(info.value)


def test_real_keras_string_lookup_round_trip(tmp_path):
    """Needs TensorFlow: Keras's lookup layers run on ``tf.lookup`` whatever the backend."""
    pytest.importorskip("tensorflow")
    import keras

    words = np.array([["b"], ["a"], ["b"], ["c"]])
    k_lookup = keras.layers.StringLookup()
    k_lookup.adapt(words)
    k_model = keras.Sequential([keras.Input((1,), dtype="string"), k_lookup])
    path = tmp_path / "k.keras"
    k_model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.layers[0].get_vocabulary() == k_lookup.get_vocabulary()
    np.testing.assert_array_equal(np.asarray(loaded.layers[0](words)), np.asarray(k_lookup(words)))


def test_string_lookup_first_model_fits_on_strings():
    words = np.array([["a"], ["b"], ["c"], ["a"]] * 4)
    y = (words[:, 0] == "a").astype("float32")
    lookup = layers.StringLookup()
    lookup.adapt(words)
    model = lamina.Sequential(
        [lamina.Input((1,), dtype="string"), lookup, layers.Embedding(4, 2), layers.Flatten(),
         layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(words, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(words[:2], verbose=0).shape == (2, 1)
