"""Hostile model and weights files that earlier hardening missed: a sharded-weights index that is
a FIFO, names millions of shards or nests without end; a ``.keras`` archive naming a member
twice; model configs nesting objects deeper than any real model.  Each must fail at once with a
``ValueError`` naming the problem, never hang, recurse out of the stack or load the wrong data.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving import sharded_weights


@contextlib.contextmanager
def _deadline(seconds):
    """Turns a hang into a ``TimeoutError`` after ``seconds`` (POSIX main thread only)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _hang(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _model():
    return lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, name="d")])


# ------------------------------------------------------------------ sharded-weights index
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_sharded_index_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    index = tmp_path / "model.weights.json"
    os.mkfifo(index)  # opening it for reading would wait for a writer forever
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    with _deadline(10), pytest.raises(ValueError, match="not a regular file"):
        model.load_weights(str(index))
    for got, want in zip(model.get_weights(), before):
        assert (got == want).all()


def test_an_index_naming_more_shards_than_the_limit_is_refused_at_once(tmp_path):
    # 100,001 distinct names in a 2.5 MB file: checking each against the names seen so far
    # in a list took minutes (quadratic) before the limit was even looked at.
    count = sharded_weights.MAX_SHARDS + 1
    index = tmp_path / "model.weights.json"
    index.write_text(json.dumps({"weight_map": {f"/g{i}": f"s{i}.h5" for i in range(count)}}))
    with _deadline(10), pytest.raises(ValueError, match=r"over 100000 shard files"):
        _model().load_weights(str(index))


def test_an_index_nested_beyond_the_stack_is_a_clear_error(tmp_path):
    index = tmp_path / "model.weights.json"
    index.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nests lists or objects too deeply"):
        _model().load_weights(str(index))


# ------------------------------------------------------------------ .keras archive
def test_an_archive_naming_a_member_twice_is_refused(tmp_path):
    # zipfile reads the last copy of a name, other tools the first: a scanner approving the
    # first config.json would not see the model that loads.
    model = _model()
    good = tmp_path / "good.keras"
    model.save(str(good))
    bad = tmp_path / "twice.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as out:
        for name in src.namelist():
            out.writestr(name, src.read(name))
        config = json.loads(src.read("config.json"))
        config["config"]["layers"][-1]["config"]["units"] = 1000
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
            out.writestr("config.json", json.dumps(config))
    with pytest.raises(ValueError, match="holds member 'config.json' more than once"):
        lamina.saving.load_model(str(bad))
    lamina.saving.load_model(str(good))  # the honest archive still loads


def _directory_bomb(path, members, declared):
    """A zip of one local entry and a central directory listing it ``members`` times (47
    bytes each), whose end record declares ``declared`` members."""
    name = b"a"
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0) + name
    entry = struct.pack(
        "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
    )
    directory = (entry + name) * members
    count = min(declared, 0xFFFF)
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(local), 0
    )
    path.write_bytes(local + directory + end)
    return str(path)


@pytest.mark.parametrize("declared", [400_000, 1], ids=["counted", "count-lies"])
@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_a_central_directory_of_millions_of_members_is_refused_before_parsing(
    tmp_path, declared, loader
):
    # 400,000 empty members in 19 MB: zipfile builds an object for each before any check
    # (about 14 times the file's size in memory, a minute of CPU); a 2 GB file would need
    # tens of gigabytes.  The end record's sizes are checked first.
    path = _directory_bomb(tmp_path / "many.keras", 400_000, declared)
    with _deadline(10), pytest.raises(ValueError, match="central directory declares .* bytes"):
        if loader == "load_model":
            lamina.saving.load_model(path)
        else:
            _model().load_weights(path)


# ------------------------------------------------------------------ configs nesting too deep
def _nested_sequentials(depth):
    dense = json.dumps({"class_name": "Dense", "config": {"units": 2, "name": "d"}})
    inner = '{"class_name":"Sequential","config":{"name":"s","layers":[' * depth + dense
    inner += "]}}" * depth
    return (
        '{"class_name":"Sequential","config":{"name":"top","layers":[' + inner + "]},"
        '"build_config":{"input_shape":[null,3]}}'
    )


def _nested_wrappers(depth):
    dense = json.dumps({"class_name": "Dense", "config": {"units": 2}})
    inner = '{"class_name":"TimeDistributed","config":{"layer":' * depth + dense + "}}" * depth
    return (
        '{"class_name":"Sequential","config":{"name":"top","layers":[' + inner + "]},"
        '"build_config":{"input_shape":[null,4,3]}}'
    )


def _as_keras(tmp_path, config_json):
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        zf.writestr("config.json", config_json)
        zf.writestr("model.weights.h5", _empty_weights())
    return str(path)


def _empty_weights():
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers")
    return buf.getvalue()


def _as_legacy_h5(tmp_path, config_json):
    path = tmp_path / "deep.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = config_json
        f.attrs["keras_version"] = "2.4.0"
        f.create_group("model_weights")
    return str(path)


@pytest.mark.parametrize(
    "config_json",
    [_nested_sequentials(40), _nested_sequentials(150), _nested_wrappers(250)],
    ids=["sequentials-40", "sequentials-150", "wrappers-250"],
)
@pytest.mark.parametrize("loader", ["keras", "h5", "json"])
def test_objects_nested_deeper_than_any_model_are_refused_at_once(tmp_path, config_json, loader):
    # 40 nested Sequentials took seconds to rebuild and 150 minutes (the cost grows with the
    # cube of the depth); a few hundred wrappers ran out of stack.  All are refused before
    # anything is rebuilt.
    with _deadline(20), pytest.raises(ValueError, match="nests objects .* more than 32 levels deep"):
        if loader == "keras":
            lamina.saving.load_model(_as_keras(tmp_path, config_json))
        elif loader == "h5":
            lamina.saving.load_model(_as_legacy_h5(tmp_path, config_json))
        else:
            lamina.models.model_from_json(config_json)



def test_a_feature_space_nesting_objects_too_deep_is_refused(tmp_path):
    # A FeatureSpace archive is rebuilt by its own loader, not as a model: the same limit.
    space = lamina.utils.FeatureSpace(features={"x": "float_normalized"}, output_mode="concat")
    space.adapt([{"x": np.arange(10, dtype="float32")}])
    good = tmp_path / "space.keras"
    space.save(str(good))
    deep = '{"class_name":"TimeDistributed","config":{"layer":' * 250
    deep += '{"class_name":"Normalization","config":{"axis":[-1]}}' + "}}" * 250
    with zipfile.ZipFile(good) as src:
        config = json.loads(src.read("config.json"))
        preprocessor = json.dumps(config["config"]["features"]["x"]["config"]["preprocessor"])
        text = json.dumps(config).replace(preprocessor, deep)
        bad = tmp_path / "deep_space.keras"
        with zipfile.ZipFile(bad, "w") as out:
            for name in src.namelist():
                out.writestr(name, text if name == "config.json" else src.read(name))
    with pytest.raises(ValueError, match="nests objects .* more than 32 levels deep"):
        lamina.saving.load_model(str(bad))
