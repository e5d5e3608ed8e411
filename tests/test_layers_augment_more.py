"""Colour augmentation layers of issue #19 against real Keras 3 (KERAS_BACKEND=jax).

Deterministic parts are exact: Lamina draws a transformation from a key, and Keras's own
``transform_images`` applied to the same transformation must give the same images. The draws
themselves are checked statistically. Geometric and mixing layers are in
``test_layers_augment_more_geo.py``.
"""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
    deserialize,
    serialize,
)
from tests.helpers import keras_ref

KEY = jax.random.PRNGKey(3)


def _images(*shape, high=255.0, seed=0):
    return np.random.default_rng(seed).uniform(0, high, shape).astype("float32")


def _train(layer, x, key=KEY):
    return np.asarray(layer.apply({}, {}, x, training=True, key=key)[0])


def _draw(layer, x, key=KEY):
    t = layer.get_random_transformation(key, np.asarray(x))
    return {k: np.asarray(v) for k, v in t.items()}


LAYERS = [
    ("RandomInvert", dict()),
    ("RandomInvert", dict(factor=(0.2, 0.7), value_range=(0, 1))),
    ("Solarization", dict()),
    ("Solarization", dict(addition_factor=0.2, threshold_factor=(0.3, 0.6), value_range=(1, 0))),
    ("RandomPosterization", dict(factor=4)),
    ("RandomPosterization", dict(factor=(2, 6), data_format="channels_first")),
    ("AutoContrast", dict()),
    ("AutoContrast", dict(value_range=(0, 1))),
    ("Equalization", dict()),
    ("Equalization", dict(bins=64, value_range=(0, 1), data_format="channels_first")),
    ("RandomHue", dict(factor=0.3)),
    ("RandomHue", dict(factor=(0.1, 0.9), value_range=(0, 1), data_format="channels_first")),
    ("RandomSaturation", dict(factor=0.5)),
    ("RandomSaturation", dict(factor=(0.2, 0.8), value_range=(0, 1))),
    ("RandomColorDegeneration", dict(factor=0.5)),
    ("RandomColorDegeneration", dict(factor=(0.1, 0.9), data_format="channels_first")),
    ("RandomSharpness", dict(factor=0.8)),
    ("RandomSharpness", dict(factor=(0.1, 0.9), value_range=(0, 1))),
    ("RandomColorJitter", dict(brightness_factor=0.2, contrast_factor=0.3)),
    ("RandomColorJitter", dict(value_range=(0, 1), saturation_factor=(0.3, 0.7),
                               hue_factor=0.2, data_format="channels_first")),
]


def _input_for(layer, shape):
    x = _images(*shape, high=float(max(getattr(layer, "value_range", (0, 255)))))
    if layer.data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, -3))
    return x


@pytest.mark.parametrize("name, kwargs", LAYERS)
@pytest.mark.parametrize("shape", [(2, 6, 7, 3), (6, 7, 3)])
def test_inference_and_config_match_keras(keras, name, kwargs, shape):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _input_for(layer, shape)
    with keras_ref():
        kl = getattr(keras.layers, name)(**kwargs)
        want = np.asarray(kl(x, training=False))
        kcfg = kl.get_config()
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), want, atol=1e-4)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])
    y = _train(layer, x)
    assert y.shape == x.shape and y.dtype == np.float32
    cfg = layer.get_config()
    for k in set(kcfg) - {"name", "dtype", "trainable"}:
        assert cfg[k] == kcfg[k], k
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == cfg
    with keras_ref():  # Keras builds the same layer from Lamina's config
        assert getattr(keras.layers, name).from_config(cfg).get_config() == kcfg | {
            "name": cfg["name"]}


