"""Keras 3 layers added in issue #19 against real Keras: adaptive pooling, AlphaDropout,
RMSNormalization, SpectralNormalization, Wrapper and InputSpec."""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers.stateful import weight_names
from tests.helpers import keras_ref

L = lamina.layers
RTOL, ATOL = 1e-5, 1e-5

CASES = [
    ("AdaptiveAveragePooling1D", dict(output_size=4), (10, 3)),
    ("AdaptiveAveragePooling1D", dict(output_size=3), (5, 2)),
    ("AdaptiveAveragePooling1D", dict(output_size=7, data_format="channels_first"), (2, 4)),
    ("AdaptiveMaxPooling1D", dict(output_size=3), (7, 2)),
    ("AdaptiveMaxPooling1D", dict(output_size=(6,)), (4, 2)),
    ("AdaptiveAveragePooling2D", dict(output_size=(2, 3)), (7, 9, 2)),
    ("AdaptiveAveragePooling2D", dict(output_size=3, data_format="channels_first"), (2, 5, 8)),
    ("AdaptiveMaxPooling2D", dict(output_size=(3, 4)), (8, 5, 2)),
    ("AdaptiveMaxPooling2D", dict(output_size=1), (4, 4, 3)),
    ("AdaptiveAveragePooling3D", dict(output_size=(2, 1, 3)), (5, 4, 7, 2)),
    ("AdaptiveMaxPooling3D", dict(output_size=2, data_format="channels_first"), (2, 3, 5, 4)),
    ("RMSNormalization", dict(), (5,)),
    ("RMSNormalization", dict(axis=[-2, -1], epsilon=1e-3), (3, 4)),
    ("RMSNormalization", dict(axis=-1), (3, 4)),
    ("AlphaDropout", dict(rate=0.2), (5,)),
    ("AlphaDropout", dict(rate=0.5, noise_shape=(None, 1)), (3, 4)),
]


def _ids(cases):
    return [f"{c}-{i}" for i, (c, _, _) in enumerate(cases)]


@pytest.mark.parametrize("cls,kwargs,shape", CASES, ids=_ids(CASES))
def test_forward_weights_shapes_and_config_match_keras(keras, cls, kwargs, shape):
    with keras_ref():
        klayer = getattr(keras.layers, cls)(**kwargs)
        kconf = klayer.get_config()
        km = keras.Sequential([keras.Input(shape), getattr(keras.layers, cls)(**kwargs)])
        kw = km.get_weights()
        names = [w.path.split("/")[-1] for w in km.layers[0].weights]
    layer = getattr(L, cls)(**kwargs)
    lm = lamina.models.Sequential([L.Input(shape), layer])
    params, state = layer.init(jax.random.key(0), (None, *shape))
    assert list(params) + list(weight_names(state)) == names
    rng = np.random.default_rng(0)
    lm.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in kw])
    x = rng.normal(size=(3, *shape)).astype("float32")
    with keras_ref():
        km.set_weights(lm.get_weights())
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    for s in [(None, *shape), (2, *shape)]:
        with keras_ref():
            assert tuple(layer.compute_output_shape(s)) == tuple(klayer.compute_output_shape(s))
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key, value in kconf.items():
        if key not in ("name", "dtype"):
            assert config[key] == value, key
    assert L.deserialize(L.serialize(layer)).get_config() == config


def test_adaptive_pooling_matches_torch_bins():
    # Bin i of n inputs into k outputs pools floor(i*n/k) .. ceil((i+1)*n/k).
    x = np.random.default_rng(1).normal(size=(2, 11, 13, 3)).astype("float32")
    y, _ = L.AdaptiveAveragePooling2D((4, 5)).apply({}, {}, x)
    ym, _ = L.AdaptiveMaxPooling2D((4, 5)).apply({}, {}, x)
    for i in range(4):
        r = slice(i * 11 // 4, -(-(i + 1) * 11 // 4))
        for j in range(5):
            c = slice(j * 13 // 5, -(-(j + 1) * 13 // 5))
            np.testing.assert_allclose(y[:, i, j], x[:, r, c].mean(axis=(1, 2)), atol=1e-6)
            np.testing.assert_allclose(ym[:, i, j], x[:, r, c].max(axis=(1, 2)))


def test_argument_errors():
    with pytest.raises(ValueError, match=r"output_size=...\) must have 2 entries"):
        L.AdaptiveMaxPooling2D((2, 2, 2))
    with pytest.raises(TypeError, match=r"output_size=...\) must be an integer"):
        L.AdaptiveAveragePooling1D("4")
    with pytest.raises(ValueError, match="Expected a float value between 0 and 1"):
        L.AlphaDropout(1.5)
    with pytest.raises(ValueError, match="Axis 3 is out of bounds"):
        L.RMSNormalization(axis=3).compute_output_shape((None, 4))
    with pytest.raises(ValueError, match="`power_iterations` should be greater than zero"):
        L.SpectralNormalization(L.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="object has no attribute 'kernel' nor 'embeddings'"):
        L.SpectralNormalization(L.LayerNormalization()).init(jax.random.key(0), (None, 3))
    with pytest.raises(ValueError, match="supplied to Wrapper isn't a supported layer type"):
        L.Wrapper("dense")


def test_alpha_dropout_keeps_selu_statistics():
    layer = L.AlphaDropout(0.3)
    x = np.random.default_rng(0).normal(size=(400, 500)).astype("float32")
    np.testing.assert_array_equal(layer.apply({}, {}, x)[0], x)
    y, _ = layer.apply({}, {}, x, training=True, key=jax.random.key(0))
    y = np.asarray(y)
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.3) * (1 + 0.3 * alpha_p**2)) ** -0.5
    b = -a * alpha_p * 0.3
    dropped = np.isclose(y, a * alpha_p + b)
    assert abs(dropped.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1.0) < 0.02  # SELU's fixed point kept
    shaped = L.AlphaDropout(0.5, noise_shape=(None, 1))
    y, _ = shaped.apply({}, {}, np.zeros((6, 4), "float32"), training=True, key=jax.random.key(1))
    assert (np.ptp(np.asarray(y), axis=1) == 0).all()


