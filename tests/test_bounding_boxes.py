"""Keras 3's bounding boxes: ``utils.bounding_boxes``, ``MaxNumBoundingBoxes``, the image
layers' ``{"images", "bounding_boxes"}`` path and ``visualization``, against real Keras."""

import copy

import numpy as np
import pytest

import lamina
from lamina.utils import bounding_boxes as bb
from tests.helpers import keras_ref

FORMATS = ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh"]  # fmt: skip
H, W = 40, 60


def _xyxy(*lead, seed=0):
    """Random valid ``xyxy`` boxes inside an ``H x W`` image, shape ``(*lead, 4)``."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (*lead, 2)) * [W, H]
    b = rng.uniform(0, 1, (*lead, 2)) * [W, H]
    return np.concatenate([np.minimum(a, b), np.maximum(a, b)], -1).astype("float32")


def _kb(keras):
    return keras.utils.bounding_boxes


@pytest.mark.parametrize("lead", [(5,), (3, 5)], ids=["unbatched", "batched"])
def test_convert_format_matches_keras_for_every_pair(keras, lead):
    boxes = _xyxy(*lead)
    for source in FORMATS:
        with keras_ref():
            src = np.asarray(_kb(keras).convert_format(boxes, "xyxy", source, height=H, width=W))
        for target in FORMATS:
            with keras_ref():
                want = _kb(keras).convert_format(src, source, target, height=H, width=W)
            got = bb.convert_format(src, source.upper(), target, height=H, width=W)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5, err_msg=source + target)


def test_convert_format_dicts_dtypes_and_errors(keras):
    boxes = _xyxy(2, 3).astype("int32")
    data = {"boxes": boxes, "labels": np.array([[1, 2, 3], [4, 5, 6]])}
    out = bb.convert_format(data, "xyxy", "center_xywh")
    assert out is data and out["boxes"].dtype == np.float32  # in place, as Keras
    with keras_ref():
        want = _kb(keras).convert_format({"boxes": boxes}, "xyxy", "center_xywh")["boxes"]
    np.testing.assert_allclose(out["boxes"], want)
    assert bb.convert_format(boxes, "xyxy", "xyxy", dtype="float16").dtype == np.float16
    with pytest.raises(ValueError, match="last dimension of 4"):
        bb.convert_format(np.zeros((2, 3)), "xyxy", "xywh")
    with pytest.raises(ValueError, match="Invalid source or target format"):
        bb.convert_format(boxes, "xyzz", "xywh")
    with pytest.raises(ValueError, match="must receive `height` and `width`"):
        bb.convert_format(boxes, "xyxy", "rel_xyxy")


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size_matches_keras(keras, fmt):
    rng = np.random.default_rng(1)
    boxes = rng.uniform(-20, 80, (2, 6, 4)).astype("float32")
    if fmt == "rel_xyxy":
        boxes = boxes / 50.0
    data = {"boxes": boxes, "labels": rng.integers(0, 5, (2, 6))}
    with keras_ref():
        want = _kb(keras).clip_to_image_size(dict(data), H, W, bounding_box_format=fmt)
    got = bb.clip_to_image_size(dict(data), H, W, bounding_box_format=fmt)
    np.testing.assert_allclose(got["boxes"], want["boxes"])
    np.testing.assert_array_equal(got["labels"], want["labels"])
    assert (np.asarray(got["labels"]) == -1).any()
    with pytest.raises(NotImplementedError, match="'xyxy' or 'rel_xyxy'"):
        bb.clip_to_image_size(data, H, W, bounding_box_format="xywh")
    with pytest.raises(ValueError, match="`height` and `width` must be set"):
        bb.clip_to_image_size(data)


@pytest.mark.slow  # many eager shapes compile in both libraries
def test_crop_pad_affine_match_keras(keras):
    boxes = _xyxy(3, 4)
    rng = np.random.default_rng(2)
    args = [rng.uniform(-30, 30, 3), rng.uniform(-0.2, 0.2, 3), rng.uniform(-0.2, 0.2, 3),
            rng.uniform(0.7, 1.3, 3), rng.uniform(-10, 10, 3), rng.uniform(-10, 10, 3)]
    args = [a.astype("float32") for a in args]
    with keras_ref():
        kb = _kb(keras)
        want_crop = kb.crop(boxes, 5, 7, 20, 30)
        want_pad = kb.pad(boxes[0], 3, 4)
        want_affine = kb.affine_transform(boxes, *args, H, W)
        want_centred = kb.affine_transform(boxes, *args, H, W, center_x=0.2, center_y=0.7)
    np.testing.assert_allclose(bb.crop(boxes, 5, 7, 20, 30), want_crop)
    np.testing.assert_allclose(bb.pad(boxes[0], 3, 4), want_pad)
    np.testing.assert_allclose(bb.affine_transform(boxes, *args, H, W), want_affine, atol=1e-4)
    got = bb.affine_transform(boxes, *args, H, W, center_x=0.2, center_y=0.7)
    np.testing.assert_allclose(got, want_centred, atol=1e-4)
    for fn, a in ((bb.crop, (1, 1, 2, 2)), (bb.pad, (1, 1))):
        with pytest.raises(NotImplementedError, match="bounding_box_format='xyxy' only"):
            fn(boxes, *a, bounding_box_format="xywh")


@pytest.mark.parametrize("fmt", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_box_deltas_match_keras_and_round_trip(keras, fmt, variance):
    anchors = _xyxy(6, seed=3)
    boxes = _xyxy(2, 6, seed=4)
    kw = dict(variance=variance, image_shape=(H, W, 3))
    with keras_ref():
        kb = _kb(keras)
        want = kb.encode_box_to_deltas(anchors, boxes, "xyxy", "rel_xyxy", fmt, **kw)
        want_dec = kb.decode_deltas_to_boxes({"p3": anchors}, {"p3": np.asarray(want)}, "xyxy",
                                             "xywh", fmt, **kw)  # fmt: skip
    got = bb.encode_box_to_deltas(anchors, boxes, "xyxy", "rel_xyxy", fmt, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    dec = bb.decode_deltas_to_boxes({"p3": anchors}, {"p3": got}, "xyxy", "xywh", fmt, **kw)
    np.testing.assert_allclose(dec["p3"], want_dec["p3"], rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="`variance` must be length 4"):
        bb.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", variance=[1, 2])
    with pytest.raises(ValueError, match="should be 'center_xywh' or 'center_yxhw'"):
        bb.decode_deltas_to_boxes(anchors, got, "xyxy", "xyxy", encoded_format="xyxy")


@pytest.mark.slow  # many eager shapes compile in both libraries
@pytest.mark.parametrize("r1, r2", [((5,), (4,)), ((2, 5), (2, 4)), ((2, 5), (4,)),
                                    ((5,), (2, 4))])  # fmt: skip
def test_compute_iou_matches_keras(keras, r1, r2):
    b1, b2 = _xyxy(*r1, seed=5), _xyxy(*r2, seed=6)
    b1[..., 0, :] = -1  # a padding box, masked with use_masking
    for fmt, shape in (("xyxy", None), ("rel_yxyx", (H, W, 3))):
        a1 = bb.convert_format(b1, "xyxy", fmt, H, W) if fmt != "xyxy" else b1
        a2 = bb.convert_format(b2, "xyxy", fmt, H, W) if fmt != "xyxy" else b2
        a1, a2 = np.asarray(a1), np.asarray(a2)
        masks = [False, True] if len(r1) == len(r2) else [False]
        for masking in masks:
            with keras_ref():
                want = _kb(keras).compute_iou(a1, a2, fmt, use_masking=masking, image_shape=shape)
            got = bb.compute_iou(a1, a2, fmt, use_masking=masking, image_shape=shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expects boxes1 to be batched"):
        bb.compute_iou(np.zeros(4), b2, "xyxy")
    with pytest.raises(ValueError, match="`image_shape` argument must be provided"):
        bb.compute_iou(b1, b2, "rel_xyxy")


def test_compute_ciou_matches_keras(keras):
    b1, b2 = _xyxy(2, 7, seed=7), _xyxy(2, 7, seed=8)
    for fmt in ("xyxy", "center_xywh"):
        c1 = np.asarray(bb.convert_format(b1, "xyxy", fmt))
        c2 = np.asarray(bb.convert_format(b2, "xyxy", fmt))
        with keras_ref():
            want = _kb(keras).compute_ciou(c1, c2, fmt)
        np.testing.assert_allclose(bb.compute_ciou(c1, c2, fmt), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="absolute formats only"):
        bb.compute_ciou(b1, b2, "rel_xyxy")


def test_utils_namespace_exports_keras_names(keras):
    names = {n for n in dir(keras.utils.bounding_boxes) if not n.startswith("_")}
    assert names <= set(dir(lamina.utils.bounding_boxes))
    from lamina.utils.bounding_boxes import compute_iou  # noqa: F401 - keras.utils path


# ------------------------------------------------------------------ MaxNumBoundingBoxes


def _data(batch, n, seed=0, fmt="xyxy"):
    rng = np.random.default_rng(seed)
    lead = (batch,) if batch else ()
    boxes = _xyxy(*lead, n, seed=seed)
    boxes = np.array(bb.convert_format(boxes, "xyxy", fmt, H, W))
    return {
        "images": rng.uniform(0, 255, (*lead, H, W, 3)).astype("float32"),
        "bounding_boxes": {"boxes": boxes, "labels": rng.integers(0, 4, (*lead, n))},
    }


@pytest.mark.parametrize("max_number", [2, 5, 9])
@pytest.mark.parametrize("batch", [0, 3], ids=["unbatched", "batched"])
def test_max_num_bounding_boxes_matches_keras(keras, max_number, batch):
    data = _data(batch, 5)
    with keras_ref():
        kl = keras.layers.MaxNumBoundingBoxes(max_number, fill_value=-2, bounding_box_format="xyxy")
        want = kl(copy.deepcopy(data))
    layer = lamina.layers.MaxNumBoundingBoxes(max_number, fill_value=-2)
    got = layer(copy.deepcopy(data))
    for key in ("boxes", "labels"):
        np.testing.assert_array_equal(got["bounding_boxes"][key], want["bounding_boxes"][key])
    np.testing.assert_array_equal(got["images"], want["images"])
    shapes = {"images": (None, H, W, 3), "bounding_boxes": {"boxes": (None, 5, 4),
                                                             "labels": (None, 5)}}  # fmt: skip
    assert layer.compute_output_shape(copy.deepcopy(shapes)) == kl.compute_output_shape(
        copy.deepcopy(shapes)
    )
    again = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert (again.max_number, again.fill_value) == (max_number, -2)
    with pytest.raises(ValueError, match="positive integer"):
        lamina.layers.MaxNumBoundingBoxes(0)
    with pytest.raises(ValueError, match="keys 'boxes' and 'labels'"):
        layer({"images": data["images"], "bounding_boxes": {"boxes": data["images"]}})


# ------------------------------------------------------------ layers moving boxes with images


def _keras_call(keras, name, args, kwargs, data, **call):
    with keras_ref():
        kl = getattr(keras.layers, name)(*args, **kwargs)
        out = kl(copy.deepcopy(data), **call)
        return {"images": np.asarray(out["images"]),
                "boxes": np.asarray(out["bounding_boxes"]["boxes"]),
                "labels": np.asarray(out["bounding_boxes"]["labels"])}  # fmt: skip


def _check(got, want, atol=1e-4):
    np.testing.assert_allclose(got["images"], want["images"], atol=1e-3)
    np.testing.assert_allclose(got["bounding_boxes"]["boxes"], want["boxes"], atol=atol)
    np.testing.assert_array_equal(got["bounding_boxes"]["labels"], want["labels"])


@pytest.mark.parametrize("fmt", ["xyxy", "rel_center_xywh", "yxyx"])
@pytest.mark.parametrize("mode", ["stretch", "crop_to_aspect_ratio", "pad_to_aspect_ratio"])
@pytest.mark.parametrize("batch", [0, 2], ids=["unbatched", "batched"])
def test_resizing_moves_boxes_as_keras(keras, fmt, mode, batch):
    data = _data(batch, 6, seed=batch, fmt=fmt)
    data["bounding_boxes"]["boxes"][..., 0, :] = 0  # a padding box stays at zero
    kwargs = {"bounding_box_format": fmt} | ({mode: True} if mode != "stretch" else {})
    want = _keras_call(keras, "Resizing", (24, 30), kwargs, data)
    got = lamina.layers.Resizing(24, 30, **kwargs)(copy.deepcopy(data))
    _check(got, want)


@pytest.mark.parametrize("size", [(30, 20), (50, 80), (30, 80)])
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xywh"])
def test_center_crop_moves_boxes_as_keras(keras, size, fmt):
    data = _data(2, 6, seed=3, fmt=fmt)
    want = _keras_call(keras, "CenterCrop", size, {"bounding_box_format": fmt}, data)
    got = lamina.layers.CenterCrop(*size, bounding_box_format=fmt)(copy.deepcopy(data))
    _check(got, want)


def test_layer_config_takes_bounding_box_format(keras):
    for name, args in (("Resizing", (4, 4)), ("CenterCrop", (4, 4)), ("RandomFlip", ()),
                       ("RandomCrop", (4, 4)), ("RandomTranslation", (0.1, 0.1)),
                       ("RandomZoom", (0.1,)), ("RandomRotation", (0.1,))):  # fmt: skip
        layer = getattr(lamina.layers, name)(*args, bounding_box_format="xywh")
        with keras_ref():
            kcfg = getattr(keras.layers, name)(*args, bounding_box_format="xywh").get_config()
        assert layer.get_config()["bounding_box_format"] == kcfg["bounding_box_format"]
        again = lamina.layers.deserialize(lamina.layers.serialize(layer))
        assert again.bounding_box_format == "xywh"
        assert "bounding_box_format" not in getattr(lamina.layers, name)(*args).get_config()
    with pytest.raises(ValueError, match="`bounding_box_format` must be one of"):
        lamina.layers.RandomFlip(bounding_box_format="xyz")
    with pytest.raises(ValueError, match="didn't specify a bounding box format"):
        lamina.layers.Resizing(4, 4)(_data(1, 2))


def _bbs(data):
    b = data["bounding_boxes"]
    return {"boxes": np.asarray(b["boxes"], "float32"), "labels": np.asarray(b["labels"])}


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
@pytest.mark.parametrize("fmt", ["xyxy", "center_yxhw"])
def test_flip_boxes_match_keras_transform(keras, mode, fmt):
    from lamina.layers.box_plans import flip_boxes

    data = _data(4, 5, seed=4, fmt=fmt)
    flips = np.array([True, False, True, True]).reshape(4, 1, 1, 1)
    with keras_ref():
        kl = keras.layers.RandomFlip(mode, bounding_box_format=fmt)
        want = kl.transform_bounding_boxes(_bbs(data), {"flips": flips,
                                                        "input_shape": (4, H, W, 3)})  # fmt: skip
    layer = lamina.layers.RandomFlip(mode, bounding_box_format=fmt)
    got = flip_boxes(layer, _bbs(data), flips, H, W)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-4)
    np.testing.assert_array_equal(got["labels"], want["labels"])


@pytest.mark.slow  # many eager shapes compile in both libraries
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xywh"])
def test_translation_and_zoom_boxes_match_keras_transform(keras, fmt):
    from lamina.layers.box_plans import translate_boxes, zoom_boxes
    from lamina.layers.random_affine import translation_matrix, zoom_matrix

    data = _data(3, 5, seed=5, fmt=fmt)
    shifts = np.array([[6.5, -4.0], [0.0, 9.0], [-20.0, 3.5]], "float32")  # (dx, dy)
    hz = np.array([[0.8], [1.3], [1.0]], "float32")
    wz = np.array([[1.1], [0.7], [1.25]], "float32")
    shape = (3, H, W, 3)
    with keras_ref():
        kt = keras.layers.RandomTranslation(0.3, 0.3, bounding_box_format=fmt)
        want_t = kt.transform_bounding_boxes(_bbs(data), {"translations": shifts,
                                                          "input_shape": shape})  # fmt: skip
        kz = keras.layers.RandomZoom(0.3, bounding_box_format=fmt)
        want_z = kz.transform_bounding_boxes(
            _bbs(data), {"height_zoom": hz, "width_zoom": wz, "input_shape": shape}
        )
    lt = lamina.layers.RandomTranslation(0.3, 0.3, bounding_box_format=fmt)
    got_t = translate_boxes(lt, _bbs(data), translation_matrix(shifts[:, 1], shifts[:, 0]), H, W)
    lz = lamina.layers.RandomZoom(0.3, bounding_box_format=fmt)
    got_z = zoom_boxes(lz, _bbs(data), zoom_matrix(hz[:, 0], wz[:, 0], H, W), H, W)
    for got, want in ((got_t, want_t), (got_z, want_z)):
        np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-4)
        np.testing.assert_array_equal(got["labels"], want["labels"])


def test_rotation_boxes_match_keras_transform(keras):
    from lamina.layers.box_plans import rotate_boxes
    from lamina.layers.random_affine import rotation_matrix

    data = _data(3, 5, seed=6)
    angle = np.array([15.0, -70.0, 120.0], "float32")
    with keras_ref():
        kl = keras.layers.RandomRotation(0.4, bounding_box_format="xyxy")
        want = kl.transform_bounding_boxes(_bbs(data), {"angle": angle, "image_height": H,
                                                        "image_width": W, "batch_size": 3})
    layer = lamina.layers.RandomRotation(0.4, bounding_box_format="xyxy")
    got = rotate_boxes(layer, _bbs(data), rotation_matrix(angle, H, W), H, W)
    np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-3)
    np.testing.assert_array_equal(got["labels"], want["labels"])


RANDOM = [("RandomFlip", ()), ("RandomCrop", (20, 30)), ("RandomTranslation", (0.2, 0.3)),
          ("RandomZoom", (0.3,)), ("RandomRotation", (0.2,))]  # fmt: skip


@pytest.mark.parametrize("name, args", RANDOM)
@pytest.mark.parametrize("batch", [0, 3], ids=["unbatched", "batched"])
def test_random_layers_draw_once_for_images_boxes_and_masks(name, args, batch):
    import jax

    data = _data(batch, 4, seed=7)
    lead = (batch,) if batch else ()
    data["segmentation_masks"] = np.ones((*lead, H, W, 1), "float32")
    data["labels"] = np.arange(3)
    layer = getattr(lamina.layers, name)(*args, bounding_box_format="xyxy")
    key = jax.random.PRNGKey(11)
    out, _ = layer.apply({}, {}, copy.deepcopy(data), training=True, key=key)
    plain, _ = layer.apply({}, {}, data["images"], training=True, key=key)
    np.testing.assert_array_equal(out["images"], plain)
    np.testing.assert_array_equal(out["labels"], data["labels"])
    assert out["segmentation_masks"].shape[:-1] == plain.shape[:-1]
    boxes = np.asarray(out["bounding_boxes"]["boxes"])
    assert boxes.shape == data["bounding_boxes"]["boxes"].shape
    out_h, out_w = plain.shape[-3:-1]
    assert boxes.min() >= 0 and (boxes[..., 2] <= out_w + 1e-4).all()
    assert (boxes[..., 3] <= out_h + 1e-4).all()
    idle, _ = layer.apply({}, {}, copy.deepcopy(data), training=False)
    if name != "RandomCrop":  # inference leaves the boxes alone (RandomCrop resizes)
        np.testing.assert_array_equal(idle["bounding_boxes"]["boxes"],
                                      data["bounding_boxes"]["boxes"])  # fmt: skip


@pytest.mark.slow  # many eager shapes compile in both libraries
def test_random_flip_call_moves_boxes_with_the_flipped_images(keras):
    data = _data(8, 3, seed=8)
    layer = lamina.layers.RandomFlip("horizontal", bounding_box_format="xyxy")
    out = layer(copy.deepcopy(data))  # Keras's default: training=True
    flips = np.array([not np.array_equal(o, i) for o, i in zip(out["images"], data["images"])])
    assert 0 < flips.sum() < 8
    with keras_ref():
        kl = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy")
        want = kl.transform_bounding_boxes(
            _bbs(data), {"flips": flips.reshape(-1, 1, 1, 1), "input_shape": (8, H, W, 3)}
        )
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want["boxes"], atol=1e-4)


def test_random_crop_moves_boxes_by_the_crop_window():
    import jax

    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    image = np.stack([rows, cols, rows], -1).astype("float32")[None]
    boxes = np.array([[[10.0, 8, 40, 30], [0, 0, 3, 3], [50, 30, 58, 38]]], "float32")
    layer = lamina.layers.RandomCrop(20, 30, bounding_box_format="xyxy")
    data = {"images": image, "bounding_boxes": {"boxes": boxes, "labels": np.array([[1, 2, 3]])}}
    for seed in range(3):
        out, _ = layer.apply({}, {}, data, training=True, key=jax.random.PRNGKey(seed))
        top, left = int(out["images"][0, 0, 0, 0]), int(out["images"][0, 0, 0, 1])
        want = np.clip(boxes - [left, top, left, top], 0, [30, 20, 30, 20])
        np.testing.assert_allclose(out["bounding_boxes"]["boxes"], want, atol=1e-5)
        area = (want[..., 2] - want[..., 0]) * (want[..., 3] - want[..., 1])
        np.testing.assert_array_equal(out["bounding_boxes"]["labels"],
                                      np.where(area > 0, [[1, 2, 3]], -1))  # fmt: skip


# ------------------------------------------------------------------------------ visualization


@pytest.mark.parametrize("blend", [True, False])
def test_draw_segmentation_masks_matches_keras(keras, blend):
    rng = np.random.default_rng(9)
    images = rng.uniform(0, 255, (2, 6, 5, 3)).astype("float32")
    masks = rng.integers(-1, 4, (2, 6, 5, 1)).astype("int32")
    for kw in ({}, {"num_classes": 4, "alpha": 0.3},
               {"num_classes": 2, "color_mapping": {0: (255, 0, 0), 1: (0, 9, 0)}}):  # fmt: skip
        with keras_ref():
            want = keras.visualization.draw_segmentation_masks(images, masks, blend=blend, **kw)
        got = lamina.visualization.draw_segmentation_masks(images, masks, blend=blend, **kw)
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-4)
        assert got.dtype == np.asarray(want).dtype
    with pytest.raises(TypeError, match="must be in integer dtype"):
        lamina.visualization.draw_segmentation_masks(images, masks.astype("float32"))


def test_draw_bounding_boxes_needs_opencv_as_keras(keras, monkeypatch):
    import sys

    images = np.zeros((1, H, W, 3), "float32")
    boxes = {"boxes": _xyxy(1, 3, seed=10), "labels": np.array([[0, -1, 2]]),
             "confidences": np.array([[0.9, 0.5, 0.25]])}  # fmt: skip
    if "cv2" not in sys.modules:  # the reference's own error without OpenCV
        monkeypatch.setitem(sys.modules, "cv2", None)
        with pytest.raises(ImportError, match="requires the `cv2` package"):
            lamina.visualization.draw_bounding_boxes(images, boxes, "xyxy")
        with pytest.raises(ImportError, match="requires the `cv2` package"):
            lamina.visualization.plot_bounding_box_gallery(images, "xyxy", y_true=boxes)

    class FakeCV2:
        FONT_HERSHEY_SIMPLEX = 0

        def __init__(self):
            self.calls = []

        def rectangle(self, image, p1, p2, color, thickness):
            self.calls.append(("rectangle", p1, p2, tuple(color), thickness))

        def putText(self, img, text, org, fontFace, fontScale, color, thickness):  # noqa: N802, N803
            self.calls.append(("putText", text, org, fontScale, thickness))

    ours, theirs = FakeCV2(), FakeCV2()
    monkeypatch.setitem(sys.modules, "cv2", ours)
    import keras.src.visualization.draw_bounding_boxes as kdraw

    monkeypatch.setattr(kdraw, "cv2", theirs)
    kw = dict(class_mapping={0: "cat", 2: "dog"}, color=(1, 2, 3), font_scale=0.5)
    rel = np.array(bb.convert_format(boxes["boxes"], "xyxy", "rel_yxyx", H, W))
    with keras_ref():
        want = kdraw.draw_bounding_boxes(images, dict(boxes, boxes=rel), "rel_yxyx", **kw)
    got = lamina.visualization.draw_bounding_boxes(images, dict(boxes, boxes=rel), "rel_yxyx",
                                                   **kw)  # fmt: skip
    assert ours.calls == theirs.calls and len(ours.calls) == 4
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="'boxes' and 'labels' keys"):
        lamina.visualization.draw_bounding_boxes(images, {"boxes": rel}, "xyxy")


def test_galleries_save_figures(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    vis = lamina.visualization
    images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")
    vis.plot_image_gallery(images, y_true=[0, 1, 0, 1], label_map={0: "a", 1: "b"},
                           value_range=(0, 1), path=tmp_path / "a.png")  # fmt: skip
    masks = np.ones((4, 8, 8, 1), "int32")
    vis.plot_segmentation_mask_gallery(images, 2, value_range=(0, 1), y_true=masks,
                                       y_pred=masks * 0, path=tmp_path / "b.png")  # fmt: skip
    vis.plot_bounding_box_gallery(images, "xyxy", legend=True, path=tmp_path / "c.png")
    assert all((tmp_path / f"{n}.png").stat().st_size > 0 for n in "abc")
    with pytest.raises(ValueError, match="a `label_map` must also be provided"):
        vis.plot_image_gallery(images, y_true=[0, 1, 0, 1])
    with pytest.raises(ValueError, match="either `path` to be set, or `show`"):
        vis.plot_image_gallery(images, path=tmp_path / "d.png", show=True)
    with pytest.raises(ValueError, match="must be batched 4D tensor"):
        vis.plot_bounding_box_gallery(images[0], "xyxy")
