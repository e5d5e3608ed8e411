"""Hostile model files, round 29: each fails safely with a clear ValueError naming the file.

A model file is untrusted input: loading it never runs code, never reads outside the file and
bounds memory before allocating.  These cases complement ``test_saving_safety``,
``test_saving_bombs``, ``test_hostile_configs_more`` and ``test_fuzz_loaders``: integers of
thousands of digits, encrypted or oddly compressed members, code paths named in every kind of
config entry, bytecode inside wrapper layers, NaN and infinities, decompression bombs in HDF5
and bzip2, subarray shape bombs, weight lists that do not match the layer, and legacy weight
names that climb out of their group.
"""

import base64
import json
import marshal
import os
import struct
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.models import load_model
from tests.helpers import rewrite_config


@pytest.fixture
def saved(tmp_path):
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "good.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    return model, path, config


def _refused(fn, path, match):
    with pytest.raises(ValueError, match=match) as info:
        fn()
    assert str(path) in str(info.value), "the message names the file"
    return str(info.value)


def _with_config(good, path, config):
    return rewrite_config(good, path, config)


def _layer(cls, **config):
    return {"module": "keras.layers", "class_name": cls, "config": {"name": cls.lower(), **config},
            "registered_name": None}  # fmt: skip


# ------------------------------------------------------------------ JSON numbers
def test_an_integer_of_thousands_of_digits_in_config_json_is_a_clear_error(saved, tmp_path):
    _, good, config = saved
    raw = json.dumps(config).replace('"units": 2', '"units": 1' + "0" * 5000).encode()
    path = _with_config(good, tmp_path / "digits.keras", raw)
    msg = _refused(lambda: load_model(path), path, r"config.json holds an integer of over \d+ dig")
    assert "set_int_max_str_digits" not in msg, "no advice to lift Python's guard"


def test_an_integer_of_thousands_of_digits_in_a_legacy_h5_is_a_clear_error(saved, tmp_path):
    model, _, _ = saved
    path = tmp_path / "digits.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        text = f.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        f.attrs["model_config"] = text.replace('"units": 2', '"units": 1' + "0" * 5000)
    _refused(lambda: load_model(path), path, r"'model_config' holds an integer of over \d+ dig")


@pytest.mark.parametrize(
    "raw, received",
    [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e308", "1e\\+308"),
     ("true", "True")],
)  # fmt: skip
def test_non_integer_units_from_json_are_clear_errors(saved, tmp_path, raw, received):
    _, good, config = saved
    text = json.dumps(config).replace('"units": 2', f'"units": {raw}').encode()
    path = _with_config(good, tmp_path / "units.keras", text)
    _refused(lambda: load_model(path), path, f"positive integer.*units={received}")


@pytest.mark.parametrize(
    "layer, match",
    [
        (_layer("Dropout", rate=float("nan")), r"rate=nan"),
        (_layer("Embedding", input_dim=float("inf"), output_dim=2), r"input_dim=inf"),
        (_layer("Reshape", target_shape=[float("nan")]), r"tuple of integers"),
        (_layer("RepeatVector", n=10**15), r"bytes per sample"),
        (_layer("Dense", units=2**64 + 1), r"bytes of weights"),
    ],
)
def test_nan_infinite_and_huge_layer_arguments_fail_before_allocating(saved, tmp_path, layer,
                                                                      match):  # fmt: skip
    _, good, config = saved
    config["config"]["layers"][1:] = [layer]
    path = _with_config(good, tmp_path / "args.keras", json.dumps(config, allow_nan=True).encode())
    _refused(lambda: load_model(path), path, match)