def _sn_model(mod):
    return [
        mod.layers.SpectralNormalization(mod.layers.Dense(4, activation="tanh")),
        mod.layers.RMSNormalization(),
        mod.layers.SpectralNormalization(mod.layers.Dense(1), power_iterations=2),
    ]


def test_spectral_normalization_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input((3,)), *_sn_model(keras)])
        names = [w.path.split("/")[-1] for w in km.weights]
    lm = lamina.models.Sequential([L.Input((3,)), *_sn_model(lamina)])
    lw = lm.get_weights()
    assert names == ["kernel", "vector_u", "bias", "scale", "kernel", "vector_u", "bias"]
    # Keras's list order: the kernel, vector_u, then the wrapped layer's bias.
    assert [w.path.split("/")[-1] for w in lm.weights] == names
    assert [w.name for w in lm.layers[0].weights] == names[:3]
    assert [w.shape for w in lw] == [tuple(w.shape) for w in km.weights]
    with keras_ref():
        km.set_weights(lw)
        want = km.predict(x, verbose=0)
        # A training call normalizes the kernel with one power-iteration step.
        trained_out = np.asarray(km(x[:4], training=True))
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    lm.compile("sgd", "mse")
    net_out = lm.layers[0](x[:4], training=True)
    net_out = lm.layers[2](lm.layers[1](net_out), training=True)
    np.testing.assert_allclose(net_out, trained_out, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_spectral_normalization_fit_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    lw = lamina.models.Sequential([L.Input((3,)), *_sn_model(lamina)]).get_weights()
    with keras_ref():
        km = keras.Sequential([keras.Input((3,)), *_sn_model(keras)])
        km.set_weights(lw)
        km.compile(keras.optimizers.Adam(0.01), "mse")
        kh = km.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm = lamina.models.Sequential([L.Input((3,)), *_sn_model(lamina)])
    lm.set_weights(lw)
    lm.compile(lamina.optimizers.Adam(0.01), "mse")
    lh = lm.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_spectral_normalization_config_round_trip(keras):
    with keras_ref():
        kconf = keras.layers.SpectralNormalization(
            keras.layers.Conv2D(2, 3), power_iterations=3
        ).get_config()
    layer = L.SpectralNormalization(L.Conv2D(2, 3), power_iterations=3)
    config = layer.get_config()
    assert set(config) == set(kconf) and config["power_iterations"] == 3
    assert config["layer"]["class_name"] == kconf["layer"]["class_name"] == "Conv2D"
    clone = L.deserialize(L.serialize(layer))
    assert isinstance(clone.layer, L.Conv2D) and clone.get_config() == config
    # Keras's own config (with its nested layer dict) builds the same layer.
    again = L.SpectralNormalization.from_config(kconf)
    assert again.layer.kernel_size == (3, 3) and again.power_iterations == 3
    params, state = again.init(jax.random.key(0), (None, 6, 6, 1))
    assert [(k, v.shape) for k, v in {**params, **state}.items()] == [
        ("kernel", (3, 3, 1, 2)), ("bias", (2,)), ("vector_u", (1, 2)),
    ]  # fmt: skip


def _user_wrapper(base):
    class Scaled(base):
        def __init__(self, layer, factor=2.0, **kwargs):
            super().__init__(layer, **kwargs)
            self.factor = factor

        def call(self, x):
            return self.factor * self.layer(x)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return Scaled


def test_user_wrapper_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    with keras_ref():
        KS = _user_wrapper(keras.layers.Wrapper)
        km = keras.Sequential([keras.Input((3,)), KS(keras.layers.Dense(2), factor=3.0)])
        want = km.predict(x, verbose=0)
        kconf = km.layers[0].get_config()
    LS = _user_wrapper(L.Wrapper)
    layer = LS(L.Dense(2), factor=3.0)
    lm = lamina.models.Sequential([L.Input((3,)), layer])
    lm.set_weights(km.get_weights())
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    config = layer.get_config()
    assert set(config) == set(kconf) and config["layer"]["class_name"] == "Dense"
    clone = LS.from_config(config)
    assert isinstance(clone.layer, L.Dense) and clone.factor == 3.0
    clone_model = lamina.models.Sequential([L.Input((3,)), clone])
    clone_model.set_weights(lm.get_weights())
    np.testing.assert_allclose(clone_model.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)


def _spec_layer(mod, spec):
    class OnlyMatrices(mod.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = spec(mod)

        def call(self, x):
            return x * 2.0

    return OnlyMatrices(name="only")


@pytest.mark.parametrize(
    "spec,shape",
    [
        (lambda m: m.layers.InputSpec(ndim=2), (3, 4)),
        (lambda m: m.layers.InputSpec(min_ndim=3), (3,)),
        (lambda m: m.layers.InputSpec(max_ndim=2), (3, 4)),
        (lambda m: m.layers.InputSpec(axes={-1: 5}), (4,)),
        (lambda m: m.layers.InputSpec(shape=(None, 7)), (4,)),
    ],
)
def test_input_spec_errors_match_keras(keras, spec, shape):
    x = np.ones((2, *shape), "float32")
    with keras_ref():
        with pytest.raises(ValueError) as kerr:
            _spec_layer(keras, spec)(x)
    with pytest.raises(ValueError) as lerr:
        _spec_layer(lamina, spec)(x)
    # An eager first call builds on the array's real shape, as Keras's: the same message.
    assert str(lerr.value) == str(kerr.value)
    with pytest.raises(ValueError, match="incompatible with the layer"):  # symbolic too
        lamina.models.Sequential([L.Input(shape), _spec_layer(lamina, spec)]).build()


def test_input_spec_accepts_valid_inputs_and_matches_keras_api(keras):
    layer = _spec_layer(lamina, lambda m: m.layers.InputSpec(ndim=2, axes={1: 3}))
    np.testing.assert_allclose(layer(np.ones((2, 3), "float32")), 2.0)
    with keras_ref():
        kspec = keras.layers.InputSpec(shape=(None, 4), dtype="float32", axes={-1: 4})
    spec = L.InputSpec(shape=(None, 4), dtype="float32", axes={-1: 4})
    assert repr(spec) == repr(kspec)
    assert spec.get_config() == kspec.get_config()
    assert L.InputSpec.from_config(spec.get_config()).get_config() == spec.get_config()
    with pytest.raises(TypeError, match="`axes` must be a dict with integer keys"):
        L.InputSpec(axes={"a": 1})
    with pytest.raises(ValueError, match="Axis 3 is greater than the maximum allowed value: 1"):
        L.InputSpec(ndim=2, axes={3: 1})


@pytest.mark.slow
def test_keras_file_round_trip(keras, tmp_path):
    shape = (9, 8, 2)
    x = np.random.default_rng(2).normal(size=(3, *shape)).astype("float32")

    def layers(mod):
        M = mod.layers
        return [
            M.AdaptiveMaxPooling2D((4, 3)),
            M.AlphaDropout(0.1),
            M.RMSNormalization(axis=[-2, -1]),
            M.AdaptiveAveragePooling2D(2),
            M.Flatten(),
            M.Dense(3),
        ]

    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *layers(keras)])
        km.set_weights([np.random.default_rng(3).uniform(0.5, 1.5, w.shape) for w in km.weights])
        km.save(tmp_path / "k.keras")
        want = km.predict(x, verbose=0)
    lm = lamina.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)


def test_spectral_normalization_keras_file_round_trip(keras, tmp_path):
    x = np.random.default_rng(4).normal(size=(3, 4)).astype("float32")
    with keras_ref():
        km = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.SpectralNormalization(keras.layers.Dense(3)),
                keras.layers.Dense(2),
            ]
        )
        km.set_weights([np.random.default_rng(5).uniform(size=w.shape) for w in km.weights])
        km.save(tmp_path / "k.keras")
        want = km.predict(x, verbose=0)
        kw = km.get_weights()
    lm = lamina.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    for a, ref in zip(lm.get_weights(), kw):  # Keras's list: kernel, vector_u, bias, ...
        np.testing.assert_array_equal(a, ref)  # vector_u read from the wrapper's own vars
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
        for a, ref in zip(back.get_weights(), kw):
            np.testing.assert_array_equal(a, ref)
