"""Conv and pooling layers against real Keras 3: weights, forward pass, shapes, configs, fit."""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers.stateful import weight_names
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-5

CONV_CASES = [
    ("Conv1D", dict(filters=4, kernel_size=3), (9, 2)),
    ("Conv1D", dict(filters=3, kernel_size=2, strides=2, padding="same"), (9, 2)),
    ("Conv1D", dict(filters=3, kernel_size=3, padding="causal", dilation_rate=2), (10, 2)),
    ("Conv1D", dict(filters=4, kernel_size=3, groups=2, activation="relu"), (8, 4)),
    ("Conv2D", dict(filters=5, kernel_size=3), (7, 8, 3)),
    ("Conv2D", dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same"), (7, 8, 3)),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, activation="tanh"), (9, 9, 2)),
    ("Conv2D", dict(filters=2, kernel_size=3, strides=2, use_bias=False), (8, 8, 1)),
    ("Conv2D", dict(filters=3, kernel_size=2, data_format="channels_first"), (2, 6, 5)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2), (5, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3), (5, 5, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), (4, 5, 3)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="valid"), (4, 4, 1)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1), (4, 4, 1)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (5, 5, 2)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2), (8, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3), (6, 6, 3)),
    (
        "DepthwiseConv2D",
        dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"),
        (7, 7, 2),
    ),
    ("DepthwiseConv2D", dict(kernel_size=2, dilation_rate=2, activation="relu"), (6, 6, 2)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, padding="same"), (8, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3), (6, 6, 3)),
    (
        "SeparableConv2D",
        dict(filters=5, kernel_size=3, depth_multiplier=2, strides=2, padding="same"),
        (7, 6, 2),
    ),
]

POOL_CASES = [
    ("MaxPooling1D", dict(), (9, 3)),
    ("MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (9, 3)),
    ("AveragePooling1D", dict(pool_size=2), (9, 3)),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (10, 2)),
    ("MaxPooling2D", dict(), (7, 8, 2)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (7, 8, 2)),
    ("MaxPooling2D", dict(pool_size=2, data_format="channels_first"), (2, 6, 5)),
    ("AveragePooling2D", dict(pool_size=2), (7, 8, 2)),
    ("AveragePooling2D", dict(pool_size=(3, 2), strides=(2, 1), padding="same"), (7, 8, 2)),
    ("GlobalMaxPooling1D", dict(), (7, 3)),
    ("GlobalAveragePooling1D", dict(keepdims=True), (7, 3)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (5, 4, 3)),
    ("GlobalAveragePooling2D", dict(), (5, 4, 3)),
    ("GlobalAveragePooling2D", dict(data_format="channels_first"), (3, 5, 4)),
]

CASES = CONV_CASES + POOL_CASES


def _ids(cases):
    return [f"{c}-{i}" for i, (c, _, _) in enumerate(cases)]


def _pair(keras, cls, kwargs, shape):
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), getattr(keras.layers, cls)(**kwargs)])
    lm = lamina.models.Sequential(
        [lamina.layers.Input(shape), getattr(lamina.layers, cls)(**kwargs)]
    )
    lm.compile("sgd", "mse")
    return km, lm


@pytest.mark.parametrize("cls,kwargs,shape", CASES, ids=_ids(CASES))
def test_forward_and_weights_match_keras(keras, cls, kwargs, shape):
    km, lm = _pair(keras, cls, kwargs, shape)
    with keras_ref():
        kw = km.get_weights()
        names = [w.path.split("/")[-1] for w in km.layers[0].weights]
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in kw]
    params, state = lm.layers[-1].init(jax.random.key(0), (None, *shape))
    assert list(params) + list(weight_names(state)) == names  # init creates them in Keras's order
    lm.set_weights(kw)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype("float32")
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
    inputs = [(None, *shape), (4, *shape), (None, *(d + 3 for d in shape[:-1]), shape[-1])]
    if kwargs.get("data_format") == "channels_first":
        inputs[2] = (None, shape[0], *(d + 3 for d in shape[1:]))
    for s in inputs:
        with keras_ref():
            want = tuple(klayer.compute_output_shape(s))
        assert tuple(layer.compute_output_shape(s)) == want, s
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key, value in kconf.items():
        if key in ("name", "dtype") or isinstance(value, dict):
            continue
        assert config[key] == value, key
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    via_registry = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert via_registry.get_config() == config


@pytest.mark.parametrize(
    "cls,shape",
    [
        ("Conv2D", (8, 8)),
        ("Conv1D", (8,)),
        ("MaxPooling2D", (8, 8)),
        ("GlobalAveragePooling2D", (4, 4, 4, 3)),
    ],
)
def test_wrong_rank_names_layer_and_shapes(cls, shape):
    layer = getattr(lamina.layers, cls)(2, 3) if "Conv" in cls else getattr(lamina.layers, cls)()
    model = lamina.models.Sequential([lamina.layers.Input(shape)])
    with pytest.raises(
        ValueError,
        match=rf"{layer.name}.*{cls}.*expects inputs of rank.*received.*"
        rf"\(None, {shape[0]}.*(Reshape|Flatten)",
    ):
        model.add(layer)
        model.build()


def test_conv_weight_options_and_regularization():
    layer = lamina.layers.Conv2D(
        2,
        3,
        kernel_regularizer="l2",
        kernel_constraint="non_neg",
        kernel_initializer="ones",
        bias_initializer="ones",
    )
    params, _ = layer.init(jax.random.key(0), (None, 5, 5, 1))
    np.testing.assert_allclose(params["kernel"], 1.0)
    np.testing.assert_allclose(float(layer.regularization_loss(params)), 0.01 * 18, rtol=1e-6)
    projected = layer.apply_constraints({"kernel": -params["kernel"], "bias": params["bias"]})
    np.testing.assert_allclose(projected["kernel"], 0.0)


def _cnn(mod, shape):
    L = mod.layers
    return [
        L.Conv2D(4, 3, activation="relu", padding="same"),
        L.MaxPooling2D(),
        L.Conv2D(3, 2, strides=1, activation="tanh"),
        L.GlobalAveragePooling2D(keepdims=True),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_small_cnn_fit_matches_keras(keras, opt):
    rng = np.random.default_rng(0)
    shape = (8, 8, 2)
    x = rng.normal(size=(37, *shape)).astype("float32")
    y = rng.integers(0, 3, 37)
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *_cnn(keras, shape)])
    lm = lamina.models.Sequential([lamina.layers.Input(shape), *_cnn(lamina, shape)])
    lm.set_weights(km.get_weights())

    def make(mod):
        return mod.optimizers.SGD(0.1, momentum=0.9) if opt == "sgd" else mod.optimizers.Adam(0.01)

    with keras_ref():
        km.compile(make(keras), "sparse_categorical_crossentropy", metrics=["accuracy"])
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
        kp = km.predict(x, verbose=0)
    lm.compile(make(lamina), "sparse_categorical_crossentropy", metrics=["accuracy"])
    lh = lm.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert list(lh.history) == list(kh.history)
    for key in kh.history:
        np.testing.assert_allclose(
            lh.history[key], kh.history[key], rtol=1e-4, atol=1e-5, err_msg=key
        )
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lm.predict(x, verbose=0), kp, rtol=1e-4, atol=1e-5)


def test_summary_runs(capsys):
    model = lamina.models.Sequential([lamina.layers.Input((8, 8, 1)), *_cnn(lamina, (8, 8, 1))])
    model.summary()
    text = capsys.readouterr().out
    assert "Conv2D" in text and "(None, 8, 8, 4)" in text and "(None, 4, 4, 4)" in text
    assert "Total params" in text
