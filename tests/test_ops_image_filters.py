"""``lamina.ops.image``'s filters and warps (``gaussian_blur``, ``sobel_edges``, ``ssim``,
``extract_patches_3d``, ``perspective_transform``, ``elastic_transform``,
``scale_and_translate``) against real Keras 3 on its JAX backend."""

import numpy as np
import pytest

import lamina
from lamina import ops
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
FORMATS = ["channels_last", "channels_first"]


def _images(shape, fmt, seed=0):
    x = np.random.default_rng(seed).random(shape).astype("float32")
    if fmt == "channels_first":
        x = np.moveaxis(x, -1, -3)
    return np.ascontiguousarray(x)


def _close(ours, theirs, atol=1e-5):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "kernel_size, sigma", [((3, 3), (1.0, 1.0)), ((5, 3), (2.0, 0.5)), ((4, 2), (1.5, 0.8))]
)
@pytest.mark.parametrize("batched", [True, False])
def test_gaussian_blur_matches_keras(keras, fmt, kernel_size, sigma, batched):
    x = _images((2, 7, 6, 3) if batched else (7, 6, 3), fmt)
    ours = ops.image.gaussian_blur(x, kernel_size, sigma, data_format=fmt)
    with keras_ref():
        theirs = keras.ops.image.gaussian_blur(x, kernel_size, sigma, data_format=fmt)
    _close(ours, theirs)


def test_gaussian_blur_default_data_format_is_image_data_format(keras):
    # Keras's documented meaning (and its symbolic path); its eager JAX path reads None as
    # channels-first.
    x = _images((2, 7, 6, 3), "channels_last")
    with keras_ref():
        theirs = keras.ops.image.gaussian_blur(x, data_format="channels_last")
    _close(ops.image.gaussian_blur(x), theirs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sobel_edges_matches_keras(keras, fmt):
    x = _images((2, 6, 5, 3), fmt)
    ours = ops.image.sobel_edges(x, data_format=fmt)
    with keras_ref():
        theirs = keras.ops.image.sobel_edges(x, data_format=fmt)
    assert ours.shape == x.shape + (2,)
    _close(ours, theirs)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"filter_size": 5, "filter_sigma": 1.0}, {"max_val": 2.0, "k1": 0.02, "k2": 0.05}],
)
@pytest.mark.parametrize("batched", [True, False])
def test_ssim_matches_keras(keras, fmt, kwargs, batched):
    shape = (2, 12, 13, 3) if batched else (12, 13, 3)
    a = _images(shape, fmt, seed=1)
    b = np.clip(a + 0.2 * _images(shape, fmt, seed=2) - 0.1, 0, 1).astype("float32")
    ours = ops.image.ssim(a, b, data_format=fmt, **kwargs)
    with keras_ref():
        theirs = keras.ops.image.ssim(a, b, data_format=fmt, **kwargs)
    assert ours.shape == ((2,) if batched else ())
    _close(ours, theirs)
    np.testing.assert_allclose(ops.image.ssim(a, a, data_format=fmt, **kwargs), 1.0, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "size, kwargs",
    [
        (2, {}),
        ((2, 3, 2), {"strides": 1}),
        ((2, 2, 3), {"strides": (1, 2, 1), "padding": "same"}),
        ((2, 2, 2), {"strides": 1, "dilation_rate": 2}),
    ],
)
@pytest.mark.parametrize("batched", [True, False])
def test_extract_patches_3d_matches_keras(keras, fmt, size, kwargs, batched):
    shape = (2, 5, 6, 4, 2) if batched else (5, 6, 4, 2)
    x = _images(shape, "channels_last")
    if fmt == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, -4))
    ours = ops.image.extract_patches_3d(x, size, data_format=fmt, **kwargs)
    with keras_ref():
        theirs = keras.ops.image.extract_patches_3d(x, size, data_format=fmt, **kwargs)
    _close(ours, theirs)
    if not isinstance(size, int):  # the 2-D op's entry point hands 3-D sizes over
        _close(ops.image.extract_patches(x, size, data_format=fmt, **kwargs), theirs)


START = np.array([[0, 0], [0, 8], [9, 0], [9, 8]], "float32")
END = np.array([[[1, 2], [0, 7], [8, -1], [10, 9]], [[0, 1], [2, 8], [7, 0], [9, 6]]], "float32")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("interpolation, fill_value", [("bilinear", 0), ("nearest", 0.5)])
@pytest.mark.parametrize("batched", [True, False])
def test_perspective_transform_matches_keras(keras, fmt, interpolation, fill_value, batched):
    x = _images((2, 9, 10, 3) if batched else (9, 10, 3), fmt)
    start = np.stack([START, START]) if batched else START
    end = END if batched else END[0]
    kwargs = {"interpolation": interpolation, "fill_value": fill_value, "data_format": fmt}
    ours = ops.image.perspective_transform(x, start, end, **kwargs)
    with keras_ref():
        theirs = keras.ops.image.perspective_transform(x, start, end, **kwargs)
    _close(ours, theirs, atol=1e-4)
    identity = ops.image.perspective_transform(x, start, start, **kwargs)
    np.testing.assert_allclose(identity, x, atol=1e-4)


