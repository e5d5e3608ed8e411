"""lamina.preprocessing.image against Keras 2's ImageDataGenerator.

The reference is tf-keras's code as Keras 3 keeps it (``keras.src.legacy.preprocessing.image``:
scipy per image, PIL for brightness); seeded iterators must give the same batches.
"""

import warnings

import numpy as np
import pytest

from lamina.preprocessing import image as limg
from lamina.preprocessing.image_transforms import affine_matrices, warp_batch
from tests.helpers import keras_ref

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def K():
    pytest.importorskip("keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from keras.src.legacy.preprocessing import image

    return image


def _images(rng, n=10, h=9, w=13, c=3):
    return rng.uniform(0, 255, (n, h, w, c)).astype("float32")


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1])
def test_affine_transform_matches_scipy_reference(K, rng, fill_mode, order):
    for axes in [dict(row_axis=0, col_axis=1, channel_axis=2),
                 dict(row_axis=1, col_axis=2, channel_axis=0),
                 dict(row_axis=2, col_axis=1, channel_axis=0)]:
        for _ in range(6):
            x = rng.uniform(0, 255, (3, 9, 11)).astype("float32")
            x = np.moveaxis(x, 0, axes["channel_axis"])
            p = dict(theta=rng.uniform(-60, 60), tx=rng.uniform(-4, 4), ty=rng.uniform(-4, 4),
                     shear=rng.uniform(-30, 30), zx=rng.uniform(0.6, 1.4),
                     zy=rng.uniform(0.6, 1.4))
            # Keras documents 'wrap' as abcd|abcd; scipy's name for that is 'grid-wrap'.
            ref_mode = "grid-wrap" if fill_mode == "wrap" else fill_mode
            with keras_ref():
                ref = K.apply_affine_transform(x, **p, **axes, fill_mode=ref_mode, cval=-7.0,
                                               order=order)
            got = limg.apply_affine_transform(x, **p, **axes, fill_mode=fill_mode, cval=-7.0,
                                              order=order)
            np.testing.assert_allclose(got, ref, atol=1e-3)


def test_integer_shift_moves_content_by_whole_pixels(rng):
    x = _images(rng, n=1)
    A, off = affine_matrices(np.zeros(1), np.array([3.0]), np.array([-2.0]), np.zeros(1),
                             np.ones(1), np.ones(1), 9, 13)
    out = warp_batch(x, A, off, fill_mode="wrap")
    # tx moves the columns, ty the rows (tf-keras's convention); 'wrap' makes it a roll.
    np.testing.assert_array_equal(out, np.roll(x, (2, -3), axis=(1, 2)))
    out = warp_batch(x, A, off, fill_mode="constant", cval=0.0)
    np.testing.assert_array_equal(out[0, 2:, :-3], x[0, :-2, 3:])
    assert (out[0, :2] == 0).all() and (out[0, :, -3:] == 0).all()


def test_rotation_by_90_is_rot90(rng):
    x = rng.uniform(0, 1, (1, 8, 8, 2)).astype("float32")
    out = limg.apply_affine_transform(x[0], theta=90, row_axis=0, col_axis=1, channel_axis=2,
                                      order=0)
    np.testing.assert_allclose(out, np.rot90(x[0], k=1, axes=(0, 1)), atol=1e-6)


def test_flips_are_exact(rng):
    x = _images(rng, n=1)[0]
    gen = limg.ImageDataGenerator()
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}), x[::-1])


AUGMENTATIONS = [
    dict(rotation_range=30, fill_mode="constant", cval=3.0),
    dict(width_shift_range=0.2, height_shift_range=0.1, fill_mode="reflect"),
    dict(width_shift_range=3, height_shift_range=[1, 2.5], fill_mode="wrap"),
    dict(width_shift_range=2.5, shear_range=20, zoom_range=0.3),
    dict(zoom_range=(0.8, 1.1), horizontal_flip=True, vertical_flip=True),
    dict(channel_shift_range=40.0, horizontal_flip=True, rescale=1 / 255),
    dict(brightness_range=(0.5, 1.5), rotation_range=10),
    dict(samplewise_center=True, samplewise_std_normalization=True, rotation_range=5,
         interpolation_order=0),
]


