"""The 3D layer family against real Keras 3: weights, forward pass, shapes, configs, fit, files."""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers.stateful import weight_names
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-5

CASES = [
    ("Conv3D", dict(filters=3, kernel_size=2), (4, 5, 6, 2)),
    (
        "Conv3D",
        dict(filters=2, kernel_size=(3, 2, 1), strides=(2, 1, 2), padding="same"),
        (5, 4, 5, 2),
    ),
    (
        "Conv3D",
        dict(filters=4, kernel_size=2, groups=2, dilation_rate=2, activation="relu"),
        (5, 5, 5, 2),
    ),
    ("Conv3D", dict(filters=2, kernel_size=2, data_format="channels_first"), (3, 4, 4, 5)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2), (3, 3, 2, 2)),
    ("Conv3DTranspose", dict(filters=3, kernel_size=2, strides=2, padding="same"), (2, 3, 3, 1)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1), (2, 2, 3, 1)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, data_format="channels_first"), (2, 3, 3, 2)),
    ("MaxPooling3D", dict(), (4, 5, 6, 2)),
    ("MaxPooling3D", dict(pool_size=3, strides=2, padding="same"), (5, 4, 5, 2)),
    ("MaxPooling3D", dict(pool_size=2, data_format="channels_first"), (2, 4, 4, 5)),
    ("AveragePooling3D", dict(pool_size=2), (4, 5, 6, 2)),
    (
        "AveragePooling3D",
        dict(pool_size=(3, 2, 2), strides=(2, 1, 2), padding="same"),
        (5, 4, 5, 2),
    ),
    ("GlobalMaxPooling3D", dict(), (3, 4, 5, 2)),
    ("GlobalMaxPooling3D", dict(keepdims=True, data_format="channels_first"), (2, 3, 4, 5)),
    ("GlobalAveragePooling3D", dict(keepdims=True), (3, 4, 5, 2)),
    ("GlobalAveragePooling3D", dict(data_format="channels_first"), (2, 3, 4, 5)),
    ("UpSampling3D", dict(), (2, 3, 2, 2)),
    ("UpSampling3D", dict(size=(1, 2, 3), data_format="channels_first"), (2, 2, 3, 2)),
    ("ZeroPadding3D", dict(), (2, 3, 2, 2)),
    ("ZeroPadding3D", dict(padding=(1, 0, 2)), (2, 3, 2, 2)),
    (
        "ZeroPadding3D",
        dict(padding=((1, 0), (0, 2), 1), data_format="channels_first"),
        (2, 3, 2, 2),
    ),
    ("Cropping3D", dict(), (4, 5, 6, 2)),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), 1)), (4, 5, 6, 2)),
    ("Cropping3D", dict(cropping=(0, 1, 2), data_format="channels_first"), (2, 4, 5, 6)),
    ("SpatialDropout3D", dict(rate=0.3), (2, 3, 2, 2)),
    ("SpatialDropout3D", dict(rate=0.5, data_format="channels_first"), (2, 3, 2, 2)),
]


def _ids(cases):
    return [f"{c}-{i}" for i, (c, _, _) in enumerate(cases)]


@pytest.mark.parametrize("cls,kwargs,shape", CASES, ids=_ids(CASES))
def test_forward_and_weights_match_keras(keras, cls, kwargs, shape):
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), getattr(keras.layers, cls)(**kwargs)])
        kw = km.get_weights()
        names = [w.path.split("/")[-1] for w in km.layers[0].weights]
    lm = lamina.models.Sequential(
        [lamina.layers.Input(shape), getattr(lamina.layers, cls)(**kwargs)]
    )
    lm.compile("sgd", "mse")
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in kw]
    params, state = lm.layers[-1].init(jax.random.key(0), (None, *shape))
    assert list(params) + list(weight_names(state)) == names
    lm.set_weights(kw)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    got = lm.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cls,kwargs,shape", CASES, ids=_ids(CASES))
