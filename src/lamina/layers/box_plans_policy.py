"""How RandAugment and AugMix treat bounding boxes and segmentation masks in Keras's data dict
(``lamina.layers.box_data``), as Keras 3.15.

RandAugment moves boxes and masks with the geometric candidates it picks (shear, translation,
rotation; the colour candidates leave them alone). As Keras, the masks follow the picks in
order, while the boxes go through each picked candidate once, in the candidates' order.
AugMix passes boxes through and mixes the masks as the images: each chain warps them with its
geometric steps, the chains are averaged by the chain weights and blended with the input (no
clipping). Masks are warped with nearest-neighbour interpolation.

>>> import jax, numpy as np, lamina
>>> layer = lamina.layers.AugMix(bounding_box_format="xyxy")
>>> out = layer({"images": np.full((1, 8, 8, 3), 9.0, "float32"),
...              "bounding_boxes": {"boxes": np.array([[[1.0, 2, 5, 6]]]), "labels": [[0]]}})
>>> out["bounding_boxes"]["boxes"].tolist()
[[[1.0, 2.0, 5.0, 6.0]]]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.box_plans import Plan, _hw, _same, rotate_boxes, translate_boxes
from lamina.layers.box_plans_aug import nearest, shear_boxes


def _candidate(layer, key, batch):
    """``(masks_fn, boxes_fn)`` of a policy candidate drawn from ``key`` (None for colour
    candidates, which leave boxes and masks alone)."""
    from lamina.layers.geometric_augmentation import RandomShear
    from lamina.layers.random_affine import RandomRotation, RandomTranslation, affine_transform

    h, w = _hw(layer, batch)
    if isinstance(layer, RandomShear):
        t = layer.get_random_transformation(key, batch)
        return (lambda m: nearest(layer).transform_images(m, t),
                lambda bbs: shear_boxes(layer.bounding_box_format, bbs, t["shear_factor"], h, w))
    if isinstance(layer, RandomTranslation | RandomRotation):
        matrix = layer.transformation(key, batch.shape[0], h, w)
        move = translate_boxes if isinstance(layer, RandomTranslation) else rotate_boxes
        return (lambda m: affine_transform(m, matrix, "nearest", layer.fill_mode,
                                           layer.fill_value, layer.data_format),
                lambda bbs: move(layer, bbs, matrix, h, w))
    return None


def _mask_branches(candidates, keys, batch, extra=()):
    branches = []
    for layer, k in zip(candidates, keys, strict=True):
        made = _candidate(layer, k, batch)
        branches.append(made[0] if made else _same)
    return [*branches, *extra]


def _rand_augment(layer, image_apply, params, state, batch, training, key):
    images, _ = image_apply(params, state, batch, training=training, key=key)
    if not training or key is None:
        return Plan(images, _same, _same)
    picks, keys = layer.draw(key)

    def masks(m):
        m = jnp.asarray(m, jnp.float32)
        branches = _mask_branches(layer._candidates, keys, m)
        for i in range(layer.num_ops):
            m = jax.lax.switch(picks[i], branches, m)
        return m

    def boxes(bbs):
        bbs = dict(bbs)
        for idx, (candidate, k) in enumerate(zip(layer._candidates, keys, strict=True)):
            made = _candidate(candidate, k, batch)
            if made is None:
                continue
            moved, picked = made[1](dict(bbs)), jnp.any(picks == idx)
            with jax.numpy_rank_promotion("allow"):
                for name in ("boxes", "labels"):
                    bbs[name] = jnp.where(picked, moved[name], bbs[name])
        return bbs

    return Plan(images, boxes, masks)


def _aug_mix(layer, image_apply, params, state, batch, training, key):
    images, _ = image_apply(params, state, batch, training=training, key=key)
    if not training or key is None:
        return Plan(images, _same, _same)
    chain_weights, keep, picks, step_keys = layer.draw(key)

    def masks(m):
        m = jnp.asarray(m, jnp.float32)
        mixed = jnp.zeros_like(m)
        for c in range(layer.num_chains):
            chain = m
            for d in range(layer.chain_depth):
                branches = _mask_branches(layer._candidates, step_keys[c, d], m, (_same,))
                chain = jax.lax.switch(picks[c, d], branches, chain)
            mixed = mixed + chain * chain_weights[c]
        return keep * m + (1.0 - keep) * mixed

    return Plan(images, _same, masks)


def policy_plans():
    """The plans of RandAugment and AugMix, by class."""
    from lamina.layers.rand_augment import AugMix, RandAugment

    return {RandAugment: _rand_augment, AugMix: _aug_mix}
