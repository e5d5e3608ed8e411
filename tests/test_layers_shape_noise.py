"""Shape, noise and preprocessing layers against real Keras 3."""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

SHAPE_CASES = [
    ("ZeroPadding1D", dict(), (5, 3)),
    ("ZeroPadding1D", dict(padding=(1, 3)), (5, 3)),
    ("ZeroPadding2D", dict(), (4, 5, 2)),
    ("ZeroPadding2D", dict(padding=(1, 2)), (4, 5, 2)),
    ("ZeroPadding2D", dict(padding=((0, 1), (2, 3)), data_format="channels_first"), (2, 4, 5)),
    ("Cropping1D", dict(), (6, 2)),
    ("Cropping1D", dict(cropping=(2, 0)), (6, 2)),
    ("Cropping2D", dict(cropping=1), (6, 7, 2)),
    ("Cropping2D", dict(cropping=((1, 2), (0, 3))), (6, 7, 2)),
    ("Cropping2D", dict(cropping=(1, 2), data_format="channels_first"), (2, 6, 7)),
    ("UpSampling1D", dict(), (4, 3)),
    ("UpSampling1D", dict(size=3), (4, 3)),
    ("UpSampling2D", dict(), (3, 4, 2)),
    ("UpSampling2D", dict(size=(1, 3), data_format="channels_first"), (2, 3, 4)),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (3, 4, 2)),
    ("RepeatVector", dict(n=3), (4,)),
    ("Permute", dict(dims=(2, 1)), (4, 3)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 3, 4)),
    ("Rescaling", dict(scale=1 / 255.0), (4, 3)),
    ("Rescaling", dict(scale=2.0, offset=-1.0), (2, 3, 4)),
    ("GaussianNoise", dict(stddev=0.5), (4, 3)),
    ("GaussianDropout", dict(rate=0.3), (4, 3)),
    ("SpatialDropout1D", dict(rate=0.3), (4, 3)),
    ("SpatialDropout2D", dict(rate=0.3), (4, 4, 3)),
    ("SpatialDropout2D", dict(rate=0.3, data_format="channels_first"), (3, 4, 4)),
    ("ActivityRegularization", dict(l1=0.01, l2=0.1), (4, 3)),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), (4, 3)),
    ("Normalization", dict(axis=None, mean=2.0, variance=3.0), (4, 3)),
    (
        "Normalization",
        dict(
            axis=(1, 2),
            mean=np.ones((4, 3)).tolist(),
            variance=np.full((4, 3), 2.0).tolist(),
            invert=True,
        ),
        (4, 3),
    ),
]
IDS = [f"{c}-{i}" for i, (c, _, _) in enumerate(SHAPE_CASES)]


def _both(keras, cls, kwargs):
    with keras_ref():
        klayer = getattr(keras.layers, cls)(**kwargs)
    return klayer, getattr(lamina.layers, cls)(**kwargs)


@pytest.mark.parametrize("cls,kwargs,shape", SHAPE_CASES, ids=IDS)
def test_inference_output_matches_keras(keras, cls, kwargs, shape):
    klayer, layer = _both(keras, cls, kwargs)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype("float32")
    with keras_ref():
        want = np.asarray(klayer(x, training=False) if layer.uses_rng else klayer(x))
    params, state = layer.init(jax.random.key(0), (None, *shape))
    got, _ = layer.apply(params, state, x, training=False)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,shape", SHAPE_CASES, ids=IDS)
def test_output_shape_and_config_match_keras(keras, cls, kwargs, shape):
    klayer, layer = _both(keras, cls, kwargs)
    bigger = tuple(d + 2 for d in shape)
    for s in [(None, *shape), (5, *shape)] + ([(None, *bigger)] if cls != "Normalization" else []):
        with keras_ref():
            want = tuple(klayer.compute_output_shape(s))
        assert tuple(layer.compute_output_shape(s)) == want, s
    with keras_ref():
        kconf = klayer.get_config()
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key, value in kconf.items():
        if key not in ("name", "dtype"):
            assert config[key] == (
                list(value)
                if key == "axis" and cls == "Normalization" and isinstance(config[key], list)
                else value
            ), key
    clone = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == config


def test_model_with_shape_layers_summary_and_predict(keras, capsys):
    L = lamina.layers
    model = lamina.models.Sequential(
        [
            L.Input((6, 6, 2)),
            L.ZeroPadding2D(1),
            L.Cropping2D(((1, 0), (0, 1))),
            L.UpSampling2D(),
            L.SpatialDropout2D(0.2),
            L.GaussianNoise(0.1),
            L.Flatten(),
            L.RepeatVector(2),
            L.Permute((2, 1)),
        ]
    )
    model.summary()
    assert "(None, 14, 14, 2)" in capsys.readouterr().out
    assert model.output_shape == (None, 392, 2)


@pytest.mark.parametrize(
    "cls,shape",
    [
        ("RepeatVector", (3, 4)),
        ("Cropping2D", (5, 5)),
        ("UpSampling1D", (5,)),
        ("SpatialDropout2D", (4, 4)),
    ],
)
def test_wrong_rank_error(cls, shape):
    layer = getattr(lamina.layers, cls)(
        *([2] if cls == "RepeatVector" else [0.5] if "Drop" in cls else [])
    )
    with pytest.raises(
        ValueError, match=rf"{layer.name}.*{cls}.*rank.*received.*(Reshape|Flatten)"
    ):
        lamina.models.Sequential([lamina.layers.Input(shape), layer]).build()


