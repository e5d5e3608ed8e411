"""Keras 3's ``model.quantize("int4")`` (packed int4 kernels of Dense, EinsumDense and
Embedding, grouped with zero points by default or per channel) against real Keras: packing,
weights, predictions, ``.keras``/``.weights.h5`` files both ways, training, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL, ATOL = 1e-6, 1e-6


def _mlp(K):
    return K.Sequential([
        K.Input((10,)),
        K.layers.Dense(5, activation="relu", name="h"),
        K.layers.Dense(3, name="out"),
    ])  # fmt: skip


def _einsum(K):
    inp = K.Input((4, 6))
    h = K.layers.EinsumDense("abc,cd->abd", output_shape=(4, 5), bias_axes="d", name="e1")(inp)
    h = K.layers.EinsumDense(
        "abc,cde->abde", output_shape=(4, 2, 3), bias_axes="e", activation="relu", name="e2"
    )(h)
    out = K.layers.EinsumDense("ab,bc->ac", output_shape=3, name="e3")(K.layers.Flatten()(h))
    return K.Model(inp, out)


def _embedding(K):
    return K.Sequential([
        K.Input((5,), dtype="int32"),
        K.layers.Embedding(12, 7, name="emb"),
        K.layers.GlobalAveragePooling1D(),
        K.layers.Dense(2, name="out"),
    ])  # fmt: skip


def _x(make, n=7, seed=0):
    rng = np.random.default_rng(seed)
    if make is _embedding:
        return rng.integers(0, 12, (n, 5)).astype("int32")
    return rng.normal(size=(n, *({_mlp: (10,), _einsum: (4, 6)}[make]))).astype("float32")


def _config(K, block):
    """None: ``quantize("int4")`` (Keras's default groups of 128)."""
    return None if block is None else K.quantizers.Int4QuantizationConfig(block_size=block)


def _pair(keras, make, block=None):
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns for layers without quantize()
        km = make(keras)
        lm = make(lamina)
        lm.set_weights(km.get_weights())
        km.quantize("int4" if block is None else None, config=_config(keras, block))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm.quantize("int4" if block is None else None, config=_config(lamina, block))
    return km, lm


def _same_weights(km, lm, exact=True):
    with keras_ref():
        kw = [(w.path.split("/")[-1], str(w.dtype), bool(w.trainable)) for w in km.weights]
        kv = km.get_weights()
    assert [(w.path.split("/")[-1], str(w.dtype), bool(w.trainable)) for w in lm.weights] == kw
    for a, b in zip(lm.get_weights(), kv):
        assert a.dtype == b.dtype and a.shape == b.shape
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _same_predictions(km, lm, x):
    with keras_ref():
        ky = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), ky, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("shape", [(3, 2), (4, 5), (5, 3)])
def test_pack_and_unpack_int4_match_keras(keras, shape, axis):
    arr = np.random.default_rng(1).integers(-8, 8, shape).astype("int8")
    with keras_ref():
        kp, kshape, klen = keras.quantizers.pack_int4(arr, axis=axis)
        ku = keras.quantizers.unpack_int4(kp, klen, axis=axis)
    lp, lshape, llen = lamina.quantizers.pack_int4(arr, axis=axis)
    assert (lshape, llen) == (kshape, klen)
    np.testing.assert_array_equal(np.asarray(lp), np.asarray(kp))
    lu = lamina.quantizers.unpack_int4(lp, llen, axis=axis)
    np.testing.assert_array_equal(np.asarray(lu), np.asarray(ku))
    np.testing.assert_array_equal(np.asarray(lu), arr)
    with keras_ref():
        ku8 = keras.quantizers.unpack_int4(kp, klen, axis=axis, dtype="uint8")
    np.testing.assert_array_equal(
        np.asarray(lamina.quantizers.unpack_int4(lp, llen, axis=axis, dtype="uint8")),
        np.asarray(ku8),
    )


