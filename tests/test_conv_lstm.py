"""ConvLSTM1D/2D/3D against real Keras 3: forward passes with copied weights, output shapes,
a short fit (History and weights), configs and ``.keras`` files both ways."""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 1e-5
ATOL = 2e-5

CASES = {
    "1d": ((5, 7, 2), lambda m: [m.layers.ConvLSTM1D(3, 3)]),
    "1d_same_seq_back": (
        (5, 7, 2),
        lambda m: [
            m.layers.ConvLSTM1D(3, 2, padding="same", return_sequences=True, go_backwards=True)
        ],
    ),
    "2d": ((4, 6, 6, 2), lambda m: [m.layers.ConvLSTM2D(3, 3)]),
    "2d_strides_dilation": (
        (4, 9, 9, 2),
        lambda m: [
            m.layers.ConvLSTM2D(2, 3, strides=2, padding="same", return_sequences=True),
            m.layers.ConvLSTM2D(2, 2, dilation_rate=2, use_bias=False),
        ],
    ),  # fmt: skip
    "2d_channels_first": (
        (4, 2, 6, 6),
        lambda m: [m.layers.ConvLSTM2D(3, 3, data_format="channels_first", return_sequences=True)],
    ),
    "3d": ((3, 4, 4, 4, 1), lambda m: [m.layers.ConvLSTM3D(2, 2, padding="same")]),
}


def _models(keras, make, shape):
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *make(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(shape), *make(lamina)])
    return km, lm


def _copy(km, lm, rng, scale=0.3):
    weights = [(scale * rng.normal(size=w.shape)).astype("float32") for w in km.get_weights()]
    with keras_ref():
        km.set_weights(weights)
    lm.set_weights(weights)


def _predict(lm, x):
    if lm._compiled is None:
        lm.compile(optimizer="sgd", loss="mse")
    return lm.predict(x, verbose=0)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c == "2d_strides_dilation" else c for c in CASES],
)
def test_forward_matches_keras(keras, rng, case):
    shape, make = CASES[case]
    km, lm = _models(keras, make, shape)
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in km.get_weights()]
    _copy(km, lm, rng)
    x = rng.normal(size=(3, *shape)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(_predict(lm, x), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_shapes_match_keras(keras, case):
    shape, make = CASES[case]
    for batch in (None, 2):
        want = got = (batch, *shape)
        with keras_ref():
            for layer in make(keras):
                want = layer.compute_output_shape(want)
        for layer in make(lamina):
            got = layer.compute_output_shape(got)
        assert tuple(got) == tuple(want)


def test_return_state_matches_keras(keras, rng):
    def make(m):
        inp = m.Input((4, 6, 6, 2))
        y, h, c = m.layers.ConvLSTM2D(3, 3, padding="same", return_state=True)(inp)
        return m.Model(inp, [y, h, c])

    with keras_ref():
        km = make(keras)
    lm = make(lamina)
    _copy(km, lm, rng)
    x = rng.normal(size=(2, 4, 6, 6, 2)).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    for g, w in zip(_predict(lm, x), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_short_fit_matches_keras(keras):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 4, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3, 4)) > 0).astype("float32")

    def make(m):
        return [m.layers.ConvLSTM2D(2, 3), m.layers.Flatten(), m.layers.Dense(1, "sigmoid")]

    km, lm = _models(keras, make, (4, 6, 6, 1))
    _copy(km, lm, rng)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        kh = km.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
        k_weights = km.get_weights()
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="binary_crossentropy")
    lh = lm.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-5)
    for lw, kw in zip(lm.get_weights(), k_weights, strict=True):
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"])
def test_config_matches_keras_and_round_trips(keras, name):
    kwargs = dict(filters=3, kernel_size=2, padding="same", return_sequences=True,
                  recurrent_dropout=0.1, unit_forget_bias=False)  # fmt: skip
    layer = getattr(lamina.layers, name)(**kwargs)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    with keras_ref():
        k_layer = getattr(keras.layers, name)(**kwargs)
        k_config = k_layer.get_config()
        k_full = keras.layers.serialize(k_layer)
    assert set(config) == set(k_config)
    for k in set(config) - {"name", "dtype"}:
        assert config[k] == k_config[k], k
    rebuilt = lamina.layers.deserialize(k_full)
    assert rebuilt.get_config() == {**config, "name": rebuilt.name}


def test_keras_files_move_both_ways(keras, tmp_path, rng):
    lm = lamina.models.Sequential(
        [lamina.layers.Input((3, 5, 5, 2)), lamina.layers.ConvLSTM2D(2, 3, return_sequences=True)]
    )
    lm.set_weights([rng.normal(size=w.shape).astype("float32") for w in lm.get_weights()])
    x = rng.normal(size=(2, 3, 5, 5, 2)).astype("float32")
    want = _predict(lm, x)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
        back = os.fspath(tmp_path / "keras.keras")
        km.save(back)
    np.testing.assert_allclose(
        _predict(lamina.models.load_model(back), x), want, rtol=RTOL, atol=ATOL
    )


def test_clear_errors():
    with pytest.raises(ValueError, match="filters"):
        lamina.layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="padding"):
        lamina.layers.ConvLSTM2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="rank 5"):
        lamina.models.Sequential([lamina.layers.Input((4, 5, 2)), lamina.layers.ConvLSTM2D(2, 3)])
    with pytest.raises(ValueError, match="static spatial"):
        lamina.layers.ConvLSTM2D(2, 3).init(None, (None, 4, None, 5, 2))


def test_stateful_carries_and_resets(rng):
    layer = lamina.layers.ConvLSTM1D(2, 2, stateful=True)
    model = lamina.models.Sequential([lamina.layers.Input(batch_shape=(2, 4, 3, 1)), layer])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.normal(size=(2, 4, 3, 1)).astype("float32")
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.allclose(first, second)
    layer.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=RTOL, atol=ATOL)
