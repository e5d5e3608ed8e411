"""How Keras 3's other image augmentation layers treat bounding boxes, segmentation masks and
class labels in a data dict (``lamina.layers.box_data``).

As Keras 3.15:

* colour and tone layers (RandomBrightness, RandomContrast, RandomGrayscale, RandomHue,
  RandomSaturation, RandomColorDegeneration, RandomColorJitter, RandomSharpness,
  RandomPosterization, RandomInvert, Solarization, AutoContrast, Equalization) and
  RandomGaussianBlur and RandomErasing change only the images: boxes, masks and labels pass
  through;
* RandomShear and RandomPerspective move the boxes with the images and warp the masks with
  nearest-neighbour interpolation; RandomElasticTransform warps the masks but refuses boxes;
* MixUp mixes labels (and masks) by its weights and appends each partner image's boxes;
  CutMix pastes the same patch into the masks, mixes labels by area and refuses boxes;
* CLAHE (ContrastLimitedAdaptiveHistogramEqualization) takes only ``"images"``;
* RandAugment and AugMix: ``lamina.layers.box_plans_policy``.

Deliberate differences from Keras 3.15, where its code has plain bugs: RandomPerspective returns
boxes in the layer's ``bounding_box_format`` (Keras leaves them in ``"xyxy"``), MixUp appends
the partner's labels along the boxes' axis (Keras concatenates along the batch axis) and mixes
masks per image (Keras indexes the flattened masks).

>>> import numpy as np, lamina
>>> layer = lamina.layers.RandomShear(x_factor=0.0, y_factor=0.0, bounding_box_format="xyxy")
>>> out = layer({"images": np.zeros((1, 8, 8, 1), "float32"),
...              "bounding_boxes": {"boxes": np.array([[[1.0, 2, 5, 6]]]), "labels": [[0]]}})
>>> out["bounding_boxes"]["boxes"].tolist()
[[[1.0, 2.0, 5.0, 6.0]]]
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp

from lamina.layers.box_plans import Plan, _convert, _hw, _same
from lamina.utils.bounding_boxes.formats import join, split4
from lamina.utils.bounding_boxes.transforms import clip_to_image_size


def _passthrough(layer, image_apply, params, state, batch, training, key):
    images, _ = image_apply(params, state, batch, training=training, key=key)
    return Plan(images, _same, _same)


def nearest(layer):
    """A copy of ``layer`` that interpolates as Keras's masks: nearest neighbour."""
    twin = copy.copy(layer)
    twin.interpolation = "nearest"
    return twin


def refuse_boxes(layer, what="bounding boxes", key="bounding_boxes"):
    """The transform of a part of the dict Keras 3 does not handle in ``layer``: it raises
    NotImplementedError, as Keras's base methods."""

    def refuse(_):
        raise NotImplementedError(
            f"{type(layer).__name__} does not transform {what} (Keras 3 raises "
            f"NotImplementedError too). Pass the dict without '{key}', or use a layer "
            "that transforms them."
        )

    return refuse


def _images_only(layer, image_apply, params, state, batch, training, key):
    """CLAHE: Keras 3 gives it no box, mask or label transform, so it takes only images."""
    images, _ = image_apply(params, state, batch, training=training, key=key)
    return Plan(images, refuse_boxes(layer), refuse_boxes(layer, "segmentation masks",
                "segmentation_masks"), refuse_boxes(layer, "labels", "labels"))  # fmt: skip


# ---------------------------------------------------------------- RandomShear / Perspective
def shear_boxes(fmt, bbs, shear_factor, h, w):
    """Keras's ``RandomShear.transform_bounding_boxes`` for ``(batch, 2)`` shear factors
    ``(x, y)``: box corners move by the shear in relative coordinates, then are clipped."""
    bbs = _convert(bbs, fmt, "rel_xyxy", h, w)
    s = jnp.asarray(shear_factor, jnp.float32)
    sx, sy = s[:, None, :1], s[:, None, 1:]
    x1, y1, x2, y2 = split4(bbs["boxes"])
    with jax.numpy_rank_promotion("allow"):
        # Keras's corner choice: the sheared left edge from the top or bottom corner.
        x1, x2 = (jnp.where(sx < 0, x1 - sx * y1, x1 - sx * y2),
                  jnp.where(sx < 0, x2 - sx * y2, x2 - sx * y1))
        y1, y2 = (jnp.where(sy > 0, y1 - sy * x2, y1 - sy * x1),
                  jnp.where(sy > 0, y2 - sy * x1, y2 - sy * x2))
    bbs["boxes"] = join([x1, y1, x2, y2])
    bbs = clip_to_image_size(bbs, h, w, bounding_box_format="rel_xyxy")
    return _convert(bbs, "rel_xyxy", fmt, h, w)


