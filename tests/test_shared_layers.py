"""Layers shared by several models share their weights, as in Keras (issue #14): an autoencoder
and its encoder/decoder, Sequential models over the same layers, nested models, siamese towers,
Keras 2 feature extractors built after training.  Reference: real Keras 3 on JAX."""

import gc

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 2e-5


def _x(n=64, features=8, seed=0):
    return np.random.default_rng(seed).random((n, features)).astype("float32")


def _autoencoder(K):
    inp = K.Input((8,))
    enc = K.layers.Dense(3, activation="tanh")(inp)
    dec = K.layers.Dense(8)(enc)
    auto = K.Model(inp, dec)
    encoder = K.Model(inp, enc)
    dinp = K.Input((3,))
    decoder = K.Model(dinp, auto.layers[-1](dinp))
    return auto, encoder, decoder


def test_autoencoder_parts_follow_the_trained_model_as_in_keras(keras):
    x = _x()
    with keras_ref():
        k_auto, k_enc, k_dec = _autoencoder(keras)
    auto, encoder, decoder = _autoencoder(lamina)
    auto.set_weights(k_auto.get_weights())
    before = encoder.predict(x[:4], verbose=0)
    with keras_ref():
        k_auto.compile("adam", "mse")
        k_auto.fit(x, x, epochs=3, batch_size=16, shuffle=False, verbose=0)
        k_codes = k_enc.predict(x, verbose=0)
        k_recon = k_dec.predict(k_codes, verbose=0)
    auto.compile("adam", "mse")
    auto.fit(x, x, epochs=3, batch_size=16, shuffle=False, verbose=0)
    codes = encoder.predict(x, verbose=0)
    assert not np.allclose(codes[:4], before)
    np.testing.assert_allclose(codes, k_codes, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(decoder.predict(codes, verbose=0), k_recon, rtol=RTOL, atol=1e-4)
    # The layer is the single truth: every model reads the same arrays.
    for a, b in zip(encoder.layers[1].get_weights(), auto.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_the_part_changes_the_whole_and_buffers_stay_valid():
    x = _x()
    auto, encoder, _ = _autoencoder(lamina)
    auto.compile("adam", "mse")
    encoder.compile("sgd", "mse")
    codes = np.zeros((64, 3), "float32")
    for _ in range(2):  # alternating fits: neither donates the other's buffers
        auto.fit(x, x, epochs=1, verbose=0)
        before = auto.predict(x, verbose=0)
        encoder.fit(x, codes, epochs=1, verbose=0)
        assert not np.allclose(auto.predict(x, verbose=0), before)
    for a, b in zip(auto.get_weights()[:2], encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_set_weights_on_one_model_or_layer_shows_in_the_others():
    auto, encoder, decoder = _autoencoder(lamina)
    x = _x(4)
    encoder.set_weights([np.ones((8, 3), "float32"), np.zeros(3, "float32")])
    np.testing.assert_array_equal(auto.get_weights()[0], np.ones((8, 3)))
    auto.layers[-1].set_weights([np.eye(3, 8, dtype="float32"), np.ones(8, "float32")])
    codes = np.tanh(x.sum(axis=1, keepdims=True)) * np.ones((1, 3))
    np.testing.assert_allclose(encoder.predict(x, verbose=0), codes, rtol=1e-6)
    np.testing.assert_allclose(
        decoder.predict(codes, verbose=0), codes @ np.eye(3, 8) + 1, rtol=1e-6
    )
    np.testing.assert_allclose(auto.predict(x, verbose=0), codes @ np.eye(3, 8) + 1, rtol=1e-6)


def test_sequential_models_sharing_layers():
    shared = lamina.layers.Dense(4, activation="relu")
    a = lamina.Sequential([lamina.Input((5,)), shared, lamina.layers.Dense(1)])
    b = lamina.Sequential([lamina.Input((5,)), shared, lamina.layers.Dense(2)])
    x = _x(32, 5)
    b.predict(x, verbose=0)  # built before a trains: it must not keep its own copy
    before = b.predict(x, verbose=0)
    a.compile("adam", "mse")
    a.fit(x, x[:, :1], epochs=2, verbose=0)
    assert not np.allclose(b.predict(x, verbose=0), before)
    np.testing.assert_array_equal(b.get_weights()[0], a.get_weights()[0])
    np.testing.assert_array_equal(shared.get_weights()[0], a.get_weights()[0])


def test_nested_model_follows_the_outer_fit_as_in_keras(keras):
    def build(K):
        inner = K.Sequential([K.Input((6,)), K.layers.Dense(4, activation="relu")])
        outer = K.Sequential([K.Input((6,)), inner, K.layers.Dense(1)])
        return inner, outer

    x, y = _x(48, 6), _x(48, 1, seed=1)
    with keras_ref():
        k_inner, k_outer = build(keras)
    inner, outer = build(lamina)
    outer.set_weights(k_outer.get_weights())
    before = inner.predict(x, verbose=0)
    with keras_ref():
        k_outer.compile("adam", "mse")
        k_outer.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        k_feat = k_inner.predict(x, verbose=0)
    outer.compile("adam", "mse")
    outer.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert not np.allclose(inner.predict(x, verbose=0), before)
    np.testing.assert_allclose(inner.predict(x, verbose=0), k_feat, rtol=RTOL, atol=ATOL)


def test_frozen_layer_of_a_nested_model_stays_frozen_as_in_keras(keras):
    def build(K):
        inner = K.Sequential(
            [K.Input((6,)), K.layers.Dense(5, activation="relu"), K.layers.Dense(4)]
        )
        inp = K.Input((6,))
        outer = K.Model(inp, K.layers.Dense(1)(inner(inp)))
        inner.layers[0].trainable = False
        return inner, outer

    x, y = _x(48, 6), _x(48, 1, seed=1)
    with keras_ref():
        k_inner, k_outer = build(keras)
    inner, outer = build(lamina)
    outer.set_weights(k_outer.get_weights())
    frozen = inner.layers[0].get_weights()
    with keras_ref():
        k_outer.compile("adam", "mse")
        kh = k_outer.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    outer.compile("adam", "mse")
    lh = outer.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=RTOL, atol=ATOL)
    for a, b in zip(inner.layers[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(outer.get_weights(), k_outer.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    assert len(outer.trainable_weights) == len(k_outer.trainable_weights) == 4


def test_keras2_feature_extractor_built_after_training(keras):
    def build(K):
        inp = K.Input((6,))
        h = K.layers.Dense(5, activation="relu", name="hidden")(inp)
        return K.Model(inp, K.layers.Dense(1)(h))

    x, y = _x(48, 6), _x(48, 1, seed=1)
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile("sgd", "mse")
        km.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        k_feat = keras.Model(km.input, km.get_layer("hidden").output).predict(x, verbose=0)
    lm.compile("sgd", "mse")
    lm.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    feat = lamina.Model(lm.input, lm.get_layer("hidden").output).predict(x, verbose=0)
    np.testing.assert_allclose(feat, k_feat, rtol=RTOL, atol=ATOL)


def test_siamese_towers_share_one_set_of_weights(keras):
    def build(K):
        tower = K.Sequential([K.Input((6,)), K.layers.Dense(4, activation="tanh")])
        a, b = K.Input((6,)), K.Input((6,))
        diff = K.layers.Subtract()([tower(a), tower(b)])
        return tower, K.Model([a, b], K.layers.Dense(1)(diff))

    x1, x2, y = _x(48, 6), _x(48, 6, seed=2), _x(48, 1, seed=1)
    with keras_ref():
        k_tower, k_model = build(keras)
    tower, model = build(lamina)
    model.set_weights(k_model.get_weights())
    with keras_ref():
        k_model.compile("adam", "mse")
        k_model.fit([x1, x2], y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        k_emb = k_tower.predict(x1, verbose=0)
    model.compile("adam", "mse")
    model.fit([x1, x2], y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(tower.predict(x1, verbose=0), k_emb, rtol=RTOL, atol=ATOL)


def test_saving_the_part_saves_the_trained_shared_weights(tmp_path):
    x = _x()
    auto, encoder, _ = _autoencoder(lamina)
    auto.compile("adam", "mse")
    auto.fit(x, x, epochs=2, verbose=0)
    encoder.save(tmp_path / "enc.keras")
    loaded = lamina.models.load_model(tmp_path / "enc.keras")
    for a, b in zip(loaded.get_weights(), auto.get_weights()[:2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_part_keeps_the_weights_when_the_whole_is_gone():
    x = _x()

    def train_and_keep_encoder():
        auto, encoder, _ = _autoencoder(lamina)
        auto.compile("adam", "mse")
        auto.fit(x, x, epochs=2, verbose=0)
        return encoder, [w.copy() for w in auto.get_weights()[:2]]

    encoder, trained = train_and_keep_encoder()
    gc.collect()
    for a, b in zip(encoder.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_model_predicting_in_a_callback_sees_this_epochs_weights():
    x = _x()
    auto, encoder, _ = _autoencoder(lamina)
    seen = []

    class Probe(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kernel, bias = self.model.layers[1].get_weights()
            expected = np.tanh(x[:4] @ kernel + bias)
            seen.append(np.abs(encoder.predict(x[:4], verbose=0) - expected).max())

    auto.compile("adam", "mse")
    auto.fit(x, x, epochs=3, verbose=0, callbacks=[Probe()])
    assert len(seen) == 3 and max(seen) < 1e-5


def test_copy_of_a_model_keeps_its_weights_to_itself():
    import copy

    x = _x()
    auto, _, _ = _autoencoder(lamina)
    auto.compile("adam", "mse")
    clone = copy.copy(auto)
    before = auto.get_weights()
    clone.fit(x, x, epochs=1, verbose=0)
    for a, b in zip(before, auto.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_doubly_nested_models_share_and_freeze_the_innermost_layers():
    x, y = _x(32, 4), _x(32, 1, seed=1)
    innermost = lamina.Sequential(
        [lamina.Input((4,)), lamina.layers.Dense(3), lamina.layers.Dense(3, name="last")]
    )
    middle = lamina.Sequential([lamina.Input((4,)), innermost, lamina.layers.Dense(2)])
    outer = lamina.Sequential([lamina.Input((4,)), middle, lamina.layers.Dense(1)])
    innermost.layers[0].trainable = False
    frozen = innermost.layers[0].get_weights()
    before = innermost.predict(x, verbose=0)
    outer.compile("adam", "mse")
    outer.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(innermost.layers[0].get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(innermost.predict(x, verbose=0), before)
    np.testing.assert_array_equal(
        innermost.get_layer("last").get_weights()[0], outer.get_weights()[2]
    )


def test_keras2_sequential_feature_extractor_as_in_keras(keras):
    def build(K):
        return K.Sequential(
            [K.Input((6,)), K.layers.Dense(5, activation="relu"), K.layers.Dense(1)]
        )

    x, y = _x(48, 6), _x(48, 1, seed=1)
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile("sgd", "mse")
        km.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        k_feat = keras.Model(km.inputs, km.layers[-2].output).predict(x, verbose=0)
    lm.compile("sgd", "mse")
    lm.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    extractor = lamina.Model(lm.input, lm.layers[-2].output)  # Keras 2 spelling
    np.testing.assert_allclose(extractor.predict(x, verbose=0), k_feat, rtol=RTOL, atol=ATOL)
    assert lm.output.shape == (None, 1)


def test_a_trained_layer_keeps_its_weights_in_a_new_sequential_model():
    x = _x(16, 5)
    first = lamina.Sequential([lamina.Input((5,)), lamina.layers.Dense(4)])
    first.compile("adam", "mse")
    first.fit(x, x[:, :4], epochs=2, verbose=0)
    trained = first.layers[0].get_weights()
    second = lamina.Sequential([lamina.Input((5,)), first.layers[0], lamina.layers.Dense(1)])
    np.testing.assert_array_equal(second.get_weights()[0], trained[0])
    standalone = lamina.layers.Dense(3)
    standalone(np.ones((1, 5), "float32"))  # built eagerly, with weights of its own
    standalone.set_weights([np.ones((5, 3), "float32"), np.zeros(3, "float32")])
    third = lamina.Sequential([lamina.Input((5,)), standalone])
    np.testing.assert_allclose(third.predict(np.ones((1, 5)), verbose=0), [[5.0, 5.0, 5.0]])