def test_output_shape_and_config_match_keras(keras, cls, kwargs, shape):
    with keras_ref():
        klayer = getattr(keras.layers, cls)(**kwargs)
        kconf = klayer.get_config()
    layer = getattr(lamina.layers, cls)(**kwargs)
    for s in [(None, *shape), (4, *shape), (None, *(d + 3 for d in shape))]:
        with keras_ref():
            want = tuple(klayer.compute_output_shape(s))
        assert tuple(layer.compute_output_shape(s)) == want, s
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key, value in kconf.items():
        if key in ("name", "dtype") or isinstance(value, dict):
            continue
        assert config[key] == value, key
    assert type(layer).from_config(config).get_config() == config
    assert lamina.layers.deserialize(lamina.layers.serialize(layer)).get_config() == config


def test_spatial_dropout3d_drops_whole_channels():
    layer = lamina.layers.SpatialDropout3D(0.5, data_format="channels_first")
    x = np.ones((4, 6, 2, 3, 2), "float32")
    y, _ = layer.apply({}, {}, x, training=True, key=jax.random.key(3))
    y = np.asarray(y)
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :, :1, :1, :1], y.shape))
    np.testing.assert_array_equal(layer.apply({}, {}, x, training=False)[0], x)


def test_aliases_are_the_keras_classes(keras):
    L = lamina.layers
    pairs = {
        "Convolution3D": L.Conv3D, "Convolution3DTranspose": L.Conv3DTranspose,
        "Convolution1DTranspose": L.Conv1DTranspose, "Convolution2DTranspose": L.Conv2DTranspose,
        "SeparableConvolution1D": L.SeparableConv1D, "MaxPool3D": L.MaxPooling3D,
        "AvgPool3D": L.AveragePooling3D, "GlobalMaxPool3D": L.GlobalMaxPooling3D,
        "GlobalAvgPool3D": L.GlobalAveragePooling3D,
    }  # fmt: skip
    for alias, cls in pairs.items():
        assert getattr(L, alias) is cls
        assert getattr(keras.layers, alias) is getattr(keras.layers, cls.__name__)
        assert L.get_layer_class(alias) is cls


def test_argument_errors():
    L = lamina.layers
    with pytest.raises(
        ValueError, match=r"Conv3D\(kernel_size=...\) must be an int or a tuple of 3"
    ):
        L.Conv3D(2, (3, 3))
    with pytest.raises(ValueError, match=r"ZeroPadding3D\(padding=...\) must be an int, 3 ints"):
        L.ZeroPadding3D((1, 1))
    with pytest.raises(ValueError, match=r"cropping` cannot be negative"):
        L.Cropping3D(-1)
    with pytest.raises(ValueError, match=r"Cropping3D.*removes every entry.*\(None, 2, 5, 5, 1\)"):
        L.Cropping3D(1).compute_output_shape((None, 2, 5, 5, 1))
    with pytest.raises(ValueError, match=r"expects inputs of rank 5.*\(None, 4, 4, 1\)"):
        lamina.models.Sequential([L.Input((4, 4, 1)), L.Conv3D(2, 2)]).build()
    # Keras's Conv3DTranspose takes data_format before output_padding, positionally too.
    assert L.Conv3DTranspose(2, 3, 2, "same", "channels_first").data_format == "channels_first"


def _cnn(mod):
    L = mod.layers
    return [
        L.Conv3D(3, 2, activation="relu", padding="same"),
        L.MaxPooling3D(),
        L.Conv3DTranspose(2, 2, strides=2, activation="tanh"),
        L.ZeroPadding3D(1),
        L.Cropping3D(((1, 0), (0, 1), 1)),
        L.UpSampling3D((1, 1, 2)),
        L.AveragePooling3D(2),
        L.GlobalAveragePooling3D(),
        L.Dense(3, activation="softmax"),
    ]


@pytest.mark.slow
def test_small_3d_cnn_fit_matches_keras(keras):
    rng = np.random.default_rng(0)
    shape = (4, 4, 4, 2)
    x = rng.normal(size=(20, *shape)).astype("float32")
    y = rng.integers(0, 3, 20)
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *_cnn(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(shape), *_cnn(lamina)])
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        kh = km.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm.compile(lamina.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    lh = lm.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-5)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_keras_file_round_trip(keras, tmp_path):
    shape = (4, 4, 4, 2)
    x = np.random.default_rng(1).normal(size=(3, *shape)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *_cnn(keras)])
        km.save(tmp_path / "k.keras")
        want = km.predict(x, verbose=0)
    lm = lamina.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
