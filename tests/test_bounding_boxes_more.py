"""Keras 3's data dict (``{"images", "bounding_boxes", "labels", "segmentation_masks"}``) in
the image augmentation layers beyond the geometric ones of ``test_bounding_boxes.py``: colour
layers pass boxes and masks through, RandomShear/RandomPerspective move them, MixUp/CutMix mix
them, RandAugment/AugMix follow their candidates; compared with real Keras."""

import copy

import jax
import numpy as np
import pytest

import lamina
from lamina.utils import bounding_boxes as bb
from tests.helpers import keras_ref

H, W = 16, 24
KEY = jax.random.PRNGKey(3)


def _data(batch, n=4, seed=0, fmt="xyxy", channels=3):
    rng = np.random.default_rng(seed)
    lead = (batch,) if batch else ()
    a = rng.uniform(0, 1, (*lead, n, 2)) * [W, H]
    b = rng.uniform(0, 1, (*lead, n, 2)) * [W, H]
    boxes = np.concatenate([np.minimum(a, b), np.maximum(a, b)], -1).astype("float32")
    return {
        "images": rng.uniform(0, 255, (*lead, H, W, channels)).astype("float32"),
        "bounding_boxes": {"boxes": np.array(bb.convert_format(boxes, "xyxy", fmt, H, W)),
                           "labels": rng.integers(0, 4, (*lead, n))},
        "segmentation_masks": rng.integers(0, 3, (*lead, H, W, 1)).astype("float32"),
    }  # fmt: skip


def _bbs(data):
    b = data["bounding_boxes"]
    return {"boxes": np.asarray(b["boxes"], "float32"), "labels": np.asarray(b["labels"])}


# ------------------------------------------------------------------ boxes pass through
UNCHANGED = [
    ("RandomBrightness", (0.3,), {}), ("RandomContrast", (0.3,), {}),
    ("RandomGrayscale", (1.0,), {}), ("RandomHue", (0.3, (0, 255)), {}),
    ("RandomSaturation", (0.3, (0, 255)), {}), ("RandomColorDegeneration", (0.3,), {}),
    ("RandomColorJitter", (), {"brightness_factor": 0.2, "hue_factor": 0.2}),
    ("RandomSharpness", (0.3,), {}), ("RandomPosterization", (4,), {}),
    ("RandomInvert", (1.0,), {}), ("Solarization", (0.3, 0.3), {}), ("AutoContrast", (), {}),
    ("Equalization", (), {}), ("RandomGaussianBlur", (1.0,), {}), ("RandomErasing", (), {}),
]  # fmt: skip


KERAS_DICT_BUG = {"RandomGrayscale"}


@pytest.mark.parametrize("name, args, kwargs", UNCHANGED, ids=[u[0] for u in UNCHANGED])
def test_colour_layers_pass_boxes_masks_and_labels_through_as_keras(keras, name, args, kwargs):
    data = _data(2, fmt="center_xywh")
    data["labels"] = np.array([1, 0])
    with keras_ref():
        kl = getattr(keras.layers, name)(*args, bounding_box_format="center_xywh", **kwargs)
        if name in KERAS_DICT_BUG:  # Keras 3.15 reads data.shape: its dict call crashes
            with pytest.raises(AttributeError):
                kl(copy.deepcopy(data), training=True)
            want = copy.deepcopy(data)  # what its transform_* methods return
        else:
            want = kl(copy.deepcopy(data), training=True)
    layer = getattr(lamina.layers, name)(*args, bounding_box_format="center_xywh", **kwargs)
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)  # one draw, as a plain call
    for got, ref in ((out["bounding_boxes"]["boxes"], want["bounding_boxes"]["boxes"]),
                     (out["bounding_boxes"]["labels"], want["bounding_boxes"]["labels"]),
                     (out["segmentation_masks"], want["segmentation_masks"]),
                     (out["labels"], want["labels"])):  # fmt: skip
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), atol=1e-5)
    assert layer.get_config()["bounding_box_format"] == "center_xywh"
    again = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert again.bounding_box_format == "center_xywh"


def test_box_format_is_required_and_checked():
    data = _data(2)
    with pytest.raises(ValueError, match="didn't specify a bounding box format"):
        lamina.layers.RandomHue(0.2, (0, 255))(data)
    with pytest.raises(ValueError, match="`bounding_box_format` must be one of"):
        lamina.layers.RandomShear(0.2, bounding_box_format="xyz")
    assert "bounding_box_format" not in lamina.layers.RandomShear(0.2).get_config()
    out = lamina.layers.Equalization()({"images": data["images"][0]})  # unbatched dict
    assert out["images"].shape == (H, W, 3)