def test_perspective_transform_one_set_of_points_for_a_batch(keras):
    x = _images((2, 9, 10, 3), "channels_last")
    ours = ops.image.perspective_transform(x, START, END[1])
    with keras_ref():  # Keras maps (4, 2) points over a batch of one only: image by image
        theirs = [keras.ops.image.perspective_transform(x[i], START, END[1]) for i in range(2)]
    _close(ours, np.stack(theirs), atol=1e-4)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": 3},
        {"alpha": 5.0, "sigma": 1.0, "interpolation": "nearest", "fill_mode": "wrap", "seed": 7},
        {"alpha": 30.0, "sigma": 2.0, "fill_mode": "constant", "fill_value": 0.5, "seed": 11},
        {"alpha": 10.0, "sigma": 1.5, "fill_mode": "mirror", "seed": 5},
    ],
)
@pytest.mark.parametrize("batched", [True, False])
def test_elastic_transform_matches_keras_for_an_int_seed(keras, fmt, kwargs, batched):
    # Keras's JAX backend turns an int seed into the raw key [seed, 0]: deterministic.
    x = _images((2, 9, 8, 3) if batched else (9, 8, 3), fmt)
    ours = ops.image.elastic_transform(x, data_format=fmt, **kwargs)
    with keras_ref():
        theirs = keras.ops.image.elastic_transform(x, data_format=fmt, **kwargs)
        again = keras.ops.image.elastic_transform(x, data_format=fmt, **kwargs)
    np.testing.assert_array_equal(theirs, again)
    _close(ours, theirs, atol=1e-4)
    assert not np.allclose(ours, x)


def test_elastic_transform_identity_and_seed_generator():
    x = _images((2, 8, 8, 3), "channels_last")
    np.testing.assert_allclose(ops.image.elastic_transform(x, alpha=0.0, seed=1), x, atol=1e-6)
    gen = lamina.random.SeedGenerator(4)
    first = ops.image.elastic_transform(x, seed=gen)
    second = ops.image.elastic_transform(x, seed=gen)
    assert not np.allclose(first, second)  # the generator advances
    ints = (x * 255).astype("uint8")
    out = ops.image.elastic_transform(ints, alpha=0.0, seed=1)
    assert out.dtype == np.uint8 and np.array_equal(out, ints)


@pytest.mark.parametrize(
    "method", ["linear", "bilinear", "cubic", "lanczos3", "lanczos5", "trilinear"]
)
@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("out_hw, scale", [((9, 7), (1.8, 1.4)), ((3, 2), (0.6, 0.4))])
def test_scale_and_translate_matches_keras(keras, method, antialias, out_hw, scale):
    x = _images((2, 5, 5, 3), "channels_last")
    scale = np.array(scale, "float32")
    translation = np.array([0.3, -0.5], "float32")
    args = (x, (2, *out_hw, 3), scale, translation, (1, 2), method, antialias)
    ours = ops.image.scale_and_translate(*args)
    with keras_ref():
        theirs = keras.ops.image.scale_and_translate(*args)
    _close(ours, theirs)


def test_errors_match_keras():
    img = np.zeros((4, 4, 3), "float32")
    bad = np.zeros((4, 4), "float32")
    with pytest.raises(ValueError, match=r"Invalid images rank: expected rank 3 .*images.shape"):
        ops.image.gaussian_blur(bad)
    with pytest.raises(ValueError, match=r"expected rank 4 \(batch of images\)"):
        ops.image.sobel_edges(img)
    with pytest.raises(ValueError, match="Invalid image2 rank"):
        ops.image.ssim(img, bad)
    with pytest.raises(ValueError, match="must have the same shape"):
        ops.image.ssim(img, np.zeros((4, 5, 3), "float32"))
    with pytest.raises(TypeError, match="Expected an int or a tuple of length 3"):
        ops.image.extract_patches_3d(np.zeros((4, 4, 4, 1)), (2, 2))
    with pytest.raises(ValueError, match=r"Invalid `strides` argument. Got: \(1, 1\)"):
        ops.image.extract_patches_3d(np.zeros((4, 4, 4, 1)), 2, strides=(1, 1))
    with pytest.raises(ValueError, match="Invalid volumes rank"):
        ops.image.extract_patches_3d(img, 2)
    with pytest.raises(ValueError, match="Invalid value for argument `interpolation`"):
        ops.image.perspective_transform(img, START, START, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"Invalid start_points shape: expected \(4,2\)"):
        ops.image.perspective_transform(img, START[:3], START)
    with pytest.raises(ValueError, match="Invalid end_points shape"):
        ops.image.perspective_transform(img, START, START[:, :1])
    with pytest.raises(ValueError, match="start_points and end_points must have the same"):
        ops.image.perspective_transform(img, START, END)
    with pytest.raises(ValueError, match="Invalid value for argument `interpolation`"):
        ops.image.elastic_transform(img, interpolation="cubic", seed=1)
    with pytest.raises(ValueError, match="Invalid value for argument `fill_mode`"):
        ops.image.elastic_transform(img, fill_mode="edge", seed=1)
    with pytest.raises(ValueError, match=r"Invalid value for argument `method`.*method=area"):
        ops.image.scale_and_translate(img, (4, 4, 3), [1.0, 1.0], [0.0, 0.0], (0, 1), "area")
    with pytest.raises(ValueError, match="data_format"):
        ops.image.gaussian_blur(img, data_format="NHWC")