def test_grouped_quantizer_matches_keras(keras):
    w = np.random.default_rng(2).normal(size=(11, 4)).astype("float32")
    with keras_ref():
        kq = keras.quantizers.abs_max_quantize_grouped_with_zero_point(w, 4, to_numpy=True)
    lq = lamina.quantizers.abs_max_quantize_grouped_with_zero_point(w, 4, to_numpy=True)
    lq_traced = lamina.quantizers.abs_max_quantize_grouped_with_zero_point(w, 4)
    for a, b, c in zip(lq, kq, lq_traced):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_allclose(np.asarray(c, "float32"), np.asarray(b, "float32"), atol=1)


@pytest.mark.parametrize("block", [None, 4, -1], ids=["default128", "groups4", "per_channel"])
@pytest.mark.parametrize(
    "make",
    [_mlp, pytest.param(_einsum, marks=pytest.mark.slow), _embedding],  # einsum: ~3-9 s
    ids=["dense", "einsum", "embedding"],
)
def test_quantize_int4_weights_policies_and_predictions_match_keras(keras, make, block):
    km, lm = _pair(keras, make, block)
    _same_weights(km, lm)
    with keras_ref():
        policies = [la.dtype_policy.name for la in km.layers]
        configs = [la.get_config() for la in km.layers if "quantization_config" in la.get_config()]
    assert [la.dtype_policy.name for la in lm.layers] == policies
    assert f"int4/{block or 128}_from_float32" in policies
    lconfigs = [la.get_config() for la in lm.layers if "quantization_config" in la.get_config()]
    assert [(c["dtype"], c["quantization_config"]) for c in lconfigs] == [
        (c["dtype"], c["quantization_config"]) for c in configs
    ]
    _same_predictions(km, lm, _x(make))


@pytest.mark.parametrize("block", [None, -1], ids=["default128", "per_channel"])
@pytest.mark.parametrize(
    "make",
    [pytest.param(_einsum, marks=pytest.mark.slow), _embedding],  # three einsum layers: ~6 s
    ids=["einsum", "embedding"],
)
def test_int4_keras_files_load_both_ways(keras, tmp_path, make, block):
    km, lm = _pair(keras, make, block)
    x = _x(make, seed=3)
    with keras_ref():
        km.save(tmp_path / "k.keras")
    lm.save(tmp_path / "l.keras")
    from_keras = lamina.models.load_model(tmp_path / "k.keras")
    _same_weights(km, from_keras)
    _same_predictions(km, from_keras, x)
    with keras_ref():
        from_lamina = keras.models.load_model(tmp_path / "l.keras")
    _same_weights(from_lamina, lm)
    _same_predictions(from_lamina, lm, x)


@pytest.mark.slow  # two models built from a config in each library: ~5 s
def test_int4_weights_h5_load_both_ways(keras, tmp_path):
    """A ``.weights.h5`` holds Keras's int4 order (kernel, bias, kernel_scale, kernel_zero,
    g_idx) and loads into a model built with the int4 policies."""
    km, lm = _pair(keras, _mlp, 4)
    x = _x(_mlp, seed=4)
    with keras_ref():
        km.save_weights(tmp_path / "k.weights.h5")
        cfg = km.get_config()
        kback = keras.Sequential.from_config(cfg)
    lm.save_weights(tmp_path / "l.weights.h5")
    lback = lamina.Sequential.from_config(cfg)
    assert lback.layers[0].dtype_policy.name == "int4/4_from_float32"
    lback.load_weights(tmp_path / "k.weights.h5")
    _same_weights(km, lback)
    _same_predictions(km, lback, x)
    with keras_ref():
        kback.load_weights(tmp_path / "l.weights.h5")
    _same_weights(kback, lm)
    _same_predictions(kback, lm, x)