@pytest.mark.parametrize("kwargs", AUGMENTATIONS)
def test_flow_matches_keras2_batches(K, rng, kwargs):
    x, y = _images(rng, n=11), np.arange(11)
    ours = limg.ImageDataGenerator(**kwargs).flow(x, y, batch_size=4, seed=5)
    # Keras documents 'wrap' as abcd|abcd, which scipy (Keras 2's resampler) calls 'grid-wrap'.
    ref_kwargs = {**kwargs, "fill_mode": kwargs.get("fill_mode", "nearest").replace(
        "wrap", "grid-wrap")}
    with warnings.catch_warnings(), keras_ref():
        warnings.simplefilter("ignore")
        ref = K.ImageDataGenerator(**ref_kwargs).flow(x, y, batch_size=4, seed=5)
    assert len(ours) == len(ref) == 3
    for _epoch in range(2):
        for i in range(len(ours)):
            with keras_ref():
                rx, ry = ref[i]
            ox, oy = ours[i]
            np.testing.assert_array_equal(oy, ry)
            np.testing.assert_allclose(ox, rx, atol=2e-3 if "brightness_range" not in kwargs
                                       else 1.0)
            assert ox.dtype == np.float32
        ours.on_epoch_end()
        with keras_ref():
            ref.on_epoch_end()


def test_brightness_matches_pil_exactly_away_from_rounding(K, rng):
    x = rng.integers(0, 256, (6, 7, 3)).astype("float32")
    for f in (0.3, 0.77, 1.4):
        with keras_ref():
            ref = K.apply_brightness_shift(x, f, scale=False)
        np.testing.assert_array_equal(limg.apply_brightness_shift(x, f, scale=False), ref)
    x = rng.uniform(-3, 3, (6, 7, 1)).astype("float32")  # outside 0..255: stretched and back
    with keras_ref():
        ref = K.apply_brightness_shift(x, 0.8, scale=False)
    np.testing.assert_allclose(limg.apply_brightness_shift(x, 0.8, scale=False), ref, atol=1e-5)


def test_channels_first_flow_matches(K, rng):
    x = np.moveaxis(_images(rng, n=6), -1, 1)
    kw = dict(rotation_range=20, width_shift_range=0.1, horizontal_flip=True,
              data_format="channels_first")
    ours = limg.ImageDataGenerator(**kw).flow(x, batch_size=3, seed=1, shuffle=False)
    with keras_ref():
        ref = K.ImageDataGenerator(**kw).flow(x, batch_size=3, seed=1, shuffle=False)
        expected = ref[1]
    np.testing.assert_allclose(ours[1], expected, atol=2e-3)


