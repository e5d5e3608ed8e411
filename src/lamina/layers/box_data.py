"""The ``{"images", "bounding_boxes", "labels", "segmentation_masks"}`` input of Keras 3's
image preprocessing layers, shared by every layer that moves boxes with its images.

A layer opts in by listing :class:`BoundingBoxAware` first among its bases: it then takes
Keras's ``bounding_box_format=`` argument (saved in its config when set), and its ``apply``
accepts a dict as Keras's ``BaseImagePreprocessingLayer.call`` does. The dict path draws the
layer's random transformation once (from the same key, in the same way as a plain image call,
so the images come out equal), applies it to the images, hands it to the layer's box
transform (``lamina.layers.box_plans``) and to the segmentation masks, and passes class labels
through. Unbatched inputs (an image of rank 3, boxes ``(N, 4)``) get a batch axis of one, as
Keras's ``transform_single_*`` methods.

>>> import numpy as np, lamina
>>> layer = lamina.layers.Resizing(4, 4, bounding_box_format="xyxy")
>>> out = layer({"images": np.zeros((8, 8, 3), "float32"),
...              "bounding_boxes": {"boxes": np.array([[0.0, 0, 4, 8]]), "labels": [1]}})
>>> out["images"].shape, out["bounding_boxes"]["boxes"].tolist()
((4, 4, 3), [[0.0, 0.0, 2.0, 4.0]])
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

_KEYS = ("images", "bounding_boxes", "labels", "segmentation_masks")


def densify_bounding_boxes(bounding_boxes, layer_name="layer"):
    """Keras's ``densify_bounding_boxes`` for dense inputs: checks the dict and its ranks and
    returns float32 boxes with the labels as an array.

    Args:
        bounding_boxes: a dict with ``"boxes"`` and ``"labels"``.
        layer_name: the layer named in errors.

    Returns:
        A new dict with ``"boxes"`` (float32) and ``"labels"`` arrays.

    Raises:
        ValueError: a non-dict, missing keys, or ranks Keras refuses.

    >>> densify_bounding_boxes({"boxes": [[0, 0, 1, 1]], "labels": [3]})["boxes"].dtype
    dtype('float32')
    """
    if not isinstance(bounding_boxes, dict) or not {"boxes", "labels"} <= set(bounding_boxes):
        raise ValueError(
            f"{layer_name}: expected `bounding_boxes` to be a dict with keys 'boxes' and "
            f"'labels'. Received: bounding_boxes={bounding_boxes!r}"
        )
    boxes = jnp.asarray(bounding_boxes["boxes"], jnp.float32)
    labels = jnp.asarray(bounding_boxes["labels"])
    allowed = {2: (1, 2), 3: (2, 3)}.get(boxes.ndim)
    if allowed is None or boxes.shape[-1] != 4:
        raise ValueError(
            "Expected `bounding_boxes['boxes']` to have rank 2 or 3, with shape (num_boxes, 4) "
            f"or (batch_size, num_boxes, 4). Received: bounding_boxes['boxes'].shape="
            f"{boxes.shape}"
        )
    if labels.ndim not in allowed:
        raise ValueError(
            f"Found bounding_boxes['boxes'].shape={boxes.shape} and expected "
            f"bounding_boxes['labels'] to have rank {allowed[0]} or {allowed[1]}, but "
            f"received: bounding_boxes['labels'].shape={labels.shape}"
        )
    out = dict(bounding_boxes)
    out["boxes"], out["labels"] = boxes, labels
    return out


def is_batched(images, layer_name):
    """Whether ``images`` is a batch (rank 4) rather than one image (rank 3)."""
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{layer_name}: expected image tensor to have rank 3 (single image) or 4 (batch of "
            f"images). Received: data.shape={images.shape}"
        )
    return images.ndim == 4


def data_dict_build_shape(x):
    """The input shape a ``Sequential`` first called on Keras's data dict builds from: its
    images' shape with a batch axis (one added to a single image), or ``None`` for any other
    input.

    Keras does not build a ``Sequential`` on a nested input (it runs the layers in turn), so
    the model must not take the shape of whichever leaf comes first (the boxes sort before
    the images): a later call on plain images of any size, or the model used inside another,
    must still work.

    >>> import numpy as np
    >>> data_dict_build_shape({"images": np.zeros((8, 6, 3)), "labels": np.zeros(())})
    (1, 8, 6, 3)
    >>> data_dict_build_shape({"a": np.zeros((2, 3))}) is None
    True
    """
    if not isinstance(x, dict) or "images" not in x or not set(x) <= set(_KEYS):
        return None
    shape = tuple(getattr(x["images"], "shape", ()))
    if len(shape) not in (3, 4):
        return None  # the layers' own call says what is wrong
    return shape if len(shape) == 4 else (1, *shape)


def _batch_boxes(bounding_boxes, batched):
    if batched:
        return bounding_boxes
    return {k: (v[None] if k in ("boxes", "labels") else v) for k, v in bounding_boxes.items()}


def _unbatch_boxes(bounding_boxes, batched):
    if batched:
        return bounding_boxes
    return {k: (v[0] if k in ("boxes", "labels") else v) for k, v in bounding_boxes.items()}


def apply_to_data(layer, image_apply, params, state, data, training, key):
    """Runs ``layer`` on Keras's data dict; ``image_apply`` is its plain-image ``apply``."""
    from lamina.layers.box_plans import plan_for

    name = type(layer).__name__
    unknown = set(data) - set(_KEYS)
    if "images" not in data or unknown:
        raise ValueError(
            f"{name} takes images or a dict with an 'images' key (and optionally "
            f"'bounding_boxes', 'labels' and 'segmentation_masks'). Received keys: "
            f"{sorted(data)}."
        )
    images = jnp.asarray(data["images"], jnp.float32)
    batched = is_batched(images, name)
    batch = images if batched else images[None]
    plan = plan_for(layer)(layer, image_apply, params, state, batch, bool(training), key)
    out = dict(data)
    out["images"] = plan.images if batched else plan.images[0]
    if "bounding_boxes" in data:
        if not getattr(layer, "bounding_box_format", None):
            raise ValueError(
                "You passed an input with a 'bounding_boxes' key, but you didn't specify a "
                f"bounding box format. Pass a `bounding_box_format` argument to your {name} "
                "layer, e.g. `bounding_box_format='xyxy'`."
            )
        boxes = _batch_boxes(densify_bounding_boxes(data["bounding_boxes"], name), batched)
        out["bounding_boxes"] = _unbatch_boxes(plan.boxes(boxes), batched)
    if "labels" in data:
        labels = jnp.asarray(data["labels"])  # class labels: geometry leaves them alone
        if plan.labels is not None:  # mixing layers (MixUp, CutMix) mix them
            labels = plan.labels(labels if batched else labels[None])
            labels = labels if batched else labels[0]
        out["labels"] = labels
    if "segmentation_masks" in data:
        masks = jnp.asarray(data["segmentation_masks"])
        masks = plan.masks(masks if batched else masks[None])
        out["segmentation_masks"] = masks if batched else masks[0]
    return out