# ---------------------------------------------------------------- RandomShear / Perspective
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xywh"])
def test_shear_boxes_and_masks_match_keras_transform(keras, fmt):
    from lamina.layers.box_plans_aug import nearest, shear_boxes

    data = _data(3, 5, seed=1, fmt=fmt)
    shear = np.array([[0.3, -0.2], [-0.4, 0.25], [0.1, 0.0]], "float32")
    t = {"shear_factor": shear, "input_shape": (3, H, W, 3)}
    with keras_ref():
        kl = keras.layers.RandomShear(0.4, 0.4, bounding_box_format=fmt, fill_mode="constant")
        want = kl.transform_bounding_boxes(_bbs(data), t)
        want_masks = np.asarray(kl.transform_segmentation_masks(data["segmentation_masks"], t))
    layer = lamina.layers.RandomShear(0.4, 0.4, bounding_box_format=fmt, fill_mode="constant")
    got = shear_boxes(fmt, _bbs(data), shear, H, W)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-4)
    np.testing.assert_array_equal(got["labels"], want["labels"])
    masks = nearest(layer).transform_images(data["segmentation_masks"], t)
    np.testing.assert_allclose(masks, want_masks, atol=1e-5)


@pytest.mark.parametrize("batch", [0, 3], ids=["unbatched", "batched"])
def test_shear_call_draws_once_for_images_boxes_and_masks(batch):
    from lamina.layers.box_plans_aug import shear_boxes

    data = _data(batch, seed=2, channels=1)
    data["segmentation_masks"] = data["images"].round()
    layer = lamina.layers.RandomShear(0.3, 0.3, interpolation="nearest", fill_mode="constant",
                                      bounding_box_format="xyxy")  # fmt: skip
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)
    np.testing.assert_allclose(out["segmentation_masks"], np.round(plain), atol=1e-4)
    images = data["images"] if batch else data["images"][None]
    t = layer.get_random_transformation(KEY, images)
    bbs = _bbs(data) if batch else {k: v[None] for k, v in _bbs(data).items()}
    want = shear_boxes("xyxy", bbs, t["shear_factor"], H, W)["boxes"]
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want if batch else want[0])
    idle, _ = layer.apply({}, {}, copy.deepcopy(data), training=False)
    np.testing.assert_array_equal(idle["bounding_boxes"]["boxes"], _bbs(data)["boxes"])


def _perspective(n):
    rng = np.random.default_rng(4)
    start = np.broadcast_to(np.array([[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]],
                                     "float32"), (n, 4, 2))  # fmt: skip
    end = (start + start * rng.uniform(-0.25, 0.25, (n, 4, 2))).astype("float32")
    return {"apply_perspective": np.array([True, False, True][:n]), "start_points": start,
            "end_points": end, "input_shape": (n, H, W, 3)}  # fmt: skip


@pytest.mark.slow  # Keras warps the masks eagerly
def test_perspective_boxes_and_masks_match_keras_transform(keras):
    from lamina.layers.box_plans_aug import nearest, perspective_boxes

    data, t = _data(3, 5, seed=5), _perspective(3)
    with keras_ref():
        kl = keras.layers.RandomPerspective(bounding_box_format="xyxy")
        want = kl.transform_bounding_boxes(_bbs(data), t)
        want_masks = np.asarray(kl.transform_segmentation_masks(data["segmentation_masks"], t))
    layer = lamina.layers.RandomPerspective(bounding_box_format="xyxy")
    got = perspective_boxes("xyxy", _bbs(data), t, H, W)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-3)
    np.testing.assert_array_equal(got["labels"], want["labels"])
    masks = nearest(layer).transform_images(data["segmentation_masks"], t)
    np.testing.assert_allclose(masks, want_masks, atol=1e-5)
    # Other formats: read and returned in the layer's format (Keras 3.15 returns "xyxy").
    rel = bb.convert_format(_bbs(data), "xyxy", "rel_yxyx", H, W)
    back = bb.convert_format(perspective_boxes("rel_yxyx", rel, t, H, W), "rel_yxyx", "xyxy",
                             H, W)  # fmt: skip
    np.testing.assert_allclose(back["boxes"], want["boxes"], atol=1e-3)


def test_perspective_call_moves_boxes_inside_the_image():
    data = _data(3, seed=6)
    layer = lamina.layers.RandomPerspective((1.0, 1.0), bounding_box_format="xyxy")  # always
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)
    boxes = np.asarray(out["bounding_boxes"]["boxes"])
    assert boxes.min() >= 0 and (boxes[..., 2] <= W).all() and (boxes[..., 3] <= H).all()
    assert not np.allclose(boxes, data["bounding_boxes"]["boxes"])


