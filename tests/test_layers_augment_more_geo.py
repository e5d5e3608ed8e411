"""Geometric, region and batch-mixing augmentation layers of issue #19 against real Keras 3.

As in ``test_layers_augment_more.py``: a transformation drawn by Lamina from a key, handed to
Keras's own ``transform_images``, must give Lamina's images; the draws are checked
statistically; configs, inference and models as Keras.
"""

import jax
import numpy as np
import pytest

import lamina
from lamina.layers import (
    CutMix,
    MixUp,
    RandomErasing,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
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


def _channels(x, data_format):
    return np.ascontiguousarray(np.moveaxis(x, -1, -3)) if data_format == "channels_first" else x


LAYERS = [
    ("RandomShear", dict(x_factor=0.2)),
    ("RandomShear", dict(x_factor=(0.1, 0.3), y_factor=0.2, fill_mode="constant",
                         interpolation="nearest", fill_value=2.0, data_format="channels_first")),
    ("RandomPerspective", dict()),
    ("RandomPerspective", dict(factor=(0.2, 0.9), scale=0.4, interpolation="nearest",
                               fill_value=1.0, data_format="channels_first")),
    ("RandomGaussianBlur", dict()),
    ("RandomGaussianBlur", dict(factor=0.5, kernel_size=(3, 5), sigma=(0.2, 0.8),
                                value_range=(0, 1))),
    ("RandomErasing", dict()),
    ("RandomErasing", dict(factor=0.6, scale=0.2, fill_value=(1, 2, 3),
                           data_format="channels_first")),
    ("MixUp", dict()),
    ("MixUp", dict(alpha=0.5, data_format="channels_first")),
    ("CutMix", dict()),
    ("CutMix", dict(factor=(0.2, 0.6), data_format="channels_first")),
]


@pytest.mark.parametrize("name, kwargs", LAYERS)
@pytest.mark.parametrize("shape", [(4, 6, 7, 3), (6, 7, 3)])
def test_inference_and_config_match_keras(keras, name, kwargs, shape):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _channels(_images(*shape), layer.data_format)
    with keras_ref():
        kl = getattr(keras.layers, name)(**kwargs)
        want = np.asarray(kl(x, training=False))
        kcfg = kl.get_config()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), want)
    np.testing.assert_array_equal(want, x)
    y = _train(layer, x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])
    cfg = layer.get_config()
    for k in set(kcfg) - {"name", "dtype", "trainable"}:
        assert cfg[k] == kcfg[k], k
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == cfg


