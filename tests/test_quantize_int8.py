"""Keras 3's ``model.quantize("int8")`` (post-training int8 quantization of Dense,
EinsumDense and Embedding) against real Keras: weights, predictions, ``.keras`` files both
ways, fine-tuning after quantization, and Keras's errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL, ATOL = 1e-6, 1e-6


def _mlp(K):
    return K.Sequential([
        K.Input((6,)),
        K.layers.Dense(5, activation="relu", name="h"),
        K.layers.Dense(3, name="out"),
    ])  # fmt: skip


def _einsum(K):
    inp = K.Input((4, 6))
    h = K.layers.EinsumDense("abc,cd->abd", output_shape=(4, 5), bias_axes="d", name="e1")(inp)
    h = K.layers.EinsumDense(
        "abc,cde->abde", output_shape=(4, 2, 3), bias_axes="e", activation="relu", name="e2"
    )(h)
    out = K.layers.EinsumDense("ab,bc->ac", output_shape=2, name="e3")(K.layers.Flatten()(h))
    return K.Model(inp, out)


def _embedding(K):
    return K.Sequential([
        K.Input((5,), dtype="int32"),
        K.layers.Embedding(12, 4, name="emb"),
        K.layers.GlobalAveragePooling1D(),
        K.layers.Dense(2, name="out"),
    ])  # fmt: skip


def _pair(keras, make):
    with keras_ref():
        km = make(keras)
        weights = km.get_weights()
    lm = make(lamina)
    lm.set_weights(weights)
    return km, lm


def _quantize_both(km, lm):
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns for its InputLayer
        km.quantize("int8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm.quantize("int8")


def _same_weights(km, lm, exact=True):
    with keras_ref():
        kw = [(w.path.split("/", 1)[-1], str(w.dtype), bool(w.trainable)) for w in km.weights]
        kv = km.get_weights()
    lw = [(w.path.split("/", 1)[-1], str(w.dtype), bool(w.trainable)) for w in lm.weights]
    assert lw == kw
    lv = lm.get_weights()
    for a, b in zip(lv, kv):
        assert a.dtype == b.dtype and a.shape == b.shape
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _same_predictions(km, lm, x):
    with keras_ref():
        ky = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), ky, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("make", [_mlp, _einsum, _embedding], ids=["dense", "einsum", "embedding"])
def test_quantize_int8_weights_and_predictions_match_keras(keras, make):
    km, lm = _pair(keras, make)
    rng = np.random.default_rng(0)
    if make is _embedding:
        x = rng.integers(0, 12, (7, 5)).astype("int32")
    else:
        x = rng.normal(size=(7, *km.input_shape[1:])).astype("float32")
    _quantize_both(km, lm)
    _same_weights(km, lm)
    with keras_ref():
        policies = [la.dtype_policy.name for la in km.layers]
    assert [la.dtype_policy.name for la in lm.layers] == policies
    assert "int8_from_float32" in policies
    _same_predictions(km, lm, x)


def test_quantized_keras_files_load_both_ways(keras, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4, 6)).astype("float32")
    km, lm = _pair(keras, _einsum)
    _quantize_both(km, lm)
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
    with keras_ref():
        dtype = from_lamina.get_layer("e1").get_config()["dtype"]
    assert dtype["class_name"] == "QuantizedDTypePolicy"
    assert dtype["config"] == {"mode": "int8", "source_name": "float32"}


def test_dense_and_embedding_files_load_both_ways(keras, tmp_path):
    x = np.random.default_rng(2).integers(0, 12, (5, 5)).astype("int32")
    km, lm = _pair(keras, _embedding)
    _quantize_both(km, lm)
    with keras_ref():
        km.save(tmp_path / "k.keras")
    lm.save(tmp_path / "l.keras")
    _same_predictions(km, lamina.models.load_model(tmp_path / "k.keras"), x)
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
    _same_predictions(back, lm, x)


@pytest.mark.parametrize("make", [_mlp, _embedding], ids=["dense", "embedding"])
def test_fit_after_quantize_trains_the_biases_like_keras(keras, make):
    """Keras freezes the int8 kernels; the biases (and the layers before a quantized one,
    through its dequantized-kernel gradient) train."""
    rng = np.random.default_rng(3)
    if make is _embedding:
        x = rng.integers(0, 12, (16, 5)).astype("int32")
        y = rng.normal(size=(16, 2)).astype("float32")
    else:
        x = rng.normal(size=(16, 6)).astype("float32")
        y = rng.normal(size=(16, 3)).astype("float32")
    km, lm = _pair(keras, make)
    _quantize_both(km, lm)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        kh = km.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    lm.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    lh = lm.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=1e-5, atol=1e-6)
    _same_weights(km, lm, exact=False)
    assert {w.name for w in lm.trainable_weights} == {"bias"}


def test_mixed_bfloat16_source_policy_matches_keras(keras):
    """``int8_from_mixed_bfloat16``: Keras reads the scales in bfloat16 too (autocast)."""
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")

    def make(K):
        return K.Sequential([
            K.Input((6,)),
            K.layers.Dense(5, activation="relu", dtype="mixed_bfloat16"),
            K.layers.Dense(3, dtype="mixed_bfloat16"),
        ])  # fmt: skip

    km, lm = _pair(keras, make)
    _quantize_both(km, lm)
    assert lm.layers[0].dtype_policy.name == "int8_from_mixed_bfloat16"
    with keras_ref():
        ky = np.asarray(km.predict(x, verbose=0), "float32")
    np.testing.assert_array_equal(np.asarray(lm.predict(x, verbose=0), "float32"), ky)


def test_quantize_errors_match_keras(keras):
    def built(K):
        return K.Sequential([K.Input((3,)), K.layers.Dense(2, name="d")])

    for K in (keras, lamina):
        with keras_ref(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = built(K)
            model.quantize("int8")
            with pytest.raises(
                ValueError,
                match=r"Layer 'd' is already quantized with "
                r"dtype_policy='int8_from_float32'\. Received: mode=int8",
            ):
                model.quantize("int8")
            with pytest.raises(
                ValueError,
                match=r"Invalid quantization mode\. Expected one of "
                r"\('int8', 'float8', 'int4', 'gptq', 'awq'\)\. Received: mode=int16",
            ):
                built(K).quantize("int16")
            unbuilt = K.Sequential([K.layers.Dense(2)], name="late")
            with pytest.raises(
                ValueError,
                match=r"Cannot quantize a layer that isn't yet built\. "
                r"Layer 'late' \(of type 'Sequential'\) is not built yet\.",
            ):
                unbuilt.quantize("int8")
    for mode in ("float8",):  # int4: tests/test_quantize_int4.py
        with pytest.raises(NotImplementedError, match=rf"mode='{mode}' is not supported by Lamina"):
            built(lamina).quantize(mode)


def test_layer_quantize_and_quantizers_match_keras(keras):
    rng = np.random.default_rng(4)
    w = rng.normal(size=(5, 3)).astype("float32")
    with keras_ref():
        kq, ks = keras.quantizers.abs_max_quantize(w, axis=0, to_numpy=True)
        kq2, ks2 = keras.quantizers.AbsMaxQuantizer()(w)
        kconf = keras.quantizers.serialize(keras.quantizers.AbsMaxQuantizer(axis=0))
    lq, ls = lamina.quantizers.abs_max_quantize(w, axis=0, to_numpy=True)
    lq2, ls2 = lamina.quantizers.AbsMaxQuantizer()(w)
    for a, b in ((lq, kq), (ls, ks), (lq2, kq2), (ls2, ks2)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    lconf = lamina.quantizers.serialize(lamina.quantizers.AbsMaxQuantizer(axis=0))
    assert lconf == kconf
    assert (
        lamina.quantizers.deserialize(kconf).get_config()
        == lamina.quantizers.get(kconf).get_config()
    )
    policy = lamina.dtype_policies.QuantizedDTypePolicy("int8", "mixed_bfloat16")
    with keras_ref():
        kp = keras.dtype_policies.QuantizedDTypePolicy("int8", "mixed_bfloat16")
    assert (policy.name, policy.compute_dtype, policy.variable_dtype, policy.get_config()) == (
        kp.name,
        kp.compute_dtype,
        kp.variable_dtype,
        kp.get_config(),
    )
    layer = lamina.layers.Dense(2)
    with pytest.raises(ValueError, match="Cannot quantize a layer that isn't yet built"):
        layer.quantize("int8")
    layer.build((None, 3))
    layer.quantize("int8")
    assert [(v.name, v.dtype) for v in layer.weights] == [
        ("bias", "float32"),
        ("kernel", "int8"),
        ("kernel_scale", "float32"),
    ]


def test_subclass_is_skipped_with_keras_warning(keras):
    for K in (keras, lamina):

        class MyDense(K.layers.Dense):
            pass

        with keras_ref():
            model = K.Sequential([K.Input((3,)), MyDense(2)])
            with pytest.warns(UserWarning, match="Layer MyDense does not have a `quantize` method"):
                model.quantize("int8")
            assert model.layers[0].dtype_policy.name == "float32"


def test_dense_held_by_a_custom_layer_is_quantized_like_keras(keras):
    """``model.quantize`` reaches the Dense a Keras-style layer holds as an attribute."""
    x = np.random.default_rng(6).normal(size=(4, 6)).astype("float32")

    def make(K):
        class Block(K.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.inner = K.layers.Dense(4, activation="relu", name="inner")

            def call(self, x):
                return self.inner(x)

        return K.Sequential([K.Input((6,)), Block(name="block"), K.layers.Dense(2, name="out")])

    km, lm = _pair(keras, make)
    _quantize_both(km, lm)
    _same_weights(km, lm)
    _same_predictions(km, lm, x)


def test_lora_with_quantization_is_refused_clearly():
    """Keras combines LoRA with int8 (QLoRA-style); Lamina refuses both orders, naming it."""
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, name="d")])
    model.layers[0].enable_lora(2)
    with pytest.raises(ValueError, match="Layer 'd' has LoRA enabled"):
        model.layers[0].quantize("int8")
    layer = lamina.layers.Dense(2, name="q")
    layer.build((None, 3))
    layer.quantize("int8")
    with pytest.raises(NotImplementedError, match="LoRA on the int8-quantized layer 'q'"):
        layer.enable_lora(2)
