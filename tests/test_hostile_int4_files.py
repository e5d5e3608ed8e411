"""Hostile int4-quantized ``.keras`` / ``.weights.h5`` files: dtype policies naming odd block
sizes, ``quantization_config`` entries naming foreign classes, packed kernels, zero points and
``g_idx`` holding values no int4 quantization writes.  Each must load exactly as Keras does or
fail at once with a ``ValueError`` naming the weight, never overflow, cast values silently or
look up scales past the end."""

from __future__ import annotations

import io
import json
import sys
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving.safety import FileFormatError
from tests.helpers import keras_ref


def _mlp(K):
    return K.Sequential([
        K.Input((10,)),
        K.layers.Dense(5, name="h"),
        K.layers.Dense(3, name="out"),
    ])  # fmt: skip


def _quantized(K, make=_mlp, block=4):
    model = make(K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InputLayer has no quantize()
        model.quantize(None, config=K.quantizers.Int4QuantizationConfig(block_size=block))
    return model


def _emb(K):
    return K.Sequential([K.Input((5,), dtype="int32"), K.layers.Embedding(12, 7, name="emb")])


def _einsum(K):
    inp = K.Input((4, 6))
    out = K.layers.EinsumDense("abc,cd->abd", output_shape=(4, 5), bias_axes="d", name="e1")(inp)
    return K.Model(inp, out)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Lamina-written int4 files (Keras's layout, checked in test_quantize_int4.py)."""
    root = tmp_path_factory.mktemp("int4")
    out = {}
    for name, make in (("dense", _mlp), ("emb", _emb), ("einsum", _einsum)):
        path = root / f"{name}.keras"
        _quantized(lamina, make).save(path)
        out[name] = path
    return out


def _edit(src, dst, config=None, h5=None):
    """Copies the archive ``src`` to ``dst``, editing ``config.json`` and the weights file."""
    with zipfile.ZipFile(src) as z:
        data = {n: z.read(n) for n in z.namelist()}
    if config is not None:
        cfg = json.loads(data["config.json"])
        config(cfg)
        data["config.json"] = json.dumps(cfg).encode()
    if h5 is not None:
        buf = io.BytesIO(data["model.weights.h5"])
        with h5py.File(buf, "r+") as f:
            h5(f)
        data["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in data.items():
            z.writestr(n, b)
    return dst


def _layer(cfg, name):
    return next(lc for lc in cfg["config"]["layers"] if lc["config"].get("name") == name)


def _replace(group, index, array):
    def edit(f):
        del f[f"layers/{group}/vars/{index}"]
        f[f"layers/{group}/vars/{index}"] = array

    return edit


# ------------------------------------------------------------------ dtype policies
@pytest.mark.parametrize(
    "mode, match",
    [
        ("int4/0", "Invalid block_size in mode"),
        ("int4/-5", "Invalid block_size in mode"),
        ("int4/abc", "<block_size> must be an integer"),
        ("int4/4/4", "Expected format 'int4/<block_size>'"),
        ("int4/3", r"'kernel_scale' has shape \(4, 5\) but the file's has \(3, 5\)"),
        ("int4/-1", "the file has 5 weight"),
    ],
)
def test_a_bad_int4_policy_is_a_clear_error(files, tmp_path, mode, match):
    def edit(cfg):
        layer = _layer(cfg, "h")["config"]
        layer["dtype"]["config"]["mode"] = mode
        size = mode.split("/", 1)[1]
        if size.lstrip("-").isdigit():  # the config's block size wins over the policy's
            layer["quantization_config"]["config"]["block_size"] = int(size)

    path = _edit(files["dense"], tmp_path / "m.keras", config=edit)
    with pytest.raises(ValueError, match=match):
        lamina.saving.load_model(path)


def test_a_huge_block_size_is_a_shape_error_not_an_overflow(files, tmp_path):
    # 999999999999 rows per group: one group of 10 rows; dividing int32 indices by it
    # overflowed inside a jitted computation before the shapes were compared.
    def edit(cfg):
        layer = _layer(cfg, "h")["config"]
        layer["dtype"] = "int4/999999999999_from_float32"
        layer["quantization_config"]["config"]["block_size"] = 999999999999

    path = _edit(files["dense"], tmp_path / "m.keras", config=edit)
    with pytest.raises(ValueError, match=r"'kernel_scale' has shape \(1, 5\) but the file's"):
        lamina.saving.load_model(path)


def test_a_block_size_past_the_rows_loads_as_keras_does(keras, tmp_path):
    # A Keras file quantized in blocks of 16 (> 10 input rows) renamed to larger block sizes:
    # each is one group of every row.  Keras loads 10**6; 999999999999 overflows its int32
    # group indices, Lamina loads it as the same one-group model.
    with keras_ref():
        km = _quantized(keras, block=16)
        km.save(tmp_path / "k.keras")

    def renamed(size):
        def edit(cfg):
            for name in ("h", "out"):
                layer = _layer(cfg, name)["config"]
                layer["dtype"]["config"]["mode"] = f"int4/{size}"
                layer["quantization_config"]["config"]["block_size"] = size

        return _edit(tmp_path / "k.keras", tmp_path / f"m{size}.keras", config=edit)

    x = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    with keras_ref():
        kk = keras.saving.load_model(renamed(10**6))
        want, kw = kk.predict(x, verbose=0), kk.get_weights()
    for size in (10**6, 999999999999):
        lm = lamina.saving.load_model(renamed(size))
        assert lm.layers[0].dtype_policy.block_size == size
        for a, b in zip(lm.get_weights(), kw):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ quantization_config
def test_a_foreign_quantization_config_imports_and_runs_nothing(files, tmp_path):
    probe = "lamina_int4_hostile_probe_module"
    evil = {"module": probe, "class_name": "system", "config": {}, "registered_name": None}

    def edit(cfg):
        qc = _layer(cfg, "h")["config"]["quantization_config"]
        qc.update(module=probe, class_name="Evil")
        qc["config"].update(weight_quantizer=evil, activation_quantizer=evil, extra=[1] * 9)

    path = _edit(files["dense"], tmp_path / "m.keras", config=edit)
    # Keras raises TypeError (it cannot locate the class); Lamina's loader reports it as a
    # FileFormatError naming the file, and imports nothing the entry names.
    with pytest.raises(FileFormatError, match="Could not locate class 'Evil'"):
        lamina.saving.load_model(path)
    assert probe not in sys.modules


# ------------------------------------------------------------------ weights
@pytest.mark.parametrize(
    "index, array, match",
    [
        (4, np.full((10,), -1, "float32"), r"'g_idx' must hold whole numbers in \[0, 2\]"),
        (4, np.full((10,), 3, "float32"), r"holds np.float32\(3.0\)"),
        (4, np.full((10,), 1e30, "float32"), "'g_idx'"),
        (4, np.full((10,), np.nan, "float32"), r"holds np.float32\(nan\)"),
        (4, np.full((10,), 1.5, "float32"), "'g_idx' must hold whole numbers"),
        (3, np.full((3, 5), 0.5, "float32"), r"'kernel_zero' must hold whole numbers in \[-128"),
        (3, np.full((3, 5), 100_000, "int32"), "'kernel_zero'.*100000"),
        (0, np.full((10, 3), 300, "int32"), "'kernel' must hold whole numbers"),
        (0, np.full((10, 3), 2.7, "float32"), "'kernel' must hold whole numbers"),
    ],
)
def test_dense_arrays_no_int4_quantization_writes_are_refused(files, tmp_path, index, array, match):
    path = _edit(files["dense"], tmp_path / "m.keras", h5=_replace("dense", index, array))
    with pytest.raises(FileFormatError, match=match):
        lamina.saving.load_model(path)


@pytest.mark.parametrize(
    "index, array, match",
    [
        (0, np.zeros((9, 3), "int8"), r"'kernel' has shape \(10, 3\) but the file's has \(9, 3\)"),
        (
            0,
            np.zeros((10, 5), "int8"),
            r"'kernel' has shape \(10, 3\) but the file's has \(10, 5\)",
        ),
        (2, np.ones((5, 3), "float32"), r"'kernel_scale' has shape \(3, 5\)"),
        (3, np.zeros((1, 5), "int8"), r"'kernel_zero' has shape \(3, 5\)"),
        (4, np.zeros((11,), "float32"), r"'g_idx' has shape \(10,\)"),
    ],
)
def test_int4_arrays_of_the_wrong_shape_are_refused(files, tmp_path, index, array, match):
    path = _edit(files["dense"], tmp_path / "m.keras", h5=_replace("dense", index, array))
    with pytest.raises(FileFormatError, match=match):
        lamina.saving.load_model(path)


def test_embedding_and_einsum_group_indices_are_checked(files, tmp_path):
    emb = _edit(files["emb"], tmp_path / "e.keras", h5=_replace("embedding", 3, np.full(7, 5.0)))
    with pytest.raises(ValueError, match=r"'emb': weight 'g_idx'.* \[0, 1\] .*of its 2 groups"):
        lamina.saving.load_model(emb)
    ein = _edit(
        files["einsum"], tmp_path / "n.keras", h5=_replace("einsum_dense", 4, np.full(6, -2.0))
    )
    with pytest.raises(ValueError, match=r"'e1': weight 'g_idx'.*holds np.float64\(-2.0\)"):
        lamina.saving.load_model(ein)


def test_a_weights_file_with_bad_group_indices_leaves_the_model_unchanged(files, tmp_path):
    model = lamina.saving.load_model(files["dense"])
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        _replace("dense", 4, np.full((10,), 7.0, "float32"))(f)
    before = model.get_weights()
    with pytest.raises(ValueError, match="'g_idx' must hold whole numbers"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_whole_float_values_and_permuted_groups_load_as_keras_does(keras, tmp_path):
    # Keras casts a float kernel to its int8 variable; whole values in range cast exactly,
    # and any g_idx naming existing groups is used as written.
    with keras_ref():
        km = _quantized(keras)
        km.save(tmp_path / "k.keras")
    rng = np.random.default_rng(3)

    def edit(f):
        kernel = f["layers/dense/vars/0"][()]
        _replace("dense", 0, kernel.astype("float64"))(f)
        _replace("dense", 4, rng.permutation(np.arange(10) // 4).astype("float32"))(f)

    path = _edit(tmp_path / "k.keras", tmp_path / "m.keras", h5=edit)
    x = rng.normal(size=(4, 10)).astype("float32")
    with keras_ref():
        kk = keras.saving.load_model(path)
        want, kw = kk.predict(x, verbose=0), kk.get_weights()
    lm = lamina.saving.load_model(path)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_an_int4_embedding_with_a_huge_input_dim_is_refused_before_allocating(files, tmp_path):
    def edit(cfg):
        _layer(cfg, "emb")["config"]["input_dim"] = 10**12

    path = _edit(files["emb"], tmp_path / "m.keras", config=edit)
    with pytest.raises(ValueError, match="declares .* bytes of weights .*'emb'"):
        lamina.saving.load_model(path)


def test_an_einsum_equation_edited_to_the_same_shapes_loads_as_keras_does(keras, tmp_path):
    # "abc,dc->abd" contracts the kernel's second axis: the same packed shapes, read the
    # other way round; Keras loads it, and Lamina must compute what Keras computes.
    with keras_ref():
        _quantized(keras, _einsum).save(tmp_path / "k.keras")

    def edit(cfg):
        _layer(cfg, "e1")["config"]["equation"] = "abc,dc->abd"

    path = _edit(tmp_path / "k.keras", tmp_path / "m.keras", config=edit)
    x = np.random.default_rng(4).normal(size=(2, 4, 6)).astype("float32")
    with keras_ref():
        want = keras.saving.load_model(path).predict(x, verbose=0)
    got = lamina.saving.load_model(path).predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_quantizing_with_a_block_size_past_the_rows_allocates_one_group(keras):
    # Keras pads the rows up to block_size with zeros (10**12 rows here); one zero row gives
    # the same single group, as Keras's block_size=16 does for these 10 rows.
    with keras_ref():
        km = _mlp(keras)
        lm = _mlp(lamina)
        lm.set_weights(km.get_weights())
        km = _quantized(keras, lambda K: km, block=16)
        kw = km.get_weights()
    lm = _quantized(lamina, lambda K: lm, block=10**12)
    assert lm.layers[0].dtype_policy.name == "int4/1000000000000_from_float32"
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.full((10, 5), 2.7, "float32"), r"Int8 layer 'h': weight 'kernel' must hold whole"),
        (np.full((10, 5), 300, "int32"), r"\[-128, 127\].*holds np.int32\(300\)"),
    ],
)
def test_int8_kernels_that_a_cast_would_change_are_refused(tmp_path, array, match):
    model = _mlp(lamina)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InputLayer has no quantize()
        model.quantize("int8")
    model.save(tmp_path / "q.keras")
    path = _edit(tmp_path / "q.keras", tmp_path / "m.keras", h5=_replace("dense", 0, array))
    with pytest.raises(FileFormatError, match=match):
        lamina.saving.load_model(path)
    good = _edit(
        tmp_path / "q.keras", tmp_path / "g.keras", h5=_replace("dense", 0, np.ones((10, 5)))
    )
    np.testing.assert_array_equal(lamina.saving.load_model(good).layers[0].kernel.numpy(), 1)