@pytest.mark.parametrize("name, kwargs", LAYERS)
def test_training_draws_are_keyed_and_per_image(name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _channels(_images(8, 6, 7, 3), layer.data_format)
    a = _train(layer, x)
    np.testing.assert_array_equal(a, _train(layer, x))
    others = [_train(layer, x, jax.random.PRNGKey(s)) for s in range(4)]
    assert any(not np.array_equal(a, o) for o in others)
    if name in ("MixUp", "CutMix"):  # mixing the same image with itself changes nothing
        return
    same = np.repeat(x[:1], 8, axis=0)
    y = np.stack([_train(layer, same, jax.random.PRNGKey(s)) for s in range(3)])
    assert any(not np.allclose(y[s, 0], y[s, i]) for s in range(3) for i in range(1, 8))


@pytest.mark.parametrize("name, kwargs", [
    ("RandomShear", dict(x_factor=0.3, y_factor=0.2)),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.2, fill_mode="constant",
                         interpolation="nearest", data_format="channels_first")),
    ("RandomShear", dict(y_factor=(0.2, 0.5), fill_mode="wrap")),
    ("RandomPerspective", dict(factor=(0.8, 1.0), scale=0.5)),
    ("RandomPerspective", dict(factor=(0.5, 1.0), interpolation="nearest", fill_value=3.0,
                               data_format="channels_first")),
    ("RandomGaussianBlur", dict(factor=0.8, kernel_size=(3, 5), sigma=(0.3, 0.9))),
    ("RandomGaussianBlur", dict(factor=(0.5, 1.0), kernel_size=5,
                                data_format="channels_first")),
    ("RandomErasing", dict(factor=(0.7, 1.0), fill_value=7.0)),
    ("RandomErasing", dict(factor=(0.7, 1.0), fill_value=(1, 2, 3),
                           data_format="channels_first")),
    ("RandomErasing", dict(factor=(0.7, 1.0))),
    ("MixUp", dict()),
    ("MixUp", dict(alpha=2.0, data_format="channels_first")),
    ("CutMix", dict()),
    ("CutMix", dict(factor=0.5, data_format="channels_first")),
])
def test_transform_of_the_drawn_parameters_matches_keras(keras, name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _channels(_images(6, 7, 9, 3), layer.data_format)
    t = _draw(layer, x)
    got = np.asarray(layer.transform_images(x, t))
    with keras_ref():
        want = np.asarray(getattr(keras.layers, name)(**kwargs).transform_images(x, t))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    assert not np.allclose(got, x)


def test_shear_and_perspective_extremes_are_exact():
    x = _images(3, 5, 6, 2)
    np.testing.assert_allclose(_train(RandomShear(), x), x, atol=1e-5)  # factor 0: identity
    np.testing.assert_allclose(_train(RandomPerspective(scale=0.0), x), x, atol=1e-4)
    np.testing.assert_array_equal(_train(RandomPerspective(factor=0.0), x), x)
    # Shear x by exactly one pixel per row, nearest neighbour: row r reads column c +- r.
    layer = RandomShear(x_factor=(1.0, 1.0), interpolation="nearest", fill_mode="constant")
    y = _train(layer, x)
    sign = np.sign(_draw(layer, x)["shear_factor"][:, 0])
    for i in range(3):
        for r in range(5):
            shifted = np.full((6, 2), 0.0, "float32")
            cols = np.arange(6) + int(sign[i]) * r
            ok = (cols >= 0) & (cols < 6)
            shifted[ok] = x[i, r, cols[ok]]
            np.testing.assert_array_equal(y[i, r], shifted)


def test_perspective_moves_corners_within_scale():
    x = np.zeros((64, 21, 21, 1), "float32")
    x[:, 10, 10] = 1.0  # the centre moves by at most a quarter of the size for scale 0.5
    layer = RandomPerspective(factor=(1.0, 1.0), scale=0.5, interpolation="nearest")
    y = _train(layer, x)[..., 0]
    end = _draw(layer, x)["end_points"]
    start = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], "float32")
    assert (np.abs(end - start) <= 0.25 * start + 1e-4).all()
    assert np.abs(end - start).max() > 4
    assert (y.sum(axis=(1, 2)) <= 4).all()  # the impulse is never smeared into a blur


def test_blur_and_erasing_statistics():
    x = _images(200, 8, 8, 1)
    blur = RandomGaussianBlur(factor=(0.4, 0.4))
    blurred = (_train(blur, x) != x).any(axis=(1, 2, 3))
    assert 0.3 < blurred.mean() < 0.5
    smooth = _train(RandomGaussianBlur(factor=(1.0, 1.0), sigma=(1.0, 1.0)), x)
    assert np.abs(np.diff(smooth, axis=1)).mean() < 0.7 * np.abs(np.diff(x, axis=1)).mean()
    ones = np.ones((200, 20, 20, 2), "float32")
    erase = RandomErasing(factor=(1.0, 1.0), scale=(0.04, 0.25), fill_value=0.0)
    holes = (_train(erase, ones) == 0).mean(axis=(1, 2, 3))
    # Sides of sqrt(u) * 20 pixels with u in [0.04, 0.25]: 4 to 10 pixels, +-1 for the grid.
    assert holes.min() >= (3 * 3) / 400 and holes.max() <= (11 * 11) / 400
    assert holes.std() > 0.01
    noisy = _train(RandomErasing(factor=(1.0, 1.0), value_range=(0, 1)), ones * 0.5)
    assert noisy.min() >= 0 and noisy.max() <= 1 and (noisy != 0.5).any()


