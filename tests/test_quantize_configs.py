"""Quantization configs against real Keras 3.15: ``EinsumDense("abc,c->ab")`` (a kernel with
no output axis) quantized to int8/int4, the ``quantization_config`` entry of a quantized
layer's config (kept, round-tripped, its int4 ``block_size`` winning over the dtype policy's,
foreign classes refused without importing anything) and ``Int8QuantizationConfig``."""

from __future__ import annotations

import json
import sys
import warnings
import zipfile

import numpy as np
import pytest

import lamina
from lamina.saving.safety import FileFormatError
from tests.helpers import keras_ref, rewrite_config

X3 = np.random.RandomState(0).randn(2, 3, 8).astype("float32")
X10 = np.random.RandomState(1).randn(4, 10).astype("float32")


def _quantize(model, mode=None, config=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InputLayer has no quantize()
        model.quantize(mode, config=config)
    return model


def _copy_weights(src, dst):
    dst.set_weights([np.asarray(w) for w in src.get_weights()])


def _einsum(K, batch=3):
    return K.Sequential([
        K.Input((batch, 8)),
        K.layers.EinsumDense("abc,c->ab", output_shape=(batch,), name="e"),
    ])  # fmt: skip


def _mlp(K):
    return K.Sequential([K.Input((10,)), K.layers.Dense(8, name="h"), K.layers.Dense(3, name="o")])


def _qc_entries(model):
    return [la.get_config().get("quantization_config") for la in model.layers]


def _config_json(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _layer_cfg(cfg, name):
    return next(la for la in cfg["config"]["layers"] if la["config"]["name"] == name)["config"]


# ------------------------------------------------------------------ EinsumDense "abc,c->ab"
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_einsum_kernel_without_output_axis_quantizes_as_keras(keras, mode):
    # One output position (batch axis 1): Keras's int8 call works there too.
    kx = X3[:, :1]
    lm = _einsum(lamina, batch=1)
    with keras_ref():
        km = _einsum(keras, batch=1)
        km.set_weights(lm.get_weights())
        _quantize(km, mode)
        want = km.predict(kx, verbose=0)
        kweights = [(w.name, tuple(w.shape), np.asarray(w.value)) for w in km.layers[0].weights]
    _quantize(lm, mode)
    got = [(w.name, tuple(w.shape), np.asarray(w)) for w in lm.layers[0].weights]
    assert [(n, s) for n, s, _ in got] == [(n, s) for n, s, _ in kweights]
    for (_, _, a), (_, _, b) in zip(got, kweights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(lm.predict(kx, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_einsum_kernel_without_output_axis_int8_predicts_per_token(keras):
    # Keras quantizes this layer but its int8 call fails for a batch axis > 1; Lamina
    # quantizes in Keras's layout and divides by the per-token input scale.
    lm = _einsum(lamina)
    want_float = lm.predict(X3, verbose=0)
    _quantize(lm, "int8")
    with keras_ref():
        km = _einsum(keras)
        _quantize(km, "int8")
        shapes = [tuple(w.shape) for w in km.layers[0].weights]
    assert [tuple(w.shape) for w in lm.layers[0].weights] == shapes == [(8,), (1, 1)]
    kernel = np.asarray(lm.layers[0].weights[0]).astype("float32")
    scale = np.asarray(lm.layers[0].weights[1])[0, 0]
    x_scale = 127.0 / (np.abs(X3).max(-1) + 1e-7)
    q = np.clip(np.round(X3 * x_scale[..., None]), -127, 127)
    np.testing.assert_allclose(
        lm.predict(X3, verbose=0), (q @ kernel) / (x_scale * scale), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(lm.predict(X3, verbose=0), want_float, atol=0.05)


@pytest.mark.slow
def test_einsum_kernel_without_output_axis_int4_files_both_ways(keras, tmp_path):
    with keras_ref():
        km = _quantize(_einsum(keras), "int4")
        km.save(tmp_path / "k.keras")
        want = km.predict(X3, verbose=0)
    lm = lamina.saving.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(lm.predict(X3, verbose=0), want, rtol=1e-6, atol=1e-6)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.saving.load_model(tmp_path / "l.keras")
        np.testing.assert_allclose(back.predict(X3, verbose=0), want, rtol=1e-6, atol=1e-6)
        assert _qc_entries(back) == _qc_entries(km)


# ------------------------------------------------------------------ get_config entries
@pytest.mark.parametrize("mode, block", [("int8", None), ("int4", None), ("int4", 4), ("int4", -1)])
def test_quantization_config_entry_equals_keras(keras, mode, block):
    def make(K):
        inp = K.Input((3, 10))
        h = K.layers.Dense(8, name="d")(inp)
        h = K.layers.EinsumDense("abc,cd->abd", output_shape=(3, 4), name="e")(h)
        model = K.Model(inp, h)
        config = None
        if block is not None:
            config = K.quantizers.Int4QuantizationConfig(block_size=block)
        return _quantize(model, None if config else mode, config)

    with keras_ref():
        want = _qc_entries(make(keras))
    lm = make(lamina)
    assert _qc_entries(lm) == want
    again = lamina.Model.from_config(lm.get_config())
    assert _qc_entries(again) == want


def test_embedding_quantization_config_entry_equals_keras(keras):
    def make(K, mode):
        return _quantize(
            K.Sequential([K.Input((5,), dtype="int32"), K.layers.Embedding(12, 6)]), mode
        )

    for mode in ("int8", "int4"):
        with keras_ref():
            want = _qc_entries(make(keras, mode))
        assert _qc_entries(make(lamina, mode)) == want


# ------------------------------------------------------------------ loading the entry
@pytest.fixture(scope="module")
def keras_int4_file(tmp_path_factory):
    """A Keras-written int4 MLP quantized with block_size=4."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    path = tmp_path_factory.mktemp("qc") / "k.keras"
    with keras_ref():
        km = _mlp(keras)
        _quantize(km, None, keras.quantizers.Int4QuantizationConfig(block_size=4))
        km.save(path)
    return path


def _both_load(keras, path):
    with keras_ref():
        km = keras.saving.load_model(path)
        want = km.predict(X10, verbose=0)
        kshapes = [tuple(w.shape) for w in km.weights]
    lm = lamina.saving.load_model(path)
    assert [tuple(w.shape) for w in lm.weights] == kshapes
    np.testing.assert_allclose(lm.predict(X10, verbose=0), want, rtol=1e-6, atol=1e-6)
    return km, lm


def test_legacy_int4_policy_with_config_block_size_loads_as_keras(keras, keras_int4_file, tmp_path):
    cfg = _config_json(keras_int4_file)
    for name in ("h", "o"):
        _layer_cfg(cfg, name)["dtype"] = "int4_from_float32"
    path = rewrite_config(keras_int4_file, tmp_path / "legacy.keras", cfg)
    km, lm = _both_load(keras, path)
    assert [la.get_config() for la in lm.layers] and _qc_entries(lm) == _qc_entries(km)
    assert lm.layers[0].dtype_policy.name == "int4_from_float32"


def test_config_block_size_wins_over_the_policy_as_in_keras(keras, keras_int4_file, tmp_path):
    cfg = _config_json(keras_int4_file)
    for name in ("h", "o"):
        _layer_cfg(cfg, name)["dtype"]["config"]["mode"] = "int4/2"
    path = rewrite_config(keras_int4_file, tmp_path / "policy2.keras", cfg)
    _both_load(keras, path)  # the config's block size (4) matches the file's arrays


def test_config_block_size_unlike_the_files_arrays_is_refused(keras, keras_int4_file, tmp_path):
    cfg = _config_json(keras_int4_file)
    _layer_cfg(cfg, "h")["quantization_config"]["config"]["block_size"] = 2
    path = rewrite_config(keras_int4_file, tmp_path / "config2.keras", cfg)
    with keras_ref(), pytest.raises(ValueError, match="shape"):
        keras.saving.load_model(path)
    with pytest.raises(ValueError, match=r"'kernel_scale' has shape \(5, 8\) but the file's"):
        lamina.saving.load_model(path)


def test_a_foreign_quantization_config_class_is_a_type_error(keras, keras_int4_file, tmp_path):
    probe = "lamina_qc_probe_module"
    cfg = _config_json(keras_int4_file)
    _layer_cfg(cfg, "h")["quantization_config"].update(module=probe, class_name="system")
    path = rewrite_config(keras_int4_file, tmp_path / "foreign.keras", cfg)
    with keras_ref(), pytest.raises(TypeError, match="Could not locate class 'system'"):
        keras.saving.load_model(path)
    # Lamina's loader reports a config it cannot rebuild as a FileFormatError naming the file.
    with pytest.raises(FileFormatError, match="Could not locate class 'system'"):
        lamina.saving.load_model(path)
    assert probe not in sys.modules
    with pytest.raises(TypeError, match="Could not locate class 'system'"):
        lamina.layers.Dense(3, quantization_config=_layer_cfg(cfg, "h")["quantization_config"])


def test_a_foreign_quantizer_inside_the_config_is_a_type_error(keras_int4_file, tmp_path):
    evil = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
    cfg = _config_json(keras_int4_file)
    _layer_cfg(cfg, "h")["quantization_config"]["config"]["weight_quantizer"] = evil
    path = rewrite_config(keras_int4_file, tmp_path / "foreign_q.keras", cfg)
    with pytest.raises(FileFormatError, match="Could not locate class 'system'"):
        lamina.saving.load_model(path)


def test_keras_float8_config_entry_is_refused_clearly():
    entry = {
        "module": "keras.quantizers",
        "class_name": "Float8QuantizationConfig",
        "config": {},
        "registered_name": None,
    }
    with pytest.raises(NotImplementedError, match="Float8QuantizationConfig is not supported"):
        lamina.layers.Dense(3, quantization_config=entry)
    with pytest.raises(TypeError, match="must be None, an Int8QuantizationConfig"):
        lamina.layers.Embedding(3, 2, quantization_config="int8")


# ------------------------------------------------------------------ Int8QuantizationConfig
def test_int8_config_equals_mode_int8(keras):
    with keras_ref():
        km = _mlp(keras)
        weights = [np.asarray(w) for w in km.get_weights()]
        _quantize(km, None, keras.quantizers.Int8QuantizationConfig())
        want = km.predict(X10, verbose=0)
        entries = _qc_entries(km)
    lm = _mlp(lamina)
    lm.set_weights(weights)
    _quantize(lm, None, lamina.quantizers.Int8QuantizationConfig())
    np.testing.assert_allclose(lm.predict(X10, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert _qc_entries(lm) == entries
    by_mode = _mlp(lamina)
    by_mode.set_weights(weights)
    _quantize(by_mode, "int8")
    np.testing.assert_array_equal(by_mode.predict(X10, verbose=0), lm.predict(X10, verbose=0))
    assert _qc_entries(by_mode) == entries


def test_int8_config_with_custom_quantizers_is_refused():
    Q = lamina.quantizers
    with pytest.raises(NotImplementedError, match="weight_quantizer=.* is not supported"):
        Q.Int8QuantizationConfig(weight_quantizer=Q.AbsMaxQuantizer(axis=0))
    with pytest.raises(NotImplementedError, match="activation_quantizer=.* not supported"):
        Q.Int8QuantizationConfig(activation_quantizer=None)
    with pytest.raises(NotImplementedError, match="activation_quantizer=.* not supported"):
        Q.Int8QuantizationConfig(activation_quantizer=Q.AbsMaxQuantizer(value_range=(-100, 100)))
    with pytest.raises(ValueError, match="Contradictory arguments: mode='int4'"):
        _quantize(_mlp(lamina), "int4", Q.Int8QuantizationConfig())
