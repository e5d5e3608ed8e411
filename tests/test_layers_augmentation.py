"""Resizing and CenterCrop against real Keras 3 (random layers: test_layers_random_augmentation)."""

import numpy as np
import pytest

import lamina
from lamina.layers import CenterCrop, Resizing
from tests.helpers import keras_ref


def _images(*shape):
    return np.random.default_rng(0).random(shape).astype("float32")


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(height=4, width=6), (2, 8, 8, 3)),
        (dict(height=10, width=5, interpolation="nearest"), (2, 7, 9, 2)),
        (dict(height=5, width=5, interpolation="bicubic"), (8, 9, 3)),
        (dict(height=4, width=8, crop_to_aspect_ratio=True), (2, 8, 8, 3)),
        (dict(height=3, width=4, data_format="channels_first"), (2, 3, 8, 6)),
    ],
)
def test_resizing_matches_keras(keras, kwargs, shape):
    x = _images(*shape)
    with keras_ref():
        want = np.asarray(keras.layers.Resizing(**kwargs)(x))
    layer = Resizing(**kwargs)
    got = layer(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    if len(shape) == 4:
        assert layer.compute_output_shape((None, *shape[1:]))[1:] == want.shape[1:]


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(height=4, width=3), (2, 8, 7, 3)),
        (dict(height=5, width=5), (2, 5, 6, 1)),
        (dict(height=10, width=6), (2, 8, 8, 3)),  # smaller than the target: crop + resize
        (dict(height=2, width=3, data_format="channels_first"), (1, 3, 6, 6)),
    ],
)
def test_center_crop_matches_keras(keras, kwargs, shape):
    x = _images(*shape)
    with keras_ref():
        kl = keras.layers.CenterCrop(**kwargs)
        want = np.asarray(kl(x))
        kcfg = kl.get_config()
    layer = CenterCrop(**kwargs)
    np.testing.assert_allclose(layer(x), want, atol=1e-5)
    assert {k: layer.get_config()[k] for k in ("height", "width", "data_format")} == {
        k: kcfg[k] for k in ("height", "width", "data_format")
    }


def test_in_a_model_and_errors():
    inp = lamina.layers.Input((8, 8, 3))
    out = CenterCrop(4, 4)(Resizing(6, 6)(inp))
    assert tuple(out.shape) == (None, 4, 4, 3)
    model = lamina.models.Model(inp, out)
    assert model.predict(_images(2, 8, 8, 3), verbose=0).shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="interpolation"):
        Resizing(2, 2, interpolation="cubic")
    with pytest.raises(ValueError, match="pad_to_aspect_ratio"):
        Resizing(2, 2, pad_to_aspect_ratio=True, crop_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="rank 3"):
        Resizing(2, 2)(np.ones((2, 3), "float32"))


def test_direct_calls_augment_by_default_as_keras_3(keras):
    """Keras 3's image preprocessing layers default to ``training=True`` when called directly
    (``data_augmentation(images)``, a preview of augmented images); Dropout does not."""
    # 64 images: with 8, a seed another test set globally left all 8 unflipped (p = 1/256).
    imgs = np.random.default_rng(0).random((64, 16, 16, 3), dtype=np.float32)

    def changed(k):
        layers = [
            k.layers.RandomFlip("horizontal"),
            k.layers.RandomRotation(0.2),
            k.layers.RandomZoom(0.3),
            k.layers.RandomTranslation(0.2, 0.2),
            k.layers.RandomContrast(0.5),
            k.layers.RandomBrightness(0.3),
            k.layers.Dropout(0.5),
            k.layers.GaussianNoise(1.0),
        ]
        out = []
        for layer in layers:
            out.append(not np.allclose(np.asarray(layer(imgs)), imgs))
            out.append(not np.allclose(np.asarray(layer(imgs, training=False)), imgs))
        aug = k.Sequential([k.layers.RandomFlip("horizontal"), k.layers.RandomRotation(0.2)])
        out += [not np.allclose(np.asarray(aug(imgs)), imgs)]
        out += [not np.allclose(np.asarray(aug(imgs, training=False)), imgs)]
        return out

    with keras_ref():
        expected = changed(keras)
    assert changed(lamina) == expected
    assert expected[0] and not expected[1]