# ------------------------------------------------------------------ zip members
def _patch_member(src, dst, name, flag_bits=0, method=None):
    """Copies ``src`` with member ``name``'s headers (local and central) patched."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        local = zf.getinfo(name).header_offset
    central = data.find(b"PK\x01\x02")
    while central != -1:
        size = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + size] == name.encode():
            break
        central = data.find(b"PK\x01\x02", central + 4)
    for flags_at, method_at in ((local + 6, local + 8), (central + 8, central + 10)):
        flags = struct.unpack_from("<H", data, flags_at)[0]
        struct.pack_into("<H", data, flags_at, flags | flag_bits)
        if method is not None:
            struct.pack_into("<H", data, method_at, method)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
@pytest.mark.parametrize("how, patch", [("is encrypted", {"flag_bits": 1}),
                                        ("uses compression 99", {"method": 99})])  # fmt: skip
def test_encrypted_or_unknown_compression_members_are_refused_up_front(saved, tmp_path, member,
                                                                       how, patch):  # fmt: skip
    model, good, _ = saved
    path = _patch_member(good, tmp_path / "odd.keras", member, **patch)
    _refused(lambda: load_model(path), path, f"member '{member}' {how}")
    _refused(lambda: model.load_weights(path), path, how)


def test_a_bzip2_bomb_among_the_assets_is_refused(saved, tmp_path):
    _, good, _ = saved
    path = tmp_path / "bz.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("assets/vocabulary.txt", b"\0" * (32 << 20))
    _refused(lambda: load_model(path), path, "decompression bomb")


# ------------------------------------------------------------------ code named in a config
_CODE = [
    ("activation", {"module": "builtins", "class_name": "function", "config": "eval",
                    "registered_name": "function"}),
    ("activation", "os.system"),
    ("kernel_initializer", {"module": "subprocess", "class_name": "Popen",
                            "config": {"args": "touch pwned"}, "registered_name": "subprocess>Popen"}),
    ("kernel_regularizer", {"module": "builtins", "class_name": "function", "config": "exec",
                            "registered_name": "function"}),
    ("dtype", {"module": "numpy", "class_name": "load", "config": {}, "registered_name": None}),
]  # fmt: skip


@pytest.mark.parametrize("key, value", _CODE)
def test_callables_of_the_standard_library_named_in_layer_configs_never_load(
    saved, tmp_path, monkeypatch, key, value
):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    _, good, config = saved
    config["config"]["layers"][-1]["config"][key] = value
    path = _with_config(good, tmp_path / "code.keras", config)
    _refused(lambda: load_model(path), path, "Unknown|could not be rebuilt")
    assert not calls and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("key", ["loss", "optimizer"])
def test_callables_named_in_the_compile_config_never_load(saved, tmp_path, key):
    _, good, config = saved
    config["compile_config"][key] = {"module": "os", "class_name": "function",
                                     "config": "system", "registered_name": "function"}  # fmt: skip
    path = _with_config(good, tmp_path / "compile.keras", config)
    _refused(lambda: load_model(path), path, "compile settings could not be restored")


@pytest.mark.parametrize("where", ["model", "layer"])
def test_a_class_path_like_os_system_is_never_imported(saved, tmp_path, where):
    _, good, config = saved
    entry = config if where == "model" else config["config"]["layers"][-1]
    entry.update(module="os", class_name="system", registered_name="os>system")
    path = _with_config(good, tmp_path / "class.keras", config)
    _refused(lambda: load_model(path), path, "'system' is not known|Unknown layer class 'system'")


def _bytecode_lambda():
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    function = {"class_name": "__lambda__", "config": {"code": code, "defaults": None,
                                                        "closure": None}}  # fmt: skip
    return _layer("Lambda", function=function, arguments={})


@pytest.mark.parametrize("wrapper", ["TimeDistributed", "Bidirectional"])
@pytest.mark.parametrize("safe_mode", [True, False])
def test_lambda_bytecode_inside_a_wrapper_never_runs(saved, tmp_path, wrapper, safe_mode):
    _, good, config = saved
    config["config"]["layers"].insert(1, _layer(wrapper, layer=_bytecode_lambda()))
    path = _with_config(good, tmp_path / "wrapped.keras", config)
    _refused(lambda: load_model(path, safe_mode=safe_mode), path, "Lamina never runs code")


def test_keras2_lambda_bytecode_list_form_never_runs(saved, tmp_path):
    _, good, config = saved
    layer = _bytecode_lambda()
    code = layer["config"]["function"]["config"]["code"]
    layer["config"].update(function=[code, None, None], function_type="lambda")
    config["config"]["layers"].insert(1, layer)
    path = _with_config(good, tmp_path / "k2lambda.keras", config)
    _refused(lambda: load_model(path, safe_mode=False), path, "Lamina never runs code")


def test_two_hundred_nested_models_are_refused_before_rebuilding(saved, tmp_path):
    _, good, config = saved
    inner = _layer("Dense", units=2)
    for i in range(200):  # within JSON's nesting limit, far past any real model
        inner = {"module": "keras", "class_name": "Sequential",
                 "config": {"name": f"s{i}", "layers": [inner]}, "registered_name": None}  # fmt: skip
    config["config"]["layers"][1:] = [inner]
    path = _with_config(good, tmp_path / "nested.keras", config)
    _refused(lambda: load_model(path), path, "levels deep")


# ------------------------------------------------------------------ HDF5 weights
def _edit_weights(model, path, edit):
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def test_a_gzip_bomb_in_a_weights_dataset_is_refused_before_inflating(saved, tmp_path):
    model, _, _ = saved

    def bomb(f):  # 80 MB of zeros stored in a few hundred kilobytes
        del f["layers/dense/vars/0"]
        ds = f.create_dataset("layers/dense/vars/0", shape=(20000, 1000), dtype="f4",
                              compression="gzip", chunks=(1000, 1000))  # fmt: skip
        for i in range(20):
            ds[i * 1000 : (i + 1) * 1000] = np.zeros((1000, 1000), "f4")

    path = _edit_weights(model, tmp_path / "gzip.weights.h5", bomb)
    assert os.path.getsize(path) < 1 << 20
    _refused(lambda: model.load_weights(path), path, "decompression or shape bomb")


def test_a_subarray_dtype_declaring_gigabytes_is_refused(saved, tmp_path):
    model, _, _ = saved

    def subarray(f):  # each of the 3x2 elements is itself a 10000x10000 array
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(3, 2), dtype=np.dtype(("f4", (10**4,) * 2)))

    path = _edit_weights(model, tmp_path / "subarray.weights.h5", subarray)
    _refused(lambda: model.load_weights(path), path, "declares 2400000000 bytes")


def _extra(f):
    f["layers/dense/vars"].create_dataset("2", data=np.zeros(3, "f4"))


def _missing(f):
    del f["layers/dense/vars/1"]


def _soft_link(f):  # a soft link is never followed, so the layer is one weight short
    del f["layers/dense/vars/1"]
    f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense/vars/0")


@pytest.mark.parametrize("edit, count", [(_extra, 3), (_missing, 1), (_soft_link, 1)])
def test_a_weight_list_that_does_not_match_the_layer_is_refused(saved, tmp_path, edit, count):
    model, _, _ = saved
    before = [w.copy() for w in model.get_weights()]
    path = _edit_weights(model, tmp_path / "count.weights.h5", edit)
    _refused(lambda: model.load_weights(path), path, f"the file has {count} weight")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_legacy_weight_names_climbing_out_of_their_group_are_missing_weights(saved, tmp_path):
    model, _, _ = saved
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
        group = f.create_group("dense")
        group.attrs["weight_names"] = np.array([b"dense/kernel:0", b"../../etc/passwd"])
        group["dense/kernel:0"] = np.zeros((3, 2), "f4")
    _refused(lambda: model.load_weights(path), path, "'../../etc/passwd' of layer 'dense' is miss")


def test_keras_also_refuses_the_wrapped_lambda_bytecode_in_safe_mode(saved, tmp_path, keras):
    from tests.helpers import keras_ref

    _, good, config = saved
    config["config"]["layers"].insert(1, _layer("TimeDistributed", layer=_bytecode_lambda()))
    path = _with_config(good, tmp_path / "wrapped.keras", config)
    with keras_ref(), pytest.raises(ValueError, match="(?i)lambda"):
        keras.models.load_model(path)
