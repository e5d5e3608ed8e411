"""ReversibleEmbedding, HashedCrossing and Pipeline against real Keras 3 (issue #19)."""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

L = lamina.layers


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(tie_weights=False), dict(logit_soft_cap=2.0, mask_zero=True)],
)
def test_reversible_embedding_matches_keras(keras, kwargs):
    ids = np.array([[1, 2, 0], [5, 9, 3]])
    with keras_ref():
        klayer = keras.layers.ReversibleEmbedding(10, 4, **kwargs)
        klayer.build((None, 3))
        names = [w.path.split("/")[-1] for w in klayer.weights]
        kh = np.asarray(klayer(ids))
        kl = np.asarray(klayer(kh, reverse=True))
        kconf = klayer.get_config()
        kw = klayer.get_weights()
    layer = L.ReversibleEmbedding(10, 4, **kwargs)
    params, state = layer.init(jax.random.key(0), (None, 3))
    assert list(params) == names
    params = dict(zip(params, kw))
    h, _ = layer.apply(params, state, ids)
    logits, _ = layer.apply(params, state, h, reverse=True)
    np.testing.assert_allclose(h, kh, rtol=1e-6)
    np.testing.assert_allclose(logits, kl, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 3)) == (None, 3, 4)
    assert layer.compute_output_shape((None, 3, 4), reverse=True) == (None, 3, 10)
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key in ("input_dim", "output_dim", "tie_weights", "logit_soft_cap", "mask_zero"):
        assert config[key] == kconf[key]
    assert L.deserialize(L.serialize(layer)).get_config() == config


def test_reversible_embedding_in_a_functional_model():
    emb = L.ReversibleEmbedding(10, 4, logit_soft_cap=3.0)
    inputs = L.Input((3,), dtype="int32")
    hidden = emb(inputs)
    logits = emb(hidden, reverse=True)
    assert hidden.shape == (None, 3, 4) and logits.shape == (None, 3, 10)
    model = lamina.Model(inputs, logits)
    ids = np.array([[1, 2, 3]])
    table = np.asarray(model.get_weights()[0])
    want = np.tanh(table[ids] @ table.T / 3.0) * 3.0
    np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-6)


def _tied_lm(mod):
    class TiedLM(mod.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.emb = mod.layers.ReversibleEmbedding(12, 6, tie_weights=False)
            self.mix = mod.layers.Dense(6, activation="tanh")

        def call(self, x):
            return self.emb(self.mix(self.emb(x)), reverse=True)

    return TiedLM()


@pytest.mark.slow
def test_reversible_embedding_fit_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, size=(16, 5))
    y = rng.integers(0, 12, size=(16, 5))
    with keras_ref():
        km = keras.Sequential([keras.Input((5,), dtype="int32"), _tied_lm(keras)])
    lm = lamina.models.Sequential([L.Input((5,), dtype="int32"), _tied_lm(lamina)])
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(True))
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm.compile(lamina.optimizers.Adam(0.01), lamina.losses.SparseCategoricalCrossentropy(True))
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_hashed_crossing_values_and_modes():
    # Keras's documented outputs (TensorFlow's tf.sparse.cross_hashed).
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    assert L.HashedCrossing(5)((feat1, feat2)).tolist() == [1, 4, 1, 1, 3]
    hot = L.HashedCrossing(5, output_mode="one_hot")((feat1, feat2))
    np.testing.assert_array_equal(np.argmax(hot, -1), [1, 4, 1, 1, 3])
    assert hot.shape == (5, 5) and float(hot.sum()) == 5.0
    # (batch, 1) inputs keep their shape; bytes equal str; order matters.
    col = L.HashedCrossing(5)([feat1[:, None].astype("S"), feat2[:, None]])
    assert col.shape == (5, 1) and col[:, 0].tolist() == [1, 4, 1, 1, 3]
    layer = L.HashedCrossing(1000)
    a, b = np.array([3, 4, 5]), np.array([7, 7, 7])
    host = np.asarray(layer((a, b)))
    assert host.tolist() != np.asarray(layer((b, a))).tolist()
    # Integer features inside jit go through a host callback: same bins.
    traced = jax.jit(lambda u, v: layer.apply({}, {}, [u, v])[0])(a, b)
    np.testing.assert_array_equal(traced, host)
    assert layer.compute_output_shape([(None,), (None,)]) == (None,)
    assert L.HashedCrossing(4, output_mode="one_hot").compute_output_shape(
        [(None, 1), (None, 1)]
    ) == (None, 4)
    config = layer.get_config()
    assert config["num_bins"] == 1000 and config["output_mode"] == "int"
    assert L.deserialize(L.serialize(layer)).get_config() == config


def test_hashed_crossing_errors():
    layer = L.HashedCrossing(5)
    with pytest.raises(ValueError, match="should be called on at least two inputs"):
        layer([np.array([1, 2])])
    with pytest.raises(ValueError, match="should have equal shape"):
        layer([np.array([1, 2]), np.array([1, 2, 3])])
    with pytest.raises(ValueError, match=r"should have shape `\(\)`, `\(batch_size\)`"):
        layer([np.ones((2, 3), "int32"), np.ones((2, 3), "int32")])
    with pytest.raises(ValueError, match="integer or string dtype"):
        layer([np.ones(2, "float32"), np.ones(2, "float32")])
    with pytest.raises(ValueError, match="unknown output_mode"):
        L.HashedCrossing(5, output_mode="multi_hot")


def _pipe(mod):
    M = mod.layers
    return M.Pipeline([M.CenterCrop(4, 4), M.Rescaling(0.5, offset=1.0), M.ZeroPadding2D(1)])


def test_pipeline_matches_keras(keras):
    x = np.random.default_rng(0).uniform(size=(2, 6, 7, 3)).astype("float32")
    with keras_ref():
        kp = _pipe(keras)
        want = np.asarray(kp(x))
        kconf = kp.get_config()
        km = keras.Sequential([keras.Input((6, 7, 3)), _pipe(keras), keras.layers.Flatten()])
        kmodel_out = km.predict(x, verbose=0)
    pipe = _pipe(lamina)
    np.testing.assert_allclose(pipe(x), want, rtol=1e-6)
    config = pipe.get_config()
    assert set(config) == set(kconf)
    assert [c["class_name"] for c in config["layers"]] == [c["class_name"] for c in kconf["layers"]]
    again = L.Pipeline.from_config(kconf)
    np.testing.assert_allclose(again(x), want, rtol=1e-6)
    lm = lamina.models.Sequential([L.Input((6, 7, 3)), _pipe(lamina), L.Flatten()])
    np.testing.assert_allclose(lm.predict(x, verbose=0), kmodel_out, rtol=1e-6)
    assert pipe.compute_output_shape((None, 6, 7, 3)) == (None, 6, 6, 3)


def test_pipeline_runs_host_layers_and_trains_randomly():
    pipe = L.Pipeline([L.StringLookup(vocabulary=["a", "b"]), L.CategoryEncoding(3, "one_hot")])
    assert np.asarray(pipe(np.array(["b", "a", "z"]))).tolist() == [
        [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
    ]  # fmt: skip
    x = np.ones((1, 8, 8, 1), "float32")
    drop = L.Pipeline([L.Dropout(0.5)])
    first = np.asarray(drop(x))
    assert (first == 0).any()  # a direct call trains, as in Keras
    assert not np.array_equal(first, np.asarray(drop(x)))  # a fresh mask at every call
    np.testing.assert_array_equal(drop(x, training=False), x)
    with pytest.raises(ValueError, match="must contain a `layers` key"):
        L.Pipeline.from_config({"name": "p"})