@pytest.mark.parametrize("make", [_mlp, _embedding], ids=["dense", "embedding"])
def test_fit_after_int4_quantize_trains_the_biases_like_keras(keras, make):
    """Keras freezes the int4 arrays; the biases train, and the gradient reaches the layers
    before a quantized one through the dequantized kernel."""
    x = _x(make, n=16, seed=5)
    y = np.random.default_rng(6).normal(size=(16, 3 if make is _mlp else 2)).astype("float32")
    km, lm = _pair(keras, make, -1 if make is _mlp else None)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        kh = km.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
        ktrain = [w.path.split("/", 1)[-1] for w in km.trainable_weights]
    lm.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    lh = lm.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=1e-5, atol=1e-6)
    _same_weights(km, lm, exact=False)
    assert [w.path.split("/", 1)[-1] for w in lm.trainable_weights] == ktrain


def test_int4_policy_and_config_objects_match_keras(keras):
    with keras_ref():
        kp = keras.dtype_policies.Int4DTypePolicy("int4/64", "mixed_bfloat16")
        kser = keras.dtype_policies.serialize(kp)
        kc = keras.quantizers.Int4QuantizationConfig(block_size=-1).get_config()
        legacy = keras.dtype_policies.get("int4_from_float32")
    lp = lamina.dtype_policies.Int4DTypePolicy("int4/64", "mixed_bfloat16")
    assert (lp.name, lp.block_size, lp.compute_dtype, lp.quantization_mode) == (
        kp.name,
        kp.block_size,
        kp.compute_dtype,
        kp.quantization_mode,
    )
    assert lamina.dtype_policies.serialize(lp) == kser
    assert lamina.dtype_policies.deserialize(kser) == lp
    assert lamina.dtype_policies.get("int4/64_from_mixed_bfloat16") == lp
    assert lamina.quantizers.Int4QuantizationConfig(block_size=-1).get_config() == kc
    assert lamina.dtype_policies.get("int4_from_float32").name == legacy.name


def test_int4_errors(keras):
    with pytest.raises(ValueError, match=r"Expected format 'int4/<block_size>', but got 'int4'"):
        lamina.dtype_policies.Int4DTypePolicy("int4", "float32")
    with pytest.raises(ValueError, match=r"Invalid block_size in mode.*got 0 from 'int4/0'"):
        lamina.dtype_policies.Int4DTypePolicy("int4/0", "float32")
    with pytest.raises(ValueError, match=r"block_size must be None, -1, or a positive integer"):
        lamina.quantizers.Int4QuantizationConfig(block_size=0)
    with pytest.raises(ValueError, match=r"requires a weight_quantizer with value_range=\(-8, 7\)"):
        lamina.quantizers.Int4QuantizationConfig(
            weight_quantizer=lamina.quantizers.AbsMaxQuantizer(axis=0), block_size=-1
        )
    with pytest.raises(NotImplementedError, match=r"activation_quantizer=.*not supported"):
        lamina.quantizers.Int4QuantizationConfig(
            activation_quantizer=lamina.quantizers.AbsMaxQuantizer(axis=-1), block_size=-1
        )
    with pytest.raises(TypeError, match=r"Expected int8 tensor for packing, got float32"):
        lamina.quantizers.pack_int4(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match=r"Expected dtype to be 'int8' or 'uint8'"):
        lamina.quantizers.unpack_int4(np.zeros((2, 2), "int8"), 4, dtype="int16")
    layer = lamina.layers.Dense(2, name="q4")
    layer.build((None, 3))
    layer.quantize("int4")
    with pytest.raises(ValueError, match=r"Layer 'q4' is already quantized with "
                       r"dtype_policy='int4/128_from_float32'\. Received: mode=int4"):  # fmt: skip
        layer.quantize("int4")
    with pytest.raises(NotImplementedError, match="LoRA on the int4-quantized layer 'q4'"):
        layer.enable_lora(2)
    with pytest.raises(
        ValueError, match=r"Contradictory arguments: mode='int8' but config\.mode='int4'"
    ):
        lamina.layers.Dense(2).quantize("int8", config=lamina.quantizers.Int4QuantizationConfig())


