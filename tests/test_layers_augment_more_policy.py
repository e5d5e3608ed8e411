"""RandAugment, AugMix, RandomElasticTransform and CLAHE (issue #19) against real Keras 3 and by statistics."""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers import (
    AugMix,
    ContrastLimitedAdaptiveHistogramEqualization,
    RandAugment,
    RandomElasticTransform,
    deserialize,
    serialize,
)
from tests.helpers import keras_ref

KEY = jax.random.PRNGKey(3)


def _images(*shape, high=255.0, seed=0):
    return np.random.default_rng(seed).uniform(0, high, shape).astype("float32")


def _train(layer, x, key=KEY):
    return np.asarray(layer.apply({}, {}, x, training=True, key=key)[0])


def _jitted(layer):
    run = jax.jit(lambda x, key: layer.apply({}, {}, x, training=True, key=key)[0])
    return lambda x, key: np.asarray(run(x, key))


LAYERS = [
    ("RandAugment", dict()),
    ("RandAugment", dict(value_range=(0, 1), num_ops=3, factor=(0.1, 0.3),
                         interpolation="nearest", data_format="channels_first")),
    ("AugMix", dict()),
    ("AugMix", dict(value_range=(0, 1), num_chains=2, chain_depth=2, factor=(0.1, 0.5),
                    alpha=0.5, all_ops=False, interpolation="nearest",
                    data_format="channels_first")),
    ("RandomElasticTransform", dict()),
    ("RandomElasticTransform", dict(factor=0.5, scale=(0.2, 0.6), fill_mode="constant",
                                    fill_value=3.0, interpolation="nearest", value_range=(0, 1),
                                    data_format="channels_first")),
]


@pytest.mark.parametrize("name, kwargs", LAYERS)
def test_inference_config_and_keyed_training_match_keras(keras, name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _images(4, 12, 12, 3, high=float(layer.value_range[1]))
    if layer.data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    with keras_ref():
        kl = getattr(keras.layers, name)(**kwargs)
        want = np.asarray(kl(x, training=False))
        kcfg = kl.get_config()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), want)
    np.testing.assert_array_equal(want, x)
    cfg = layer.get_config()
    for k in set(kcfg) - {"name", "dtype", "trainable"}:
        assert cfg[k] == kcfg[k], k
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == cfg
    run = _jitted(layer)
    a = run(x, KEY)
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, run(x, KEY))
    assert any(not np.array_equal(a, run(x, jax.random.PRNGKey(s))) for s in range(4))
    assert a.min() >= layer.value_range[0] - 1e-4 and a.max() <= layer.value_range[1] + 1e-4


@pytest.mark.slow
def test_rand_augment_applies_one_of_the_keras_candidates():
    layer = RandAugment(num_ops=1, factor=0.4)
    x = _images(4, 10, 10, 3)
    names = [type(c).__name__ for c in layer._candidates]
    assert names == ["RandomShear", "RandomTranslation", "RandomRotation", "RandomBrightness",
                     "RandomColorDegeneration", "RandomContrast", "RandomSharpness",
                     "RandomPosterization", "Solarization", "AutoContrast", "Equalization"]
    assert layer._candidates[7].factor == (1, 3)  # Keras: max(1, int(8 * upper))
    picked = set()
    candidates, run = [_jitted(c) for c in layer._candidates], _jitted(layer)
    for seed in range(12):
        key = jax.random.PRNGKey(seed)
        kpick, *keys = jax.random.split(key, 12)
        outs = [c(x, k) for c, k in zip(candidates, keys, strict=True)]
        y = run(x, key)
        hits = [i for i, o in enumerate(outs) if np.allclose(y, o, atol=1e-4)]
        assert hits, seed
        picked.add(hits[0])
    assert len(picked) >= 4  # the picks vary with the key


def test_rand_augment_two_ops_compose():
    x = _images(2, 8, 8, 3)
    two = _jitted(RandAugment(num_ops=2))
    changes = [np.abs(two(x, jax.random.PRNGKey(s)) - x).mean() for s in range(6)]
    assert all(np.isfinite(changes)) and min(changes) > 0


@pytest.mark.slow
def test_augmix_blends_chains_with_the_image():
    layer = AugMix(value_range=(0, 1), num_chains=2, chain_depth=1, all_ops=False)
    assert [type(c).__name__ for c in layer._candidates] == [
        "RandomShear", "RandomTranslation", "RandomRotation", "RandomPosterization",
        "Solarization", "AutoContrast", "Equalization"]
    assert len(AugMix()._candidates) == 11
    flat = np.full((2, 6, 6, 3), 0.4, "float32")
    run = _jitted(AugMix(value_range=(0, 1), factor=(0.5, 0.5), all_ops=False))
    outs = np.stack([run(flat, jax.random.PRNGKey(s)) for s in range(8)])
    # The candidates of all_ops=False keep a flat image flat: every output is a flat image
    # in the value range, and the blend varies with the key.
    assert np.allclose(outs, outs[:, :, :1, :1, :1], atol=1e-4)
    assert outs.min() >= 0.0 and outs.max() <= 1.0
    assert np.unique(outs.round(4)).size > 2


