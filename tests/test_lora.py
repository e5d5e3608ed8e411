"""Keras 3's LoRA (``layer.enable_lora``, ``lora_rank``/``lora_alpha``) against real Keras."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-6


def _summary_counts(model) -> tuple:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    text = "\n".join(lines)
    return tuple(
        int(re.search(rf"{name} params: ([\d,]+)", text).group(1).replace(",", ""))
        for name in ("Total", "Trainable", "Non-trainable")
    )


def _mlp(lib, reg):
    return lib.Sequential([
        lib.Input((4,)),
        lib.layers.Dense(
            8, activation="relu", kernel_regularizer=lib.regularizers.L2(reg), name="h"
        ),
        lib.layers.Dense(3, name="out"),
    ])  # fmt: skip


def _paths(weights):
    return [w.path.split("/", 1)[1] for w in weights]


def _fit_both(km, lm, x, y, epochs, optimizer):
    with keras_ref():
        km.compile(optimizer=optimizer, loss="mse")
        kh = km.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0).history
    lm.compile(optimizer=optimizer, loss="mse")
    lh = lm.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0).history
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=RTOL, atol=ATOL)


def _same_weights(km, lm):
    with keras_ref():
        kw = km.get_weights()
    lw = lm.get_weights()
    assert [w.shape for w in lw] == [w.shape for w in kw]
    for a, b in zip(lw, kw):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_dense_mlp_enable_lora_after_fit_matches_keras(keras):
    """Fit, enable LoRA on the first Dense (with a kernel regularizer that LoRA's a and b take
    on), re-compile and fit again: Keras's weights order, views, summary, losses and weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    with keras_ref():
        km = _mlp(keras, 0.01)
    lm = _mlp(lamina, 0.01)
    with keras_ref():
        lm.set_weights(km.get_weights())
    _fit_both(km, lm, x, y, 2, "sgd")
    trained_kernel = lm.layers[0].get_weights()[0]
    keras.utils.set_random_seed(3)
    with keras_ref():
        km.layers[0].enable_lora(2, lora_alpha=4)
    lamina.utils.set_random_seed(3)
    lm.layers[0].enable_lora(2, lora_alpha=4)
    # The same seeded draw of ``a`` (Keras's he_uniform), ``b`` zeros, the kernel kept.
    _same_weights(km, lm)
    np.testing.assert_array_equal(lm.layers[0].get_weights()[0], trained_kernel)
    with keras_ref():
        for attr in ("weights", "trainable_weights", "non_trainable_weights"):
            assert _paths(getattr(lm, attr)) == _paths(getattr(km, attr)), attr
            assert _paths(getattr(lm.layers[0], attr)) == _paths(getattr(km.layers[0], attr))
        assert lm.layers[0].get_config() | {"dtype": None} == km.layers[0].get_config() | {
            "dtype": None
        }
        # Keras's total also counts the optimizer's variables: compared after the next fit.
        assert _summary_counts(lm)[1:] == _summary_counts(km)[1:] == (59, 32)
        np.testing.assert_allclose(
            np.asarray(lm.layers[0].kernel), np.asarray(km.layers[0].kernel), rtol=RTOL
        )
    _fit_both(km, lm, x, y, 3, "adam")
    _same_weights(km, lm)
    np.testing.assert_array_equal(lm.layers[0].get_weights()[0], trained_kernel)  # frozen
    with keras_ref():
        assert _summary_counts(lm) == _summary_counts(km) == (91 + 2 + 2 * 59, 59, 32)
    assert lm.layers[0].lora_enabled and lm.layers[0].lora_rank == 2
    with keras_ref():
        np.testing.assert_allclose(lm.predict(x, verbose=0), km.predict(x, verbose=0), rtol=RTOL)


def _text_model(lib, lora_rank=None):
    inputs = lib.Input((6,), dtype="int32")
    h = lib.layers.Embedding(20, 8, mask_zero=True, lora_rank=lora_rank, name="emb")(inputs)
    h = lib.layers.GlobalAveragePooling1D()(h)
    outputs = lib.layers.Dense(1, activation="sigmoid", name="out")(h)
    return lib.Model(inputs, outputs)


