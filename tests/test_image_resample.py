"""TensorFlow's extra resize methods ("area", "gaussian", "mitchellcubic") that tf.keras 2 code
asks of ``Resizing``, ``K.resize_images`` and ``ops.image.resize``; and Keras 3's
``Resizing(pad_to_aspect_ratio=, antialias=)``.

References: JAX's own ``scale_and_translate`` (the same ScaleAndTranslate algorithm as
TensorFlow's) for the weight construction, with a kernel both offer; the closed forms of the
Mitchell-Netravali and Gaussian kernels; hand-computed area weights; real Keras for the layer.
"""

import jax
import numpy as np
import pytest

from lamina import backend as K
from lamina import layers, ops
from lamina.ops import image_resample


def _keys_cubic(d):  # JAX's "cubic" kernel (Keys, a = -0.5), radius 2
    return np.where(
        d < 1, ((1.5 * d - 2.5) * d) * d + 1.0, np.where(d < 2, ((-0.5 * d + 2.5) * d - 4.0) * d + 2.0, 0.0)
    )


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size_in,size_out", [(5, 11), (11, 5), (7, 7), (3, 8), (16, 3)])
def test_kernel_weights_match_jax_scale_and_translate(size_in, size_out, antialias):
    w = image_resample._kernel_weights(size_in, size_out, _keys_cubic, 2.0, antialias)
    x = np.random.default_rng(0).standard_normal(size_in).astype("float32")
    ref = jax.image.scale_and_translate(
        x, (size_out,), (0,), np.array([size_out / size_in], "float32"), np.zeros(1, "float32"),
        method="cubic", antialias=antialias,
    )  # fmt: skip
    np.testing.assert_allclose(w @ x, ref, rtol=1e-5, atol=1e-5)


def test_kernels_closed_forms():
    mitchell, _ = image_resample._KERNELS["mitchellcubic"]
    np.testing.assert_allclose(mitchell(np.array([0.0, 1.0, 2.0, 0.5])),
                               [8 / 9, 1 / 18, 0.0, 0.5 ** 3 * 7 / 6 - 2 * 0.25 + 8 / 9])  # fmt: skip
    gauss, radius = image_resample._KERNELS["gaussian"]
    assert radius == 1.5
    np.testing.assert_allclose(gauss(np.array([0.0, 0.5, 1.5])), [1.0, np.exp(-0.5), 0.0])


def test_identity_size_keeps_the_image_for_the_interpolating_kernel():
    # Mitchell (B = C = 1/3) is not interpolating, Gaussian neither: both blur at scale 1,
    # with rows of weights summing to 1; area is the identity.
    for method in ("gaussian", "mitchellcubic", "area"):
        w = image_resample.axis_weights(6, 6, method)
        np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(image_resample.axis_weights(6, 6, "area"), np.eye(6))
    w = image_resample.axis_weights(6, 6, "mitchellcubic")
    np.testing.assert_allclose(w[2, 1:4], np.array([1 / 18, 8 / 9, 1 / 18]) / 1.0, rtol=1e-6)


def test_area_weights_by_hand():
    np.testing.assert_allclose(image_resample.axis_weights(3, 2, "area"),
                               [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)  # fmt: skip
    x = np.arange(2 * 8 * 6 * 3, dtype="float32").reshape(2, 8, 6, 3)
    pooled = x.reshape(2, 4, 2, 3, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(ops.image.resize(x, (4, 3), interpolation="area"), pooled,
                               rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize("method", ["gaussian", "mitchellcubic"])
def test_ops_resize_is_separable_products(method):
    x = np.random.default_rng(1).random((2, 5, 7, 3)).astype("float32")
    wh = image_resample.axis_weights(5, 9, method)
    ww = image_resample.axis_weights(7, 4, method)
    ref = np.einsum("ph,bhwc,qw->bpqc", wh, x, ww)
    out = ops.image.resize(x, (9, 4), interpolation=method)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    cf = ops.image.resize(x.transpose(0, 3, 1, 2), (9, 4), interpolation=method,
                          data_format="channels_first")  # fmt: skip
    np.testing.assert_allclose(cf, ref.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


def test_k_resize_images_takes_tensorflows_methods():
    x = np.random.default_rng(2).random((1, 3, 4, 2)).astype("float32")
    out = K.resize_images(x, 2, 3, "channels_last", interpolation="mitchellcubic")
    ref = ops.image.resize(x, (6, 12), interpolation="mitchellcubic")
    np.testing.assert_allclose(out, ref)
    assert K.resize_images(x, 2, 2, "channels_last", "gaussian").shape == (1, 6, 8, 2)


def test_resizing_layer_keras2_methods_and_config_round_trip():
    x = np.random.default_rng(3).random((2, 8, 8, 3)).astype("float32")
    layer = layers.Resizing(5, 4, interpolation="area")
    np.testing.assert_allclose(layer(x), ops.image.resize(x, (5, 4), interpolation="area"))
    again = layers.Resizing.from_config(layer.get_config())
    assert again.interpolation == "area"
    with pytest.raises(ValueError, match="interpolation"):
        layers.Resizing(4, 4, interpolation="cubic-ish")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pad_to_aspect_ratio": True, "fill_value": 0.5},
        {"antialias": True},
        {"antialias": True, "interpolation": "bicubic"},
        {"crop_to_aspect_ratio": True},
    ],
)
def test_resizing_pad_and_antialias_match_keras(keras, kwargs):
    x = np.random.default_rng(4).random((2, 12, 6, 3)).astype("float32")
    ref = keras.layers.Resizing(5, 7, **kwargs)(x)
    out = layers.Resizing(5, 7, **kwargs)(x)
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-6)
    config = layers.Resizing(5, 7, **kwargs).get_config()
    for key, value in kwargs.items():
        assert config[key] == value


def test_resizing_refuses_both_aspect_options_and_other_fill_modes():
    with pytest.raises(ValueError, match="Only one of `pad_to_aspect_ratio`"):
        layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="fill_mode='constant'"):
        layers.Resizing(4, 4, fill_mode="reflect")