def test_elastic_warp_is_smooth_and_bounded():
    h = w = 40
    ramp = np.broadcast_to(np.arange(w, dtype="float32")[None, :, None], (h, w, 1))
    x = np.stack([ramp] * 8).astype("float32")
    layer = RandomElasticTransform(factor=(1.0, 1.0), scale=(1.0, 1.0), value_range=(-100, 100),
                                   fill_mode="nearest")
    shift = (_train(layer, x) - x)[:, 5:-5, 5:-5, 0]  # the sampled x displacement, inside
    assert 0.05 < np.abs(shift).mean() < 0.1 * w  # alpha = 0.1 * 40 times a blurred field
    # A blurred field: neighbouring displacements are much closer than the field's spread.
    assert np.abs(np.diff(shift, axis=2)).mean() < 0.5 * shift.std()
    assert not np.allclose(shift[0], shift[1])  # one field per image
    np.testing.assert_array_equal(_train(RandomElasticTransform(scale=0.0), x), x)
    np.testing.assert_array_equal(_train(RandomElasticTransform(factor=0.0), x), x)
    picked = RandomElasticTransform(factor=(0.3, 0.3), value_range=(0, 1))
    moved = (_train(picked, _images(200, 10, 10, 1, high=1.0)) != _images(
        200, 10, 10, 1, high=1.0)).any(axis=(1, 2, 3))
    assert 0.2 < moved.mean() < 0.4


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="num_ops"):
        RandAugment(num_ops=0)
    with pytest.raises(ValueError, match=r"factor.*\[0, 1\]"):
        RandAugment(factor=2.0)
    with pytest.raises(ValueError, match="chain_depth"):
        AugMix(chain_depth=0)
    with pytest.raises(ValueError, match="alpha"):
        AugMix(alpha=-1.0)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        RandomElasticTransform(fill_mode="edge")
    with pytest.raises(ValueError, match="scale"):
        RandomElasticTransform(scale=1.5)


@pytest.mark.slow
def test_sequential_with_policy_augmentation_fits_and_predicts():
    x = _images(16, 8, 8, 3, high=1.0)
    L = lamina.layers
    model = lamina.models.Sequential([
        L.Input((8, 8, 3)), RandAugment(value_range=(0, 1)), AugMix(value_range=(0, 1)),
        RandomElasticTransform(value_range=(0, 1)), L.Flatten(), L.Dense(1)])
    model.compile(optimizer=lamina.optimizers.SGD(1e-3), loss="mse")
    hist = model.fit(x, x.mean(axis=(1, 2, 3))[:, None], epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(16, -1) @ kernel + bias,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 16, 16, 3), dict()),
    ((2, 13, 11, 2), dict(tile_grid_size=(3, 2), clip_limit=2.0)),
    ((1, 3, 20, 20), dict(data_format="channels_first", value_range=(0, 1), clip_limit=0)),
    ((20, 17, 1), dict(tile_grid_size=(4, 4))),
])
def test_clahe_matches_keras_in_training_and_inference(keras, shape, kwargs):
    high = 1.0 if kwargs.get("value_range") == (0, 1) else 255.0
    x = (_images(*shape, high=1.0) ** 2 * high).astype("float32")
    layer = ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    with keras_ref():
        kl = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
        want = np.asarray(kl(x, training=False))
        kcfg = kl.get_config()
    got = np.asarray(layer(x))
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(_train(layer, x), want, atol=1e-4)
    assert np.abs(got - x).max() > 0.03 * high  # the histogram is reshaped
    cfg = layer.get_config()
    for k in set(kcfg) - {"name", "dtype", "trainable"}:
        assert cfg[k] == kcfg[k], k
    assert deserialize(serialize(layer)).get_config() == cfg


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_clahe_in_a_model_and_errors():
    x = _images(8, 8, 8, 1)
    L = lamina.layers
    aug = ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
    model = lamina.models.Sequential([L.Input((8, 8, 1)), aug, L.Flatten(), L.Dense(1)])
    model.compile(optimizer=lamina.optimizers.SGD(1e-7), loss="mse")
    assert np.isfinite(model.fit(x, x.mean(axis=(1, 2, 3)), epochs=1, verbose=0)
                       .history["loss"]).all()
    kernel, bias = model.layers[-1].get_weights()
    want = np.asarray(aug(x)).reshape(8, -1) @ kernel + bias  # active at inference
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-2)
    with pytest.raises(ValueError, match="tile_grid_size"):
        ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=8)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_keras_saved_model_with_new_augmentation_loads_and_predicts_alike(keras, tmp_path):
    x = _images(4, 12, 12, 3)
    with keras_ref():
        K = keras.layers
        km = keras.Sequential([
            keras.Input((12, 12, 3)), K.RandomShear(0.2), K.RandomPerspective(),
            K.RandomGaussianBlur(), K.RandomErasing(), K.MixUp(), K.CutMix(),
            K.RandomHue(0.2), K.RandomSaturation(0.3), K.RandomColorDegeneration(0.3),
            K.RandomColorJitter(brightness_factor=0.1), K.RandomSharpness(0.3),
            # Equalization is left out: its compute_output_spec returns its input, which
            # Keras 3.15's own Sequential then reports as a cycle.
            K.RandomInvert(), K.Solarization(), K.RandomPosterization(4),
            K.RandAugment(), K.AugMix(), K.RandomElasticTransform(),
            # CLAHE before AutoContrast: CLAHE bins pixels by their integer part, so it would
            # magnify AutoContrast's last-bit float differences.
            K.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(3, 3)),
            K.AutoContrast(), K.Flatten(), K.Dense(2),
        ])
        km.save(tmp_path / "aug.keras")
        want = np.asarray(km.predict(x, verbose=0))
    model = lamina.models.load_model(tmp_path / "aug.keras")
    names = [type(la).__name__ for la in km.layers]
    assert [type(la).__name__ for la in model.layers] == names
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-3)
