"""Masks carried by tensors: a ``KerasTensor``'s mask shape, an eager array's ``_keras_mask``.

Keras 3 gives a symbolic tensor the mask its layer computes (``Embedding(mask_zero=True)``),
and passes it to the next layer's ``call(..., mask=)`` while inferring output shapes, so a
layer that needs its mask (``assert mask is not None``) can be traced.  Here each output
``KerasTensor`` records the shape of its mask as ``_mask_shape`` (``None``: no mask); the
values flow at run time through the functional graph (:mod:`lamina.models.graph`).  A layer
called eagerly on arrays reads its input's ``_keras_mask`` and sets its output's, as Keras 3.

>>> from lamina.layers import Embedding, Input
>>> x = Embedding(10, 4, mask_zero=True)(Input((5,), dtype="int32"))
>>> x._mask_shape
(None, 5)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _is_kt(value) -> bool:
    return type(value).__name__ == "KerasTensor"


def input_mask_shapes(inputs):
    """The mask shape of ``inputs`` (one tensor), a list of them (several), or ``None``."""
    if _is_kt(inputs):
        return getattr(inputs, "_mask_shape", None)
    if isinstance(inputs, list | tuple):
        shapes = [getattr(t, "_mask_shape", None) if _is_kt(t) else None for t in inputs]
        return shapes if any(s is not None for s in shapes) else None
    return None


def _filled(shape, fill):
    return tuple(fill if d is None else d for d in shape)


def mask_values(mask_shape, fill):
    """All-true masks of ``mask_shape`` (a shape or a list of them), for abstract tracing."""
    if mask_shape is None:
        return None
    if isinstance(mask_shape, list):
        return [mask_values(s, fill) for s in mask_shape]
    return jnp.ones(_filled(mask_shape, fill), bool)


def output_mask_shape(layer, input_shape, mask_shape):
    """The shape of the mask ``layer`` passes on (as the graph's ``_output_mask`` computes
    it at run time), or ``None``."""
    from lamina.layers.base import Layer

    several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], tuple)
    own = type(layer).compute_mask is not Layer.compute_mask
    if not own:
        if several:
            return None
        if not layer.supports_masking:
            if mask_shape is not None:
                import warnings

                warnings.warn(
                    f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input "
                    "with a mask attached to it. However, this layer does not support masking "
                    "and will therefore destroy the mask information. Downstream layers will "
                    "not see the mask.",
                    stacklevel=3,
                )
            return None
        return mask_shape
    if several and mask_shape is None:
        return None

    def run(fill):
        def f():
            if several:
                x = [jnp.zeros(_filled(s, fill), jnp.float32) for s in input_shape]
            else:
                x = jnp.zeros(_filled(input_shape, fill), jnp.float32)
            return layer.compute_mask(x, mask_values(mask_shape, fill))

        out = jax.eval_shape(f)
        return tuple(out.shape) if hasattr(out, "shape") else None

    try:
        a, b = run(3), run(4)
    except Exception:  # a compute_mask that cannot run abstractly: no symbolic mask
        return None
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(None if p != q else p for p, q in zip(a, b))


def eager_input_mask(x):
    """The ``_keras_mask`` an eager input carries (one per tensor of a list), or None."""
    if isinstance(x, list | tuple):
        masks = [getattr(v, "_keras_mask", None) for v in x]
        return masks if any(m is not None for m in masks) else None
    return getattr(x, "_keras_mask", None)


def with_eager_mask(layer, x, y, mask):
    """``y`` carrying the layer's output mask as ``_keras_mask``, as Keras 3 sets it."""
    from lamina.models.graph_masks import _output_mask

    if isinstance(y, list | tuple) and y and all(isinstance(a, jax.Array) for a in y):
        # Several outputs (a layer splitting its input): one mask each, from compute_mask.
        if any(getattr(a, "_keras_mask", None) is not None for a in y):
            return y
        out = _output_mask(layer, x, mask, None)
        if isinstance(out, list | tuple) and len(out) == len(y):
            for a, m in zip(y, out):
                _set_mask(a, m)
        return y
    if not isinstance(y, jax.Array) or getattr(y, "_keras_mask", None) is not None:
        return y
    _set_mask(y, _output_mask(layer, x, mask, None))
    return y


def _set_mask(y, mask) -> None:
    if mask is not None:
        try:
            y._keras_mask = mask
        except AttributeError:  # an array type that takes no attributes
            pass