def test_keras_raises_the_same_errors(keras):
    img = np.zeros((4, 4, 3), "float32")
    with keras_ref():
        with pytest.raises(ValueError, match=r"Invalid images rank: expected rank 3"):
            keras.ops.image.gaussian_blur(np.zeros((4, 4), "float32"))
        with pytest.raises(ValueError, match=r"Invalid start_points shape: expected \(4,2\)"):
            keras.ops.image.perspective_transform(img, START[:3], START)
        with pytest.raises(ValueError, match=r"Invalid value for argument `method`"):
            keras.ops.image.scale_and_translate(img, (4, 4, 3), [1.0, 1.0], [0.0, 0.0], (0, 1),
                                                "area")  # fmt: skip
        with pytest.raises(ValueError, match=r"Invalid `strides` argument. Got: \(1, 1\)"):
            keras.ops.image.extract_patches_3d(np.zeros((4, 4, 4, 1)), 2, strides=(1, 1))


def test_functional_model_shapes_and_values_match_keras(keras):
    x = _images((2, 9, 10, 3), "channels_last")
    vol = _images((2, 4, 4, 4, 2), "channels_last", seed=3)

    def build(k):
        img = k.Input((9, 10, 3))
        volumes = k.Input((4, 4, 4, 2))
        blurred = k.ops.image.gaussian_blur(img, (5, 3), (1.0, 2.0), data_format="channels_last")
        outputs = [
            blurred,
            k.ops.image.sobel_edges(img),
            k.ops.image.ssim(img, blurred, filter_size=5),
            k.ops.image.extract_patches_3d(volumes, 2),
            k.ops.image.perspective_transform(img, START, END[0]),
            k.ops.image.elastic_transform(img, alpha=3.0, sigma=1.0, seed=2),
        ]
        return k.Model([img, volumes], outputs)

    model = build(lamina)
    with keras_ref():
        kmodel = build(keras)
        # Keras's JAX perspective_transform maps one set of points over a batch of one only,
        # and its elastic_transform cannot run jitted (int() of a traced sigma): eager.
        runnable = keras.Model(kmodel.inputs, kmodel.outputs[:-1])
        theirs = runnable.predict([x, vol], batch_size=1, verbose=0)
        theirs.append(keras.ops.image.elastic_transform(x, alpha=3.0, sigma=1.0, seed=2))
    assert [tuple(o.shape) for o in model.outputs] == [tuple(o.shape) for o in kmodel.outputs]
    assert [tuple(o.shape) for o in model.outputs][1:4] == [
        (None, 9, 10, 3, 2), (None,), (None, 2, 2, 2, 16),
    ]  # fmt: skip
    ours = model.predict([x, vol], verbose=0)
    for a, b in zip(ours, theirs, strict=True):
        _close(a, b, atol=1e-4)


def test_model_with_these_ops_saves_for_keras(keras, tmp_path):
    img = lamina.Input((9, 10, 3))
    blurred = ops.image.gaussian_blur(img, (5, 3), (1.0, 2.0))
    outputs = [
        blurred,
        ops.image.ssim(img, blurred, filter_size=5),
        ops.image.sobel_edges(img),
        ops.image.perspective_transform(img, START, END[0], interpolation="nearest"),
    ]
    model = lamina.Model(img, outputs)
    model.save(tmp_path / "m.keras")
    x = _images((1, 9, 10, 3), "channels_last")
    with keras_ref():
        theirs = keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0)
    for a, b in zip(model.predict(x, verbose=0), theirs, strict=True):
        _close(a, b, atol=1e-4)