def _route_dicts(apply):
    @functools.wraps(apply)
    def wrapper(self, params, state, x, *args, training=False, key=None, **kwargs):
        if isinstance(x, dict):
            image_apply = functools.partial(apply, self)
            return apply_to_data(self, image_apply, params, state, x, training, key), state
        return apply(self, params, state, x, *args, training=training, key=key, **kwargs)

    wrapper._routes_box_dicts = True
    return wrapper


class BoundingBoxAware:
    """Mixin: Keras's ``bounding_box_format`` argument and the data-dict call.

    List it before ``Layer`` (``class Resizing(BoundingBoxAware, Layer)``); every ``apply``
    the class (or a subclass) defines then accepts Keras's data dict.
    """

    def __init__(self, *args, bounding_box_format=None, **kwargs):
        super().__init__(*args, **kwargs)
        if bounding_box_format is not None:
            from lamina.utils.bounding_boxes.formats import SUPPORTED_FORMATS

            if str(bounding_box_format).lower() not in SUPPORTED_FORMATS:
                raise ValueError(
                    f"{type(self).__name__}: `bounding_box_format` must be one of "
                    f"{SUPPORTED_FORMATS}. Received: bounding_box_format={bounding_box_format!r}"
                )
        self.bounding_box_format = bounding_box_format

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("apply")
        if own is not None and not getattr(own, "_routes_box_dicts", False):
            cls.apply = _route_dicts(own)

    def get_config(self):
        config = super().get_config()
        if self.bounding_box_format is not None:  # Keras saves it only when set
            config["bounding_box_format"] = self.bounding_box_format
        return config