def perspective_boxes(fmt, bbs, transformation, h, w):
    """Keras's ``RandomPerspective.transform_bounding_boxes``: each box becomes the bounding
    box of its four corners mapped through the inverse homography, in images it warps."""
    from lamina.layers.geometric_augmentation import homography

    bbs = _convert(bbs, fmt, "xyxy", h, w)
    start = jnp.asarray(transformation["start_points"], jnp.float32)
    end = jnp.asarray(transformation["end_points"], jnp.float32)
    m = homography(start, end)
    m = jnp.concatenate([m, jnp.ones((m.shape[0], 1), m.dtype)], axis=-1).reshape(-1, 3, 3)
    inverse = jnp.linalg.inv(m)  # maps each output point back: Keras's corner transform
    x0, y0, x1, y1 = (c[..., 0] for c in split4(bbs["boxes"]))
    corners = []
    for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0)):
        p = jnp.einsum("bij,bnj->bni", inverse, jnp.stack([x, y, jnp.ones_like(x)], -1))
        corners.append((p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]))
    xs = jnp.stack([c[0] for c in corners], -1)
    ys = jnp.stack([c[1] for c in corners], -1)
    warped = jnp.stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)], axis=-1)
    flags = jnp.asarray(transformation["apply_perspective"])[:, None, None]
    with jax.numpy_rank_promotion("allow"):
        bbs["boxes"] = jnp.where(flags, warped, bbs["boxes"])
    bbs = clip_to_image_size(bbs, h, w, bounding_box_format="xyxy")
    return _convert(bbs, "xyxy", fmt, h, w)


def _warp(boxes_fn):
    """The plan of an ``ImageAugmentation`` warp: one transformation for images, boxes (via
    ``boxes_fn(fmt, bbs, transformation, h, w)``, None to refuse) and masks (nearest)."""

    def plan(layer, image_apply, params, state, batch, training, key):
        if not training or key is None:
            images, _ = image_apply(params, state, batch, training=training, key=key)
            # Keras refuses boxes whether or not the layer is training.
            return Plan(images, _same if boxes_fn else refuse_boxes(layer), _same)
        layer.check_images(batch)
        transformation = layer.get_random_transformation(key, batch)
        h, w = _hw(layer, batch)
        if boxes_fn is None:
            boxes = refuse_boxes(layer)
        else:
            def boxes(bbs):
                return boxes_fn(layer.bounding_box_format, bbs, transformation, h, w)

        def masks(m):
            return nearest(layer).transform_images(jnp.asarray(m, jnp.float32), transformation)

        return Plan(layer.transform_images(batch, transformation), boxes, masks)

    return plan


def _shear(fmt, bbs, transformation, h, w):
    return shear_boxes(fmt, bbs, transformation["shear_factor"], h, w)


# ---------------------------------------------------------------------- MixUp / CutMix
def mixup_boxes(bbs, permutation):
    """Keras's ``MixUp.transform_bounding_boxes``: each image keeps its boxes and gains its
    partner's (``(batch, 2 * N, 4)``), labels alike."""
    out = dict(bbs)
    for name in ("boxes", "labels"):
        out[name] = jnp.concatenate([bbs[name], jnp.take(bbs[name], permutation, axis=0)], 1)
    return out


def _mixing(layer, image_apply, params, state, batch, training, key):
    from lamina.layers.mix_augmentation import CutMix

    is_cutmix = isinstance(layer, CutMix)
    # A single image mixes only with itself: Lamina returns it unchanged, as Keras's images.
    if not training or key is None or batch.shape[0] == 1:
        images, _ = image_apply(params, state, batch, training=training, key=key)
        # Keras's CutMix refuses boxes whether or not it is training.
        return Plan(images, refuse_boxes(layer) if is_cutmix else _same, _same)
    layer.check_images(batch)
    t = layer.get_random_transformation(key, batch)
    perm = t["permutation_order"]

    def labels(y):
        return layer.transform_labels(jnp.asarray(y, jnp.float32), t)

    if is_cutmix:
        # The patch is the same in every channel; masks may have another channel count.
        patch = jnp.any(t["batch_masks"], axis=layer.channel_axis, keepdims=True)

        def masks(m):
            m = jnp.asarray(m)
            return jnp.where(patch, jnp.take(m, perm, axis=0), m)

        return Plan(layer.transform_images(batch, t), refuse_boxes(layer), masks, labels)

    def mix_masks(m):
        m = jnp.asarray(m, jnp.float32)
        weight = jnp.reshape(t["mix_weight"], (-1, 1, 1, 1))
        return weight * m + (1.0 - weight) * jnp.take(m, perm, axis=0)

    return Plan(layer.transform_images(batch, t), lambda bbs: mixup_boxes(bbs, perm),
                mix_masks, labels)


def augmentation_plans():
    """The plans of the layers this module covers, by class."""
    from lamina.layers import clahe
    from lamina.layers import color_augmentation as ca
    from lamina.layers import color_jitter as cj
    from lamina.layers import elastic_augmentation as ea
    from lamina.layers import geometric_augmentation as ga
    from lamina.layers import mix_augmentation as ma
    from lamina.layers import random_augmentation as ra
    from lamina.layers.box_plans_policy import policy_plans

    unchanged = (ra.RandomBrightness, ra.RandomContrast, ra.RandomGrayscale, cj.RandomHue,
                 cj.RandomSaturation, cj.RandomColorDegeneration, cj.RandomColorJitter,
                 cj.RandomSharpness, ca.RandomPosterization, ca.RandomInvert, ca.Solarization,
                 ca.AutoContrast, ca.Equalization, ga.RandomGaussianBlur, ga.RandomErasing)
    return {
        **dict.fromkeys(unchanged, _passthrough),
        ga.RandomShear: _warp(_shear),
        ga.RandomPerspective: _warp(perspective_boxes),
        ea.RandomElasticTransform: _warp(None),
        ma.MixUp: _mixing,
        ma.CutMix: _mixing,
        clahe.ContrastLimitedAdaptiveHistogramEqualization: _images_only,
        **policy_plans(),
    }