def test_mixup_weights_and_labels():
    x = np.arange(64, dtype="float32").reshape(64, 1, 1, 1) * np.ones((1, 2, 2, 1), "float32")
    labels = np.eye(64, dtype="float32")
    out, _ = MixUp(alpha=0.2).apply({}, {}, {"images": x, "labels": labels}, training=True,
                                    key=KEY)
    t = _draw(MixUp(alpha=0.2), x)
    assert sorted(t["permutation_order"].tolist()) == list(range(64))
    w = t["mix_weight"]
    assert 0.35 < w.mean() < 0.65
    assert ((w < 0.2) | (w > 0.8)).mean() > 0.6  # Beta(0.2, 0.2) piles up at the ends
    np.testing.assert_allclose(np.asarray(out["labels"]).sum(axis=1), 1.0, rtol=1e-5)
    # Each image is its labels' weighted mix of the two source values.
    np.testing.assert_allclose(np.asarray(out["images"])[:, 0, 0, 0],
                               np.asarray(out["labels"]) @ np.arange(64), rtol=1e-4, atol=1e-3)
    inference, _ = MixUp().apply({}, {}, {"images": x, "labels": labels}, training=False)
    np.testing.assert_array_equal(inference["images"], x)
    np.testing.assert_array_equal(inference["labels"], labels)


def test_cutmix_labels_follow_pasted_area(keras):
    x = np.arange(32, dtype="float32").reshape(32, 1, 1, 1) * np.ones((1, 8, 8, 1), "float32")
    labels = np.eye(32, dtype="float32")
    out, _ = CutMix().apply({}, {}, {"images": x, "labels": labels}, training=True, key=KEY)
    images, mixed = np.asarray(out["images"]), np.asarray(out["labels"])
    t = _draw(CutMix(), x)
    perm = t["permutation_order"]
    for i in range(32):
        own = (images[i] == i).mean()
        assert set(np.unique(images[i])) <= {float(i), float(perm[i])}
        if perm[i] != i:
            # Keras weights the labels by the continuous box area, the pixels by the grid.
            assert abs(mixed[i, i] - own) < 0.35
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-5)
    with keras_ref():
        want = np.asarray(keras.layers.CutMix().transform_labels(labels, t))
    np.testing.assert_allclose(mixed, want, rtol=1e-5, atol=1e-6)
    single = x[0]
    np.testing.assert_array_equal(_train(CutMix(), single), single)  # Keras: rank 3 unchanged


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\[0, 1.0\].*x_factor=1.5"):
        RandomShear(x_factor=1.5)
    with pytest.raises(ValueError, match="y_factor=-0.5"):
        RandomShear(y_factor=-0.5)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="scale.*scale=2"):
        RandomPerspective(scale=2)
    with pytest.raises(NotImplementedError, match="interpolation"):
        RandomPerspective(interpolation="bicubic")
    with pytest.raises(ValueError, match="odd"):
        RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="fill_value"):
        RandomErasing(fill_value=(1, 2))
    with pytest.raises(ValueError, match="alpha"):
        MixUp(alpha=0)
    with pytest.raises(ValueError, match="'images' key"):
        MixUp().apply({}, {}, {"pixels": np.ones((2, 2, 2, 1))}, training=True, key=KEY)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_sequential_with_geometric_and_mixing_augmentation_fits_and_predicts():
    x = _images(16, 6, 6, 3, high=1.0)
    y = x.mean(axis=(1, 2, 3))[:, None]
    L = lamina.layers
    augs = [RandomShear(0.2), RandomPerspective(scale=0.3), RandomGaussianBlur(),
            RandomErasing(value_range=(0, 1)), MixUp(), CutMix()]
    model = lamina.models.Sequential([L.Input((6, 6, 3)), *augs, L.Flatten(), L.Dense(1)])
    model.compile(optimizer=lamina.optimizers.SGD(1e-3), loss="mse")
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(16, -1) @ kernel + bias,
                               rtol=1e-4, atol=1e-4)  # the augmentation is off at inference


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", LAYERS)
def test_each_layer_in_a_sequential_model_fits_and_predicts(name, kwargs):
    layer = getattr(lamina.layers, name)(**kwargs)
    x = _channels(_images(16, 6, 6, 3), layer.data_format)
    L = lamina.layers
    model = lamina.models.Sequential([L.Input(x.shape[1:]), layer, L.Flatten(), L.Dense(1)])
    model.compile(optimizer=lamina.optimizers.SGD(1e-7), loss="mse")
    hist = model.fit(x, x.mean(axis=(1, 2, 3))[:, None], epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(16, -1) @ kernel + bias,
                               rtol=1e-4, atol=1e-2)