# --------------------------------------------------------- refusals: elastic and CutMix
@pytest.mark.slow  # both libraries run the layer eagerly
@pytest.mark.parametrize("name", ["RandomElasticTransform", "CutMix"])
def test_boxes_refused_where_keras_refuses(keras, name):
    data = _data(2)
    with keras_ref():
        kl = getattr(keras.layers, name)(bounding_box_format="xyxy")
        with pytest.raises(NotImplementedError):
            kl(copy.deepcopy(data), training=True)
    layer = getattr(lamina.layers, name)(bounding_box_format="xyxy")
    for training in (True, False):
        with pytest.raises(NotImplementedError, match="does not transform bounding boxes"):
            layer.apply({}, {}, copy.deepcopy(data), training=training, key=KEY)
    data.pop("bounding_boxes")
    out, _ = layer.apply({}, {}, data, training=True, key=KEY)
    assert out["segmentation_masks"].shape == (2, H, W, 1)


def test_elastic_warps_masks_as_its_images():
    data = _data(2, seed=7, channels=1)
    data.pop("bounding_boxes")
    data["images"] = data["segmentation_masks"] * 50.0
    layer = lamina.layers.RandomElasticTransform(factor=(1.0, 1.0), scale=(1.0, 1.0),
                                                 interpolation="nearest")
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)
    assert not np.array_equal(out["images"], data["images"])
    np.testing.assert_allclose(out["segmentation_masks"] * 50.0, out["images"], atol=1e-3)


def test_cutmix_pastes_the_same_patch_into_masks_and_mixes_labels(keras):
    data = _data(4, seed=8)
    data.pop("bounding_boxes")
    data["labels"] = np.eye(4, dtype="float32")
    data["images"] = np.repeat(data["segmentation_masks"], 3, axis=-1)
    layer = lamina.layers.CutMix()
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    np.testing.assert_array_equal(out["segmentation_masks"], out["images"][..., :1])
    t = layer.get_random_transformation(KEY, data["images"])
    with keras_ref():
        want = keras.layers.CutMix().transform_labels(data["labels"], t)
    np.testing.assert_allclose(out["labels"], want, atol=1e-6)


# -------------------------------------------------------------------------------- MixUp
def test_mixup_boxes_labels_and_masks_follow_keras(keras):
    data = _data(3, 4, seed=9)
    data["labels"] = np.eye(3, dtype="float32")
    layer = lamina.layers.MixUp(bounding_box_format="xyxy")
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)
    t = layer.get_random_transformation(KEY, data["images"])
    with keras_ref():
        kl = keras.layers.MixUp(bounding_box_format="xyxy")
        want = kl.transform_bounding_boxes(_bbs(data), t)
        want_labels = kl.transform_labels(data["labels"], t)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want["boxes"])
    np.testing.assert_allclose(out["labels"], want_labels, atol=1e-6)
    # Each image gains its partner's labels along the boxes' axis (Keras: the batch axis).
    labels = _bbs(data)["labels"]
    perm = np.asarray(t["permutation_order"])
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"],
                                  np.concatenate([labels, labels[perm]], 1))  # fmt: skip
    w = np.asarray(t["mix_weight"]).reshape(-1, 1, 1, 1)
    m = data["segmentation_masks"]
    np.testing.assert_allclose(out["segmentation_masks"], w * m + (1 - w) * m[perm], atol=1e-5)
    idle, _ = layer.apply({}, {}, copy.deepcopy(data), training=False)
    np.testing.assert_array_equal(idle["bounding_boxes"]["boxes"], _bbs(data)["boxes"])


# --------------------------------------------------------------------- RandAugment / AugMix
@pytest.mark.slow  # RandAugment runs its candidates eagerly
def test_rand_augment_moves_boxes_and_masks_with_picked_geometry():
    from lamina.layers.box_plans_policy import _candidate

    data = _data(2, seed=10)
    layer = lamina.layers.RandAugment(num_ops=2, factor=0.4, bounding_box_format="xyxy")
    for seed in range(40):  # a key whose picks include a geometric candidate
        key = jax.random.PRNGKey(seed)
        picks, keys = layer.draw(key)
        if {0, 1, 2} & set(np.asarray(picks).tolist()):
            break
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=key)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=key)
    np.testing.assert_array_equal(out["images"], plain)
    bbs, masks = _bbs(data), data["segmentation_masks"]
    for idx in range(3):  # Keras: each picked candidate once, in the candidates' order
        if idx in np.asarray(picks):
            bbs = _candidate(layer._candidates[idx], keys[idx], masks)[1](bbs)
    for idx in np.asarray(picks):  # masks: the picks in order
        if idx < 3:
            masks = _candidate(layer._candidates[idx], keys[idx], masks)[0](masks)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], bbs["boxes"], atol=1e-5)
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"], bbs["labels"])
    np.testing.assert_allclose(out["segmentation_masks"], masks, atol=1e-5)
    assert layer._candidates[0].bounding_box_format == "xyxy"