@pytest.mark.parametrize("block", [None, -1], ids=["default128", "per_channel"])
def test_int4_from_mixed_bfloat16_matches_keras(keras, block):
    """Keras reads the float32 scales (and ``g_idx``) in bfloat16 under autocast."""

    def make(K):
        return K.Sequential([
            K.Input((10,)),
            K.layers.Dense(5, activation="relu", dtype="mixed_bfloat16"),
            K.layers.Dense(3, dtype="mixed_bfloat16"),
        ])  # fmt: skip

    km, lm = _pair(keras, make, block)
    assert lm.layers[0].dtype_policy.name == f"int4/{block or 128}_from_mixed_bfloat16"
    x = _x(_mlp, seed=8)
    with keras_ref():
        ky = np.asarray(km.predict(x, verbose=0), "float32")
    np.testing.assert_array_equal(np.asarray(lm.predict(x, verbose=0), "float32"), ky)


def test_legacy_int4_policy_loads_per_channel(keras, tmp_path):
    """A config naming ``"int4_from_float32"`` (Keras's policy before block sizes) builds the
    per-channel layout in both libraries."""
    km, lm = _pair(keras, _mlp, -1)
    with keras_ref():
        cfg = km.get_config()
        for layer in cfg["layers"][1:]:  # the Dense layers, not the InputLayer
            layer["config"]["dtype"] = "int4_from_float32"
            layer["config"].pop("quantization_config", None)
        kback = keras.Sequential.from_config(cfg)
        kback.set_weights(km.get_weights())
    lback = lamina.Sequential.from_config(cfg)
    lback.set_weights(lm.get_weights())
    assert lback.layers[0].dtype_policy.name == "int4_from_float32"
    _same_weights(kback, lback)
    _same_predictions(kback, lback, _x(_mlp, seed=9))


def test_int4_custom_weight_quantizer_matches_keras(keras):
    """The weight-only per-channel config of Keras's "customizing quantization" guide; with
    the default groups Keras refuses a custom quantizer, and so does Lamina."""

    def config(K, block):
        wq = K.quantizers.AbsMaxQuantizer(value_range=(-8, 7), output_dtype="int8", axis=0)
        return K.quantizers.Int4QuantizationConfig(
            weight_quantizer=wq, activation_quantizer=None, block_size=block
        )

    with keras_ref():
        km = _mlp(keras)
        weights = km.get_weights()
        with pytest.raises(ValueError, match=r"sub-channel quantization \(block_size > 0\) does"):
            config(keras, 128)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km.quantize(config=config(keras, -1))
        kcfg = km.layers[0].get_config()["quantization_config"]
    with pytest.raises(ValueError, match=r"sub-channel quantization \(block_size > 0\) does"):
        config(lamina, 128)
    lm = _mlp(lamina)
    lm.set_weights(weights)
    lm.quantize(config=config(lamina, -1))
    assert lm.layers[0].get_config()["quantization_config"] == kcfg
    _same_weights(km, lm)
    _same_predictions(km, lm, _x(_mlp, seed=10))


@pytest.mark.parametrize("block", [None, -1], ids=["default128", "per_channel"])
def test_int4_kernel_property_is_the_unpacked_kernel_like_keras(keras, block):
    """Keras's ``layer.kernel``/``embeddings`` of an int4 layer unpacks the stored bytes."""

    def make(K):
        inp = K.Input((5,), dtype="int32")
        h = K.layers.Embedding(12, 7, name="emb")(inp)
        h = K.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5), name="ed")(h)
        return K.Model(inp, K.layers.Dense(3, name="d")(h))

    km, lm = _pair(keras, make, block)
    with keras_ref():
        kk = [np.asarray(km.get_layer("emb").embeddings)]
        kk += [np.asarray(km.get_layer(n).kernel) for n in ("ed", "d")]
    lk = [np.asarray(lm.get_layer("emb").embeddings)]
    lk += [np.asarray(lm.get_layer(n).kernel) for n in ("ed", "d")]
    for a, b in zip(lk, kk):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
        np.testing.assert_array_equal(a, b)
