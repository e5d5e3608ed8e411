"""Keras 3's sharded weights (``save_weights("m.weights.json", max_shard_size=GB)``): the same
files as Keras writes, read both ways, and an index that cannot reach outside its folder."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import lamina
from lamina.saving import FileFormatError
from tests.helpers import keras_ref

KB = 1 / 1024**2  # max_shard_size is in gigabytes


def _build(lib, seed=0):
    lib.utils.set_random_seed(seed)
    return lib.Sequential(
        [
            lib.Input((12,)),
            lib.layers.Dense(16, activation="relu", name="d1"),
            lib.layers.Dense(16, activation="relu", name="d2"),
            lib.layers.Dense(3, name="d3"),
        ]
    )


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_lamina_shards_match_keras_files_and_load_in_keras(tmp_path, keras):
    model = _build(lamina)
    mine, ref_dir = tmp_path / "lamina", tmp_path / "keras"
    mine.mkdir()
    ref_dir.mkdir()
    model.save_weights(str(mine / "model.weights.json"), max_shard_size=1 * KB)
    with keras_ref():
        ref = _build(keras, seed=1)
        ref.set_weights(model.get_weights())
        ref.save_weights(str(ref_dir / "model.weights.json"), max_shard_size=1 * KB)
        loaded = _build(keras, seed=2)
        loaded.load_weights(str(mine / "model.weights.json"))
        got = _weights(loaded)
    _same(got, model.get_weights())
    assert sorted(os.listdir(mine)) == sorted(os.listdir(ref_dir))
    assert len(os.listdir(mine)) > 2  # really sharded
    with open(mine / "model.weights.json") as f:
        index = json.load(f)
    with open(ref_dir / "model.weights.json") as f:
        ref_index = json.load(f)
    assert index["weight_map"] == ref_index["weight_map"]
    assert index["metadata"]["total_size"] == ref_index["metadata"]["total_size"]


def test_keras_shards_load_in_lamina(tmp_path, keras):
    with keras_ref():
        ref = _build(keras, seed=3)
        ref.save_weights(str(tmp_path / "net.weights.json"), max_shard_size=1 * KB)
        want = _weights(ref)
    model = _build(lamina)
    model.load_weights(str(tmp_path / "net.weights.json"))
    _same(model.get_weights(), want)
    x = np.random.default_rng(0).normal(size=(4, 12)).astype("float32")
    with keras_ref():
        expected = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_sharded_round_trip_with_the_optimizer_state(tmp_path):
    model = _build(lamina)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 12)).astype("float32"), rng.normal(size=(32, 3))
    model.fit(x, y, epochs=2, verbose=0)
    path = str(tmp_path / "fit.weights.json")
    model.save_weights(path, max_shard_size=1 * KB)
    other = _build(lamina, seed=9)
    other.compile(optimizer="adam", loss="mse")
    other.load_weights(path)
    _same(other.get_weights(), model.get_weights())
    slots = [np.asarray(v) for v in model.optimizer.variables]
    _same([np.asarray(v) for v in other.optimizer.variables], slots)


def test_save_names_and_size_errors(tmp_path):
    model = _build(lamina)
    with pytest.warns(UserWarning, match=r"requires `\*\.json`.*renamed to .*big\.weights\.json"):
        model.save_weights(str(tmp_path / "big.weights.h5"), max_shard_size=1 * KB)
    assert (tmp_path / "big.weights.json").exists()
    with pytest.raises(ValueError, match=r"layers/dense_1/vars/0 is 1\.00KB which exceeds the maximum shard"):
        model.save_weights(str(tmp_path / "small.weights.json"), max_shard_size=0.9 * KB)
    with pytest.raises(ValueError, match="max_shard_size must be positive"):
        model.save_weights(str(tmp_path / "zero.weights.json"), max_shard_size=0)
    with pytest.raises(TypeError, match="number of gigabytes"):
        model.save_weights(str(tmp_path / "s.weights.json"), max_shard_size="1GB")
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        model.save_weights(str(tmp_path / "big.weights.json"), overwrite=False, max_shard_size=1)


def _index(tmp_path, weight_map):
    path = tmp_path / "evil.weights.json"
    path.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return str(path)


def test_an_index_cannot_name_files_outside_its_folder(tmp_path):
    model = _build(lamina)
    outside = tmp_path / "secret.weights.h5"
    model.save_weights(str(outside))
    inner = tmp_path / "inner"
    inner.mkdir()
    for name in ("../secret.weights.h5", str(outside), "sub/x.weights.h5", ".hidden.h5"):
        path = _index(inner, {"/layers/dense/vars": name})
        with pytest.raises(FileFormatError, match="a shard must be a plain '.h5' file name"):
            model.load_weights(path)
    os.symlink(outside, inner / "link.weights.h5")
    with pytest.raises(FileFormatError, match="'link.weights.h5' is a link"):
        model.load_weights(_index(inner, {"/layers/dense/vars": "link.weights.h5"}))
    with pytest.raises(FileFormatError, match="'gone.weights.h5' is missing beside the index"):
        model.load_weights(_index(inner, {"/layers/dense/vars": "gone.weights.h5"}))


def test_damaged_indexes_fail_cleanly_and_leave_the_model_as_it_was(tmp_path):
    model = _build(lamina)
    before = _weights(model)
    bad = tmp_path / "bad.weights.json"
    bad.write_text("{not json")
    with pytest.raises(FileFormatError, match="not a JSON sharded-weights index"):
        model.load_weights(str(bad))
    bad.write_text(json.dumps({"weight_map": ["a.h5"]}))
    with pytest.raises(FileFormatError, match="no 'weight_map' object"):
        model.load_weights(str(bad))
    (tmp_path / "text.weights.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="neither a .keras"):
        model.load_weights(_index(tmp_path, {"/layers/dense/vars": "text.weights.h5"}))
    with pytest.raises(FileFormatError, match="no such file"):
        model.load_weights(str(tmp_path / "absent.weights.json"))
    _same(model.get_weights(), before)