def test_featurewise_and_zca_fit_match(K, rng):
    x = rng.uniform(0, 1, (20, 4, 5, 3)).astype("float32")
    for kw in (dict(featurewise_center=True, featurewise_std_normalization=True),
               dict(zca_whitening=True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours, ref = limg.ImageDataGenerator(**kw), K.ImageDataGenerator(**kw)
        ours.fit(x)
        with keras_ref():
            ref.fit(x)
        for attr in ("mean", "std", "zca_whitening_matrix"):
            a, b = getattr(ours, attr), getattr(ref, attr)
            assert (a is None) == (b is None), attr
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        with keras_ref():
            expected = ref.flow(x, batch_size=20, shuffle=False)[0]
        np.testing.assert_allclose(ours.flow(x, batch_size=20, shuffle=False)[0], expected,
                                   rtol=1e-4, atol=1e-4)


def test_fit_with_augment_matches(K, rng):
    x = rng.uniform(0, 1, (8, 6, 6, 1)).astype("float32")
    kw = dict(featurewise_center=True, rotation_range=40)
    ours, ref = limg.ImageDataGenerator(**kw), K.ImageDataGenerator(**kw)
    ours.fit(x, augment=True, rounds=2, seed=3)
    with keras_ref():
        ref.fit(x, augment=True, rounds=2, seed=3)
    np.testing.assert_allclose(ours.mean, ref.mean, atol=1e-5)


def test_preprocessing_function_runs_per_image_after_augmentation(rng):
    seen = []

    def fn(img):
        seen.append(img.shape)
        return img * 0 + 7

    gen = limg.ImageDataGenerator(preprocessing_function=fn, rescale=2.0)
    out = gen.flow(_images(rng, n=5), batch_size=5)[0]
    assert seen == [(9, 13, 3)] * 5
    np.testing.assert_array_equal(out, np.full_like(out, 14.0))


def test_validation_split_subsets_match(K, rng):
    x, y = _images(rng, n=10), np.tile([0, 1], 5)
    for subset in ("training", "validation"):
        ours = limg.ImageDataGenerator(validation_split=0.3).flow(
            x, y, batch_size=10, subset=subset, shuffle=False)
        ref = K.ImageDataGenerator(validation_split=0.3).flow(
            x, y, batch_size=10, subset=subset, shuffle=False)
        with keras_ref():
            expected = ref[0]
        np.testing.assert_array_equal(ours[0][1], expected[1])
        np.testing.assert_array_equal(ours[0][0], expected[0])
    with pytest.raises(ValueError, match="different classes"):
        limg.ImageDataGenerator(validation_split=0.5).flow(x, np.repeat([0, 1], 5),
                                                           subset="training")
    with pytest.raises(ValueError, match="validation_split"):
        limg.ImageDataGenerator().flow(x, y, subset="validation")


def test_seed_determinism_and_reshuffle(rng):
    x, y = _images(rng, n=12), np.arange(12)
    gen = limg.ImageDataGenerator(rotation_range=45, horizontal_flip=True)
    a, b = gen.flow(x, y, batch_size=5, seed=9), gen.flow(x, y, batch_size=5, seed=9)
    c = gen.flow(x, y, batch_size=5, seed=10)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[1][0], c[1][0])
    order1 = np.concatenate([a[i][1] for i in range(len(a))])
    a.on_epoch_end()
    order2 = np.concatenate([a[i][1] for i in range(len(a))])
    assert sorted(order1) == sorted(order2) == list(range(12))
    assert not np.array_equal(order1, order2)


def test_flow_is_an_endless_iterator_with_sample_weight(rng):
    x, y, w = _images(rng, n=5), np.arange(5), np.linspace(0, 1, 5)
    it = limg.ImageDataGenerator().flow(x, y, sample_weight=w, batch_size=2, shuffle=False)
    sizes = [len(next(it)[0]) for _ in range(4)]
    assert sizes == [2, 2, 1, 2]
    bx, by, bw = it[2]
    np.testing.assert_array_equal(by, [4])
    np.testing.assert_array_equal(bw, [1.0])
    with pytest.raises(IndexError, match="3 batches"):
        it[3]


def _png_tree(tmp_path, rng, pil):
    sizes = {"cats": 5, "dogs": 4, "zebra": 3}
    for cls, n in sizes.items():
        (tmp_path / cls).mkdir()
        for i in range(n):
            arr = rng.integers(0, 256, (10 + i, 12, 3)).astype("uint8")
            pil.fromarray(arr).save(tmp_path / cls / f"img_{i}.png")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    return sizes


def test_flow_from_directory_matches_keras2(K, rng, tmp_path, capsys):
    pil = pytest.importorskip("PIL.Image")
    _png_tree(tmp_path, rng, pil)
    kw = dict(rotation_range=15, horizontal_flip=True, rescale=1 / 255, validation_split=0.25)
    for mode in ("categorical", "binary", "sparse", "input", None):
        for subset in (None, "training", "validation"):
            ours = limg.ImageDataGenerator(**kw).flow_from_directory(
                str(tmp_path), target_size=(8, 8), class_mode=mode, batch_size=3, seed=4,
                subset=subset, classes=["cats", "dogs"] if mode == "binary" else None,
                interpolation="bilinear")
            with keras_ref():
                ref = K.ImageDataGenerator(**kw).flow_from_directory(
                    str(tmp_path), target_size=(8, 8), class_mode=mode, batch_size=3, seed=4,
                    subset=subset, classes=["cats", "dogs"] if mode == "binary" else None,
                    interpolation="bilinear")
            assert ours.class_indices == ref.class_indices
            assert ours.filenames == ref.filenames and ours.samples == ref.samples
            np.testing.assert_array_equal(ours.classes, ref.classes)
            assert len(ours) == len(ref)
            with keras_ref():
                expected = ref[len(ref) - 1]
            got = ours[len(ours) - 1]
            if mode is None:
                got, expected = (got,), (expected,)
            for g, e in zip(got, expected):
                np.testing.assert_allclose(g, e, atol=1e-5)
    out = capsys.readouterr().out
    assert "Found 12 images belonging to 3 classes." in out


def test_flow_from_directory_grayscale_and_errors(rng, tmp_path):
    pil = pytest.importorskip("PIL.Image")
    _png_tree(tmp_path, rng, pil)
    gen = limg.ImageDataGenerator()
    it = gen.flow_from_directory(str(tmp_path), target_size=(5, 6), color_mode="grayscale",
                                 batch_size=4, shuffle=False)
    bx, by = it[0]
    assert bx.shape == (4, 5, 6, 1) and by.shape == (4, 3)
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(str(tmp_path), class_mode="multi")
    with pytest.raises(ValueError, match="not a directory"):
        gen.flow_from_directory(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="color_mode"):
        gen.flow_from_directory(str(tmp_path), color_mode="cmyk")


def test_flow_from_dataframe_matches_keras2(K, rng, tmp_path):
    pd = pytest.importorskip("pandas")
    pil = pytest.importorskip("PIL.Image")
    _png_tree(tmp_path, rng, pil)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*.png"))
    df = pd.DataFrame({"filename": files + ["cats/missing.png"],
                       "label": [f.split("/")[0] for f in files] + ["cats"],
                       "score": np.arange(len(files) + 1, dtype=float)})
    for mode, y_col in (("categorical", "label"), ("sparse", "label"), ("raw", "score"),
                        ("input", "label")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = limg.ImageDataGenerator(vertical_flip=True).flow_from_dataframe(
                df, str(tmp_path), y_col=y_col, class_mode=mode, target_size=(6, 6),
                batch_size=4, seed=2)
            with keras_ref():
                ref = K.ImageDataGenerator(vertical_flip=True).flow_from_dataframe(
                    df, str(tmp_path), y_col=y_col, class_mode=mode, target_size=(6, 6),
                    batch_size=4, seed=2)
        assert ours.filenames == ref.filenames and ours.samples == len(files)
        with keras_ref():
            expected = ref[1]
        for g, e in zip(ours[1], expected):
            np.testing.assert_allclose(g, e, atol=1e-5)
    with pytest.raises(TypeError, match="string labels"):
        limg.ImageDataGenerator().flow_from_dataframe(df, str(tmp_path), y_col="score",
                                                      class_mode="sparse")


def test_image_io_matches_keras_utils(rng, tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("PIL")
    x = rng.uniform(-1, 3, (7, 9, 3)).astype("float32")
    np.testing.assert_array_equal(
        limg.img_to_array(limg.array_to_img(x)),
        keras.utils.img_to_array(keras.utils.array_to_img(x)))
    path = tmp_path / "a.png"
    limg.save_img(path, x)
    for kw in (dict(), dict(color_mode="grayscale"), dict(target_size=(4, 5)),
               dict(target_size=(4, 4), keep_aspect_ratio=True, interpolation="bicubic"),
               dict(color_mode="rgba")):
        ours = limg.img_to_array(limg.load_img(path, **kw))
        ref = keras.utils.img_to_array(keras.utils.load_img(path, **kw))
        np.testing.assert_array_equal(ours, ref)
    with pytest.warns(UserWarning, match="grayscale=True is deprecated"):
        assert limg.img_to_array(limg.load_img(path, grayscale=True)).shape == (7, 9, 1)
    assert limg.img_to_array(limg.load_img(path), data_format="channels_first").shape == (3, 7, 9)


def test_missing_pillow_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "lamina\[image\]"'):
        limg.load_img("x.png")


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="fill_mode"):
        limg.ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range"):
        limg.ImageDataGenerator(zoom_range=(0.5, 1, 2))
    with pytest.raises(ValueError, match="brightness_range"):
        limg.ImageDataGenerator(brightness_range=0.5)
    with pytest.raises(ValueError, match="validation_split"):
        limg.ImageDataGenerator(validation_split=1.5)
    with pytest.raises(ValueError, match="data_format"):
        limg.ImageDataGenerator(data_format="NHWC")
    with pytest.raises(ValueError, match="interpolation_order"):
        limg.ImageDataGenerator(interpolation_order=3)
    with pytest.raises(ValueError, match="rank 4"):
        limg.ImageDataGenerator().flow(np.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match="same length"):
        limg.ImageDataGenerator().flow(np.zeros((4, 5, 5, 1)), np.zeros(3))


def test_model_fit_accepts_flow(rng):
    from lamina.layers import Dense, Flatten
    from lamina.models import Sequential

    x = rng.uniform(0, 255, (24, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 127).astype("float32")
    gen = limg.ImageDataGenerator(rescale=1 / 255, horizontal_flip=True)
    model = Sequential([Flatten(input_shape=(6, 6, 1)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(gen.flow(x, y, batch_size=8, seed=0), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()


def test_fit_with_steps_per_epoch_equal_to_len_runs_every_epoch(rng):
    from lamina.layers import Dense, Flatten
    from lamina.models import Sequential

    x, y = rng.uniform(0, 1, (16, 4, 4, 1)).astype("float32"), np.zeros(16, "float32")
    gen = limg.ImageDataGenerator().flow(x, y, batch_size=8)
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(gen, steps_per_epoch=len(gen), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3


def test_single_image_methods_match_keras2(K, rng):
    x = _images(rng, n=1)[0]
    kw = dict(rotation_range=25, width_shift_range=[1, 2], zoom_range=0.2, shear_range=10,
              channel_shift_range=20.0, vertical_flip=True, samplewise_center=True,
              samplewise_std_normalization=True)
    ours, ref = limg.ImageDataGenerator(**kw), K.ImageDataGenerator(**kw)
    p_ours = ours.get_random_transform(x.shape, seed=11)
    with keras_ref():
        p_ref = ref.get_random_transform(x.shape, seed=11)
        expected = ref.random_transform(x.copy(), seed=11)
        standardized = ref.standardize(x.copy())
    assert p_ours.keys() == p_ref.keys()
    for k in p_ref:
        assert p_ours[k] == pytest.approx(p_ref[k]), k
    np.testing.assert_allclose(ours.random_transform(x.copy(), seed=11), expected, atol=2e-3)
    np.testing.assert_allclose(ours.standardize(x.copy()), standardized, rtol=1e-5, atol=1e-5)
    # standardize works in place on float arrays, as in Keras 2.
    y = x.copy()
    ours.standardize(y)
    np.testing.assert_allclose(y, standardized, rtol=1e-5, atol=1e-5)


def test_save_to_dir_writes_each_augmented_image(rng, tmp_path):
    pytest.importorskip("PIL")
    it = limg.ImageDataGenerator(rotation_range=10).flow(
        _images(rng, n=5), np.arange(5), batch_size=3, seed=0, save_to_dir=str(tmp_path),
        save_prefix="aug", save_format="png")
    it[0]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert len(saved) == 3 and all(n.startswith("aug_") and n.endswith(".png") for n in saved)
    assert limg.img_to_array(limg.load_img(tmp_path / saved[0])).shape == (9, 13, 3)


def test_keras1_dim_ordering_and_negative_index(rng):
    x = np.moveaxis(_images(rng, n=4), -1, 1)
    gen = limg.ImageDataGenerator(dim_ordering="th", rescale=0.5)
    assert gen.data_format == "channels_first"
    it = gen.flow(x, batch_size=3, shuffle=False)
    np.testing.assert_array_equal(it[-1], x[3:] * 0.5)
    assert limg.img_to_array(np.zeros((4, 5, 3)), dim_ordering="th").shape == (3, 4, 5)


def test_smart_resize_matches_keras(keras, rng):
    for shape, size, fmt in (((34, 50, 3), (20, 20), "channels_last"),
                             ((2, 40, 30, 1), (10, 25), "channels_last"),
                             ((3, 17, 23), (8, 8), "channels_first")):
        x = rng.uniform(0, 255, shape).astype("float32")
        for method in ("bilinear", "nearest"):
            with keras_ref():
                ref = keras.preprocessing.image.smart_resize(x, size, interpolation=method,
                                                             data_format=fmt)
            got = limg.smart_resize(x, size, interpolation=method, data_format=fmt)
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="size must be"):
        limg.smart_resize(np.zeros((4, 4, 1)), (2,))


def test_default_data_format_follows_backend_setting():
    backend = pytest.importorskip("lamina.backend")
    if not hasattr(backend, "set_image_data_format"):
        pytest.skip("lamina.backend.set_image_data_format not available")
    backend.set_image_data_format("channels_first")
    try:
        assert limg.ImageDataGenerator().data_format == "channels_first"
        assert limg.img_to_array(np.zeros((4, 5, 3))).shape == (3, 4, 5)
    finally:
        backend.set_image_data_format("channels_last")
    assert limg.ImageDataGenerator().data_format == "channels_last"


def test_next_matches_keras2_across_epochs(K, rng):
    x, y = _images(rng, n=7), np.arange(7)
    kw = dict(rotation_range=20, horizontal_flip=True)
    ours = limg.ImageDataGenerator(**kw).flow(x, y, batch_size=3, seed=2)
    with keras_ref():
        ref = K.ImageDataGenerator(**kw).flow(x, y, batch_size=3, seed=2)
    for _ in range(7):  # more than two passes: the order reshuffles at each wrap-around
        with keras_ref():
            rx, ry = next(ref)
        ox, oy = next(ours)
        np.testing.assert_array_equal(oy, ry)
        np.testing.assert_allclose(ox, rx, atol=2e-3)


def test_user_iterator_subclass_keras2_hook():
    class Squares(limg.Iterator):
        def __init__(self, n):
            super().__init__(n, batch_size=2, shuffle=False, seed=None)

        def _get_batches_of_transformed_samples(self, index_array):
            return np.asarray(index_array) ** 2

    it = Squares(5)
    assert len(it) == 3
    np.testing.assert_array_equal(it[1], [4, 9])
    np.testing.assert_array_equal(next(it), [0, 1])
    with pytest.raises(NotImplementedError, match="_get_batches_of_transformed_samples"):
        limg.Iterator(4, 2, False, None)[0]
