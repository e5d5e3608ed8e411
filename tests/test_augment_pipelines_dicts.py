"""Image augmentation layers chained in a ``Sequential`` (no ``Input``) or a ``Pipeline`` and
called on Keras 3's data dict (``{"images", "bounding_boxes", "labels", "segmentation_masks"}``),
as keras.io's object-detection and segmentation examples do; compared with real Keras.

Random layers get fixed factors (equal bounds) or run in inference, so the numbers are
deterministic and must equal Keras's.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

H, W = 16, 20


def _data(batch=2, seed=0, masks=False):
    rng = np.random.default_rng(seed)
    lead = (batch,) if batch else ()
    a = rng.uniform(0, 1, (*lead, 3, 2)) * [W, H]
    b = rng.uniform(0, 1, (*lead, 3, 2)) * [W, H]
    data = {
        "images": rng.uniform(0, 1, (*lead, H, W, 3)).astype("float32"),
        "bounding_boxes": {
            "boxes": np.concatenate([np.minimum(a, b), np.maximum(a, b)], -1).astype("float32"),
            "labels": rng.integers(0, 4, (*lead, 3)).astype("int32"),
        },
        "labels": rng.integers(0, 2, lead).astype("int32"),
    }
    if masks:
        data["segmentation_masks"] = rng.integers(0, 3, (*lead, H, W, 1)).astype("float32")
    return data


def _detection_layers(mod, fixed=True):
    """keras.io's detection augmenter, with factors fixed so that training is deterministic."""
    L, fmt = mod.layers, {"bounding_box_format": "xyxy", "fill_mode": "constant"}
    layers = [
        L.RandomZoom((-0.2, -0.2), **fmt),
        L.RandomTranslation((0.1, 0.1), (-0.1, -0.1), **fmt),
        L.Resizing(8, 8, pad_to_aspect_ratio=True, bounding_box_format="xyxy"),
    ]
    if not fixed:  # random signs or draws in training: only inference is deterministic
        layers[:0] = [L.RandomFlip(mode="horizontal", bounding_box_format="xyxy"),
                      L.RandomShear(x_factor=0.2, y_factor=0.2, **fmt)]  # fmt: skip
    return layers


def _segmentation_layers(mod):
    L = mod.layers
    return [L.RandomRotation((0.1, 0.1), fill_mode="constant"), L.RandomZoom((-0.2, -0.2))]


def _chain(mod, kind, layers):
    return mod.Sequential(layers) if kind == "sequential" else mod.layers.Pipeline(layers)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def _assert_same(ours, ref):
    ours, ref = _np(ours), _np(ref)
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(ref)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, atol=1e-4)


SLOW = pytest.mark.slow  # Keras compiles each of its random layers' transforms
CASES = [  # (container, batch, training, fixed factors, masks)
    pytest.param("sequential", 2, True, True, False, marks=SLOW),
    pytest.param("sequential", 0, True, True, False, marks=SLOW),  # one image, boxes (N, 4)
    ("sequential", 0, None, True, True),  # default: training, as Keras's image layers
    ("sequential", 2, False, False, True),
    ("sequential", 0, False, False, False),
    ("pipeline", 2, None, True, True),
    ("pipeline", 0, True, True, False),
    ("pipeline", 0, False, False, True),
]


@pytest.mark.parametrize("kind, batch, training, fixed, masks", CASES)
def test_detection_augmenter_on_data_dict_as_keras(keras, kind, batch, training, fixed, masks):
    data = _data(batch, masks=masks)
    kwargs = {} if training is None else {"training": training}
    with keras_ref():
        ref = _chain(keras, kind, _detection_layers(keras, fixed))(data, **kwargs)
    ours = _chain(lamina, kind, _detection_layers(lamina, fixed))(data, **kwargs)
    _assert_same(ours, ref)


@pytest.mark.parametrize("batch", [2, 0])
def test_segmentation_augmenter_on_jax_arrays_as_keras(keras, batch):
    data = _data(batch, masks=True)
    data = {"images": jnp.asarray(data["images"]), "segmentation_masks": data["segmentation_masks"]}
    with keras_ref():
        ref = keras.Sequential(_segmentation_layers(keras))(data, training=True)
    ours = lamina.Sequential(_segmentation_layers(lamina))(data, training=True)
    _assert_same(ours, ref)


def test_random_flip_moves_boxes_with_images():
    data = _data(4)
    out = lamina.Sequential([lamina.layers.RandomFlip("horizontal", bounding_box_format="xyxy")])(
        data, training=True
    )
    flipped = ~np.all(np.asarray(out["images"]) == data["images"], axis=(1, 2, 3))
    boxes = np.asarray(out["bounding_boxes"]["boxes"])
    mirrored = data["bounding_boxes"]["boxes"][:, :, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [W, 0, W, 0]
    for i in range(4):
        want = mirrored[i] if flipped[i] else data["bounding_boxes"]["boxes"][i]
        np.testing.assert_allclose(boxes[i], want, atol=1e-4)
    np.testing.assert_array_equal(out["labels"], data["labels"])


def test_single_image_dict_builds_from_the_image_not_the_boxes():
    # The boxes (N, 4) sort before the images: building from them made Resizing refuse rank 2.
    aug = lamina.Sequential(_detection_layers(lamina))
    out = aug(_data(0), training=False)
    assert out["images"].shape == (8, 8, 3) and out["bounding_boxes"]["boxes"].shape == (3, 4)
    assert aug.input_shape == (None, H, W, 3)
    only_images = {"images": np.zeros((H, W, 3), "float32")}
    assert aug(only_images)["images"].shape == (8, 8, 3)
    assert aug(only_images)["images"].shape == (8, 8, 3)  # built: the call is not refused


@pytest.mark.slow  # Keras and Lamina each compile three input shapes
def test_plain_images_of_any_size_after_a_data_dict_call(keras):
    layers = [lamina.layers.RandomFlip("horizontal", bounding_box_format="xyxy")]
    aug = lamina.Sequential([*layers, lamina.layers.RandomZoom(0.2, bounding_box_format="xyxy")])
    aug(_data(2))
    with keras_ref():
        ref = keras.Sequential([keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy")])
        ref(_data(2))
        ref_shapes = [ref(np.zeros(s, "float32")).shape for s in [(2, H, W, 3), (3, 24, 24, 3)]]
    shapes = [aug(np.zeros(s, "float32")).shape for s in [(2, H, W, 3), (3, 24, 24, 3)]]
    assert shapes == [tuple(s) for s in ref_shapes] == [(2, H, W, 3), (3, 24, 24, 3)]
    big = _data(2)
    big["images"] = np.zeros((2, 32, 32, 3), "float32")
    assert aug(big)["images"].shape == (2, 32, 32, 3)


@pytest.mark.slow  # a fit and a predict
@pytest.mark.parametrize("kind", ["sequential", "pipeline"])
def test_augmenter_used_on_dicts_then_inside_a_model_fits_plain_images(kind):
    L = lamina.layers
    aug = _chain(lamina, kind, [L.RandomFlip("horizontal", bounding_box_format="xyxy"),
                                L.RandomZoom(0.2, bounding_box_format="xyxy")])  # fmt: skip
    aug(_data(0))  # one image first: the model must not keep its boxes' shape
    model = lamina.Sequential([lamina.Input((H, W, 3)), aug, L.Conv2D(2, 3),
                               L.GlobalAveragePooling2D(), L.Dense(1)])  # fmt: skip
    model.compile("sgd", "mse")
    x, y = _data(4)["images"], np.zeros((4, 1), "float32")
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert model.predict(x, verbose=0).shape == (4, 1)