def test_embedding_text_model_lora_fit_and_files_match_keras(keras, tmp_path):
    """A functional Embedding + Dense text model: LoRA on both layers, a fit like Keras's, and
    ``.keras`` files both ways (the merged kernel saved; ``a``/``b`` zeroed on load)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, size=(12, 6)).astype("int32")
    y = rng.integers(0, 2, size=(12, 1)).astype("float32")
    with keras_ref():
        km = _text_model(keras)
    lm = _text_model(lamina)
    with keras_ref():
        lm.set_weights(km.get_weights())
        for model in (km, lm):
            model.get_layer("emb").enable_lora(3)
            model.get_layer("out").enable_lora(1, lora_alpha=2, a_initializer="ones")
        lm.set_weights(km.get_weights())  # the same ``a`` matrices
        assert _paths(lm.weights) == _paths(km.weights)
        assert _paths(lm.trainable_weights) == _paths(km.trainable_weights)
        assert _summary_counts(lm) == _summary_counts(km)
    _fit_both(km, lm, x, y, 3, "adam")
    _same_weights(km, lm)

    # Lamina's file in Keras, and Keras's in Lamina: the same predictions and variables.
    lamina_file, keras_file = tmp_path / "lamina.keras", tmp_path / "keras.keras"
    lm.save(lamina_file)
    with keras_ref():
        km.save(keras_file)
        from_lamina = keras.models.load_model(lamina_file)
        want = km.predict(x, verbose=0)
        np.testing.assert_allclose(from_lamina.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    from_keras = lamina.models.load_model(keras_file)
    np.testing.assert_allclose(from_keras.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    with keras_ref():
        _same_weights(from_lamina, from_keras)  # merged kernels, a and b zeros
        assert from_keras.get_layer("emb").get_config()["lora_rank"] == 3
        assert _paths(from_keras.weights) == _paths(from_lamina.weights)
    assert not np.any(from_keras.get_layer("out").get_weights()[2])

    # ``.weights.h5``: Keras reads Lamina's file into its LoRA model.
    lm.save_weights(tmp_path / "l.weights.h5")
    with keras_ref():
        fresh = _text_model(keras, lora_rank=3)
        fresh.load_weights(tmp_path / "l.weights.h5")
        np.testing.assert_allclose(fresh.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)


def test_lora_rank_argument_and_config_match_keras(keras):
    """``lora_rank``/``lora_alpha`` constructor arguments: the config before and after build
    (Keras's Dense and Embedding build with ``lora_alpha == rank``; EinsumDense keeps it)."""
    makers = [
        (lambda lib: lib.layers.Dense(3, lora_rank=2, lora_alpha=8), (None, 4)),
        (lambda lib: lib.layers.Embedding(10, 4, lora_rank=2, lora_alpha=8), (None, 3)),
        (
            lambda lib: lib.layers.EinsumDense(
                "abc,cde->abde", (None, 2, 4), bias_axes="de", lora_rank=2, lora_alpha=8
            ),
            (None, 5, 8),
        ),
    ]
    for make, shape in makers:
        with keras_ref():
            k, la = make(keras), make(lamina)
            for when in ("before", "after"):
                kc, lc = k.get_config(), la.get_config()
                assert (lc["lora_rank"], lc["lora_alpha"]) == (
                    kc["lora_rank"],
                    kc["lora_alpha"],
                ), (type(k).__name__, when)
                assert la.lora_enabled == k.lora_enabled
                if when == "before":
                    k.build(shape)
                    la.build(shape)
            assert _paths(la.weights) == _paths(k.weights)
            assert [w.shape for w in la.weights] == [tuple(w.shape) for w in k.weights]
    assert "lora_rank" not in lamina.layers.Dense(3).get_config()


def test_einsum_dense_lora_output_matches_keras(keras):
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype("float32")
    with keras_ref():
        k = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de")
        k.build((None, 5, 8))
        k.enable_lora(3, lora_alpha=6, b_initializer="ones")
    la = lamina.layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de")
    la.build((None, 5, 8))
    la.enable_lora(3, lora_alpha=6)
    with keras_ref():
        la.set_weights(k.get_weights())
        np.testing.assert_allclose(np.asarray(la(x)), np.asarray(k(x)), rtol=RTOL, atol=ATOL)
    assert [w.name for w in la.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]


def test_enable_lora_errors_match_keras(keras):
    cases = [
        (lambda lib: lib.layers.Dense(3), None, "isn't yet built"),
        (lambda lib: lib.layers.Dense(3, kernel_constraint="non_neg"), (None, 2), "kernel constr"),
        (
            lambda lib: lib.layers.Embedding(5, 2, embeddings_constraint="non_neg"),
            (None, 2),
            "embedding constraints",
        ),
    ]
    for make, shape, match in cases:
        for lib in (keras, lamina):
            with keras_ref():
                layer = make(lib)
                if shape is not None:
                    layer.build(shape)
                with pytest.raises(ValueError, match=match):
                    layer.enable_lora(2)
    for lib in (keras, lamina):
        with keras_ref():
            layer = lib.layers.Dense(3)
            layer.build((None, 2))
            layer.enable_lora(2)
            with pytest.raises(ValueError, match="lora is already enabled"):
                layer.enable_lora(2)
    with pytest.raises(ValueError, match="rank"):
        layer.enable_lora  # noqa: B018 - the attribute exists
        fresh = lamina.layers.Dense(3)
        fresh.build((None, 2))
        fresh.enable_lora(0)


def _nested(lib):
    inner = lib.Sequential(
        [lib.Input((4,)), lib.layers.Dense(5, name="d"), lib.layers.Dense(3, name="e")],
        name="inner",
    )
    inputs = lib.Input((4,))
    return lib.Model(inputs, lib.layers.Dense(2, name="head")(inner(inputs)))


def test_lora_in_a_nested_model_fits_and_saves_like_keras(keras, tmp_path):
    """LoRA on a layer of a Sequential nested in a functional model (the outer model holds
    the weights): the layout, a fit and the ``.keras`` file as Keras's."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    with keras_ref():
        km = _nested(keras)
    lm = _nested(lamina)
    with keras_ref():
        lm.set_weights(km.get_weights())
        for model in (km, lm):
            model.get_layer("inner").get_layer("d").enable_lora(2, a_initializer="ones")
        assert _paths(lm.weights) == _paths(km.weights)
        assert _paths(lm.trainable_weights) == _paths(km.trainable_weights)
    _fit_both(km, lm, x, y, 2, "sgd")
    _same_weights(km, lm)
    lm.save(tmp_path / "nested.keras")
    with keras_ref():
        loaded = keras.models.load_model(tmp_path / "nested.keras")
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0), km.predict(x, verbose=0), rtol=RTOL, atol=ATOL
        )


def _conv(lib):
    return lib.Sequential([
        lib.Input((5, 5, 2)),
        lib.layers.Conv2D(3, 3, name="conv"),
        lib.layers.Flatten(),
        lib.layers.Dense(2, name="out"),
    ])  # fmt: skip


def test_conv2d_lora_fit_and_weights_file_match_keras(keras, tmp_path):
    """Keras 3.15's Conv1D/2D/3D have LoRA too: a's shape ``kernel.shape[:-1] + (rank,)``."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5, 5, 2)).astype("float32")
    y = rng.normal(size=(6, 2)).astype("float32")
    with keras_ref():
        km = _conv(keras)
    lm = _conv(lamina)
    with keras_ref():
        lm.set_weights(km.get_weights())
        km.get_layer("conv").enable_lora(2)
        lm.get_layer("conv").enable_lora(2)
        lm.set_weights(km.get_weights())
        assert [tuple(w.shape) for w in lm.get_layer("conv").weights] == [
            (3, 3, 2, 3), (3,), (3, 3, 2, 2), (2, 3),
        ]  # fmt: skip
    _fit_both(km, lm, x, y, 2, "adam")
    _same_weights(km, lm)
    km.save_weights(tmp_path / "k.weights.h5")
    fresh = _conv(lamina)
    fresh.load_weights(tmp_path / "k.weights.h5")  # a plain model takes the merged kernel
    with keras_ref():
        np.testing.assert_allclose(
            fresh.predict(x, verbose=0), km.predict(x, verbose=0), rtol=RTOL, atol=ATOL
        )