@pytest.mark.slow  # RandAugment runs its candidates eagerly
def test_rand_augment_boxes_match_keras_transform(keras):
    import jax.numpy as jnp

    data = _data(2, 5, seed=13)
    layer = lamina.layers.RandAugment(factor=0.4, bounding_box_format="xyxy")
    _, keys = layer.draw(KEY)
    picks = np.array([2, 0])  # rotation then shear: Keras moves boxes by shear, then rotation
    layer.draw = lambda key: (jnp.asarray(picks), keys)
    shear, move, turn = layer._candidates[:3]
    shape = (2, H, W, 3)
    tm = np.asarray(move.transformation(keys[1], 2, H, W))
    rm = np.asarray(turn.transformation(keys[2], 2, H, W))
    transforms = dict.fromkeys(
        ["random_shear", "random_translation", "random_rotation", "random_brightness",
         "random_color_degeneration", "random_contrast", "random_sharpness",
         "random_posterization", "solarization", "auto_contrast", "equalization"])
    transforms.update(
        random_shear={"input_shape": shape, "shear_factor": np.asarray(
            shear.get_random_transformation(keys[0], data["images"])["shear_factor"])},
        random_translation={"translations": -tm[:, [2, 5]], "input_shape": shape},
        random_rotation={"angle": np.degrees(np.arctan2(rm[:, 3], rm[:, 0])),
                         "image_height": H, "image_width": W, "batch_size": 2})  # fmt: skip
    with keras_ref():
        kl = keras.layers.RandAugment(factor=0.4, bounding_box_format="xyxy")
        want = kl.transform_bounding_boxes(_bbs(data), {"layer_idxes": picks,
                                                        "transforms": transforms})  # fmt: skip
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want["boxes"], atol=1e-3)
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"], want["labels"])
    assert not np.allclose(want["boxes"], data["bounding_boxes"]["boxes"], atol=0.5)


@pytest.mark.slow  # AugMix runs many candidates eagerly
def test_aug_mix_passes_boxes_and_mixes_masks(keras):
    data = _data(2, seed=11)
    with keras_ref():  # its call is slow eagerly; the box transform is what the call uses
        want = keras.layers.AugMix(bounding_box_format="xyxy").transform_bounding_boxes(
            _bbs(data), None)
    layer = lamina.layers.AugMix(num_chains=2, chain_depth=2, bounding_box_format="xyxy")
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=KEY)
    np.testing.assert_array_equal(out["images"], plain)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want["boxes"])
    masks = np.asarray(out["segmentation_masks"])
    assert masks.shape == data["segmentation_masks"].shape
    assert masks.min() >= 0 and masks.max() <= 2 + 1e-5  # a blend of warped masks
    still = lamina.layers.AugMix(num_chains=2, chain_depth=2, factor=0.0,
                                 bounding_box_format="xyxy")
    out, _ = still.apply({}, {}, copy.deepcopy(data), training=True, key=KEY)
    np.testing.assert_allclose(out["segmentation_masks"], data["segmentation_masks"], atol=1e-4)


@pytest.mark.slow  # CLAHE runs eagerly five times
def test_clahe_takes_only_images_as_keras(keras):
    data = _data(2, seed=12)
    name = "ContrastLimitedAdaptiveHistogramEqualization"
    layer = getattr(lamina.layers, name)(bounding_box_format="xyxy")
    with keras_ref():
        kl = getattr(keras.layers, name)(bounding_box_format="xyxy")
        with pytest.raises(NotImplementedError):
            kl({"images": data["images"], "segmentation_masks": data["segmentation_masks"]})
    for part, match in (("bounding_boxes", "bounding boxes"),
                        ("segmentation_masks", "segmentation masks"), ("labels", "labels")):
        given = {"images": data["images"], part: data.get(part, np.zeros(2))}
        with pytest.raises(NotImplementedError, match=f"does not transform {match}"):
            layer(given)
    out = layer({"images": data["images"]})
    np.testing.assert_allclose(out["images"], layer(data["images"]))