# ----------------------------------------------------------------------- random layers
def _train(layer, x, seed=0):
    params, state = layer.init(jax.random.key(0), (None, *x.shape[1:]))
    return np.asarray(layer.apply(params, state, x, training=True, key=jax.random.key(seed))[0])


def test_gaussian_noise_statistics():
    x = np.full((200, 500), 3.0, "float32")
    y = _train(lamina.layers.GaussianNoise(0.5), x)
    assert abs((y - x).mean()) < 0.01 and abs((y - x).std() - 0.5) < 0.01
    assert not np.array_equal(y, _train(lamina.layers.GaussianNoise(0.5), x, seed=1))
    y2, _ = lamina.layers.GaussianNoise(0.5).apply({}, {}, x, training=True, key=None)
    np.testing.assert_array_equal(y2, x)


def test_gaussian_dropout_statistics():
    x = np.full((200, 500), 2.0, "float32")
    y = _train(lamina.layers.GaussianDropout(0.2), x)
    assert abs(y.mean() - 2.0) < 0.02 and abs(y.std() - 2.0 * np.sqrt(0.2 / 0.8)) < 0.02


@pytest.mark.parametrize(
    "cls,shape,axes",
    [("SpatialDropout1D", (400, 10, 50), (1,)), ("SpatialDropout2D", (400, 4, 5, 50), (1, 2))],
)
def test_spatial_dropout_drops_whole_channels(cls, shape, axes):
    x = np.ones(shape, "float32")
    y = _train(getattr(lamina.layers, cls)(0.3), x)
    kept = y != 0
    np.testing.assert_array_equal(kept, kept.any(axis=axes, keepdims=True) & np.ones(shape, bool))
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)


def test_spatial_dropout_channels_first():
    x = np.ones((300, 40, 3, 3), "float32")
    y = _train(lamina.layers.SpatialDropout2D(0.5, data_format="channels_first"), x)
    kept = y != 0
    assert (kept == kept[:, :, :1, :1]).all() and abs(kept.mean() - 0.5) < 0.02


def test_random_layers_use_the_training_key_in_fit():
    L = lamina.layers
    x = np.random.default_rng(0).normal(size=(32, 6, 4)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    model = lamina.models.Sequential(
        [
            L.Input((6, 4)),
            L.GaussianNoise(0.1),
            L.SpatialDropout1D(0.2),
            L.GaussianDropout(0.1),
            L.Flatten(),
            L.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_activity_regularization_penalty_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    with keras_ref():
        klayer = keras.layers.ActivityRegularization(l1=0.01, l2=0.1)
        klayer(x)
        want = float(klayer.losses[0]) * x.shape[0]  # Keras divides by the batch size
    layer = lamina.layers.ActivityRegularization(l1=0.01, l2=0.1)
    np.testing.assert_allclose(float(layer.activity_regularizer(x)), want, rtol=1e-5)


# ----------------------------------------------------------------------- Normalization.adapt
@pytest.mark.parametrize(
    "axis,shape",
    [(-1, (57, 4)), (None, (57, 4)), ((1, 2), (57, 3, 2)), (1, (57, 3, 2)), (-1, (57, 3, 2))],
)
def test_normalization_adapt_matches_keras(keras, axis, shape):
    data = (np.random.default_rng(0).normal(size=shape) * 3 + 5).astype("float32")
    with keras_ref():
        knorm = keras.layers.Normalization(axis=axis)
        knorm.adapt(data)
        want_w = knorm.get_weights()
        want_y = np.asarray(knorm(data[:5]))
    for source in (data, [data[i : i + 10] for i in range(0, len(data), 10)]):
        norm = lamina.layers.Normalization(axis=axis)
        norm.adapt(source, batch_size=16)
        model = lamina.models.Sequential([lamina.layers.Input(shape[1:]), norm])
        got_w = model.get_weights()
        assert [w.shape for w in got_w] == [w.shape for w in want_w]
        for g, w in zip(got_w, want_w):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        params, state = norm.init(None, (None, *shape[1:]))
        got_y, _ = norm.apply(params, state, data[:5])
        np.testing.assert_allclose(np.asarray(got_y), want_y, rtol=1e-5, atol=1e-5)


def test_normalization_weights_roundtrip_with_keras(keras):
    data = np.random.default_rng(1).normal(size=(40, 3)).astype("float32") * 2 + 1
    with keras_ref():
        km = keras.Sequential(
            [keras.Input((3,)), keras.layers.Normalization(), keras.layers.Dense(2)]
        )
        km.layers[0].adapt(data)
        want = km.predict(data, verbose=0)
        names = [w.path.split("/")[-1] for w in km.layers[0].weights]
    lm = lamina.models.Sequential(
        [lamina.layers.Input((3,)), lamina.layers.Normalization(), lamina.layers.Dense(2)]
    )
    assert list(lm.layers[0].init(None, (None, 3))[1]) == names == ["mean", "variance", "count"]
    lm.set_weights(km.get_weights())
    lm.compile("sgd", "mse")
    np.testing.assert_allclose(lm.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)
    assert lm.count_params() == sum(w.size for w in km.get_weights())


def test_normalization_errors():
    with pytest.raises(ValueError, match="both mean= and variance="):
        lamina.layers.Normalization(mean=1.0)
    norm = lamina.layers.Normalization()
    norm.adapt(np.ones((5, 3), "float32"))
    with pytest.raises(ValueError, match="adapted on data of shape"):
        norm.init(None, (None, 4))