@pytest.mark.parametrize("name, kwargs", [c for c in LAYERS if c[0] != "AutoContrast"])
def test_training_draws_are_keyed_and_per_image(name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _input_for(layer, (8, 6, 7, 3))
    a, b = _train(layer, x), _train(layer, x)
    np.testing.assert_array_equal(a, b)  # a fixed key gives a fixed output
    if name == "Equalization" or (name == "Solarization" and not kwargs):
        return  # deterministic in training too (Solarization's defaults invert every pixel)
    others = [_train(layer, x, jax.random.PRNGKey(s)) for s in range(4)]
    assert any(not np.array_equal(a, o) for o in others)
    # Per-image draws: the same image repeated over the batch is not transformed alike.
    same = np.repeat(x[:1], 8, axis=0)
    y = np.stack([_train(layer, same, jax.random.PRNGKey(s)) for s in range(3)])
    assert any(not np.allclose(y[s, 0], y[s, i]) for s in range(3) for i in range(1, 8))


@pytest.mark.parametrize("name, kwargs", [
    ("RandomInvert", dict(factor=0.7)),
    ("Solarization", dict(addition_factor=0.3, threshold_factor=(0.2, 0.8))),
    ("Solarization", dict(value_range=(0, 1))),
    ("RandomPosterization", dict(factor=(2, 7))),
    ("RandomPosterization", dict(factor=(3, 3), value_range=(0, 1))),
    ("RandomHue", dict(factor=0.6)),
    ("RandomHue", dict(factor=0.6, value_range=(0, 1), data_format="channels_first")),
    ("RandomSaturation", dict(factor=(0.2, 0.9), value_range=(0, 1))),
    ("RandomSaturation", dict(factor=0.9, data_format="channels_first")),
    ("RandomColorDegeneration", dict(factor=0.8)),
    ("RandomColorDegeneration", dict(factor=(0.3, 1.0), data_format="channels_first")),
    ("RandomSharpness", dict(factor=0.9)),
    ("RandomSharpness", dict(factor=(0.0, 1.0), data_format="channels_first")),
])
def test_transform_of_the_drawn_parameters_matches_keras(keras, name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _input_for(layer, (6, 7, 9, 3))
    t = _draw(layer, x)
    got = np.asarray(layer.transform_images(x, t))
    with keras_ref():
        want = np.asarray(getattr(keras.layers, name)(**kwargs).transform_images(x, t))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert not np.allclose(got, x)  # the drawn transformation does change the images


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_autocontrast_matches_keras_and_runs_at_inference(keras, data_format, value_range):
    x = _images(3, 5, 6, 3, high=value_range[1] * 0.5) + value_range[1] * 0.2
    x[1, ..., 1] = 0.3 * value_range[1]  # a flat channel stays as it is
    with keras_ref():
        # Keras 3.15 reduces axes (1, 2) whatever the format, so the reference is computed
        # channels-last and moved for the channels-first case.
        want = np.asarray(keras.layers.AutoContrast(value_range=value_range)(x, training=False))
    layer = AutoContrast(value_range=value_range, data_format=data_format)
    if data_format == "channels_first":
        x, want = (np.ascontiguousarray(np.moveaxis(a, -1, 1)) for a in (x, want))
    got = np.asarray(layer(x))
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_array_equal(_train(layer, x), got)  # the same in training
    flat = (slice(1, 2), slice(1, 2)) if data_format == "channels_first" else (1, Ellipsis, 1)
    np.testing.assert_allclose(got[flat], x[flat])
    assert got.min() == pytest.approx(value_range[0], abs=1e-5)
    assert got.max() == pytest.approx(value_range[1], abs=1e-4)


@pytest.mark.parametrize("value_range, bins", [((0, 255), 256), ((0, 1), 64), ((-1, 1), 16)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_equalization_matches_keras_per_image(keras, value_range, bins, data_format):
    lo, hi = value_range
    x = _images(3, 8, 9, 3, high=1.0) ** 3 * (hi - lo) + lo  # skewed histogram
    x[2, ..., 0] = lo + 0.25 * (hi - lo)  # one occupied bin: unchanged
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    layer = Equalization(value_range=value_range, bins=bins, data_format=data_format)
    got = _train(layer, x)
    with keras_ref():
        kl = keras.layers.Equalization(value_range=value_range, bins=bins,
                                       data_format=data_format)
        # Keras pools one histogram over the batch; one image at a time is the per-image rule.
        want = np.concatenate([np.asarray(kl(x[i:i + 1], training=True)) for i in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)  # identity at inference


def test_invert_solarize_posterize_on_fixed_images():
    x = np.array([[[[0.0, 100.0, 200.0], [255.0, 37.0, 128.0]]]], "float32")
    np.testing.assert_array_equal(_train(RandomInvert((1.0, 1.0)), x), 255.0 - x)
    np.testing.assert_array_equal(_train(RandomInvert((0.0, 0.0)), x), x)
    np.testing.assert_array_equal(_train(Solarization(), x), 255.0 - x)
    # Only pixels at or above the threshold are solarized.
    fixed = {"additions": np.zeros((1, 1, 1, 1), "float32"),
             "thresholds": np.full((1, 1, 1, 1), 128.0, "float32")}
    np.testing.assert_array_equal(Solarization().transform_images(x, fixed),
                                  np.where(x < 128, x, 255.0 - x))
    np.testing.assert_array_equal(_train(RandomPosterization((1, 1)), x),
                                  np.where(x >= 128, 128.0, 0.0))
    np.testing.assert_array_equal(_train(RandomPosterization((8, 8)), x), x)
    np.testing.assert_array_equal(_train(RandomPosterization((2, 2)), x),
                                  np.floor(x / 64) * 64)


def test_random_draw_statistics():
    x = _images(400, 3, 3, 3)
    inverted = (_train(RandomInvert((0.3, 0.3)), x) != x).any(axis=(1, 2, 3))
    assert 0.22 < inverted.mean() < 0.38
    posterize = RandomPosterization((2, 6))
    bits = 8 - _draw(posterize, x)["shift_factor"]
    assert set(np.unique(bits)) == {2, 3, 4, 5}  # Keras's randint excludes the upper bound
    hue = _draw(RandomHue((0.2, 0.6)), x)["factor"]
    assert (np.abs(hue) >= 0.1 - 1e-6).all() and (np.abs(hue) <= 0.3 + 1e-6).all()
    assert 0.35 < (hue > 0).mean() < 0.65
    sat = _draw(RandomSaturation((0.2, 0.6)), x)["factor"]
    assert sat.min() >= 0.25 - 1e-4 and sat.max() <= 1.5 + 1e-4
    solar = _draw(Solarization(addition_factor=0.5, threshold_factor=(0.2, 0.4)), x)
    assert 0 <= solar["additions"].min() and solar["additions"].max() <= 127.5
    assert 0.2 <= solar["thresholds"].min() and solar["thresholds"].max() <= 102.0
    assert solar["thresholds"].max() > 80


def test_colour_effects_move_statistics_the_right_way():
    x = _images(32, 6, 6, 3)
    grey = x.mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    np.testing.assert_allclose(_train(RandomHue(0.9), grey), grey, atol=1e-3)  # no hue to move
    spread = lambda im: np.std(im, axis=-1).mean()  # noqa: E731 - channel spread = colourfulness
    assert spread(_train(RandomSaturation((0.1, 0.2)), x)) < 0.5 * spread(x)
    assert spread(_train(RandomSaturation((0.8, 0.9)), x)) > spread(x)
    np.testing.assert_allclose(_train(RandomSaturation((0.5, 0.5)), x), x, rtol=1e-4, atol=1e-2)
    assert spread(_train(RandomColorDegeneration((0.5, 1.0)), x)) < 0.6 * spread(x)
    edges = lambda im: np.abs(np.diff(im, axis=1)).mean()  # noqa: E731
    assert edges(_train(RandomSharpness((0.0, 0.1)), x)) < edges(x)
    np.testing.assert_allclose(_train(RandomSharpness((0.5, 0.5)), x), x, atol=1e-3)
    hsv = lamina.ops.image.rgb_to_hsv(x / 255.0)
    hsv_y = lamina.ops.image.rgb_to_hsv(_train(RandomHue((0.4, 0.4)), x) / 255.0)
    shift = np.abs(np.asarray(hsv_y[..., 0] - hsv[..., 0]))
    shift = np.minimum(shift, 1 - shift)  # hue is a circle
    np.testing.assert_allclose(shift[np.asarray(hsv[..., 1]) > 0.05], 0.2, atol=1e-3)


def test_color_jitter_composes_the_sub_layers():
    x = _images(16, 5, 5, 3)
    only_brightness = RandomColorJitter(brightness_factor=(0.3, 0.3))
    np.testing.assert_allclose(_train(only_brightness, x), np.clip(x + 0.3 * 255, 0, 255),
                               atol=1e-3)
    np.testing.assert_array_equal(_train(RandomColorJitter(), x), x)
    both = RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=(0.5, 0.5))
    y = _train(both, x)
    b = np.clip(x + 0.1 * 255, 0, 255)
    mean = b.mean(axis=(1, 2), keepdims=True)
    lo, hi = (b - mean) * 0.5 + mean, (b - mean) * 1.5 + mean
    assert (y >= np.minimum(lo, hi).clip(0, 255) - 1e-3).all()
    assert (y <= np.maximum(lo, hi).clip(0, 255) + 1e-3).all()


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"factor.*\[0, 1\].*factor=1.5"):
        RandomInvert(1.5)
    with pytest.raises(ValueError, match="addition_factor.*threshold_factor"):
        Solarization(addition_factor=2.0)
    with pytest.raises(ValueError, match="value_range"):
        AutoContrast(value_range=255)
    with pytest.raises(ValueError, match=r"\[1, 8\]"):
        RandomPosterization(9)
    with pytest.raises(ValueError, match="bins"):
        Equalization(bins=1)
    with pytest.raises(ValueError, match="3 channels"):
        RandomHue(0.2)(np.ones((1, 2, 2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        RandomSaturation(1.5)
    with pytest.raises(ValueError, match="rank 3 .* or 4"):
        RandomSharpness(0.2)(np.ones((2, 3), "float32"))
    with pytest.raises(TypeError, match="unexpected keyword"):
        RandomColorDegeneration(0.2, strength=3)


def _fit_and_predict(augs, x, y):
    """Fits ``augs + Flatten + Dense``; checks predict against the Dense of the inference output."""
    L = lamina.layers
    model = lamina.models.Sequential([L.Input(x.shape[1:]), *augs, L.Flatten(), L.Dense(1)])
    model.compile(optimizer=lamina.optimizers.SGD(1e-6), loss="mse")
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    features = x
    for aug in augs:
        features = np.asarray(aug(features, training=False))
    kernel, bias = model.layers[-1].get_weights()
    want = features.reshape(len(x), -1) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-3)
    return features


def test_sequential_with_colour_augmentation_fits_and_predicts():
    x = _images(16, 4, 4, 3)
    y = x.mean(axis=(1, 2, 3))[:, None] / 255.0
    augs = [RandomInvert(), Solarization(), RandomPosterization(4), Equalization(),
            RandomHue(0.3), RandomSaturation(0.5), RandomColorDegeneration(0.5),
            RandomSharpness(0.5), RandomColorJitter(brightness_factor=0.2, hue_factor=0.2)]
    np.testing.assert_array_equal(_fit_and_predict(augs, x, y), x)  # inference: identity
    stretched = _fit_and_predict([AutoContrast()], x, y)  # AutoContrast applies at inference
    assert not np.allclose(stretched, x)


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", LAYERS)
def test_each_layer_in_a_sequential_model_fits_and_predicts(name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _input_for(layer, (16, 4, 4, 3))
    _fit_and_predict([layer], x, x.mean(axis=(1, 2, 3))[:, None])
