"""The Keras masks of a functional graph's nodes: which masks a node's layer gets from its
inputs' (``mask``, or ``query_mask``/``value_mask``/``key_mask`` for an attention layer on
several tensors) and the mask of its output, as Keras's ``Layer.__call__`` and
``compute_mask`` fill them in.  Used by :mod:`lamina.models.graph` and by the traced calls of
:mod:`lamina.layers.tracing`.

>>> import numpy as np
>>> from lamina.layers import Masking
>>> x = np.array([[[0.0], [1.0]]], "float32")
>>> np.asarray(_output_mask(Masking(), x, None, None)).tolist()
[[False, True]]
"""

from __future__ import annotations

from lamina.layers.symbolic import KerasTensor

_QUERY_VALUE_KEY = ("query_mask", "value_mask", "key_mask")


def _takes_qvk_masks(layer) -> bool:
    """Whether ``layer.apply`` takes ``query_mask``/``value_mask``/``key_mask``
    (``MultiHeadAttention`` and its kin, called on ``[query, value, key]``)."""
    import inspect

    cls = type(layer)
    found = cls.__dict__.get("_lamina_takes_qvk")
    if found is None:
        try:
            params = inspect.signature(layer.apply).parameters
        except (TypeError, ValueError):
            params = {}
        found = "query_mask" in params
        cls._lamina_takes_qvk = found
    return found


def _node_masks(node, layer, arg, kwargs, masks):
    """The masks a node's layer gets, as Keras's ``Layer.__call__`` fills them in from its
    inputs' masks: ``mask`` (one per tensor of the first argument: one mask, or a list), or,
    for a layer called on several named tensors (``MultiHeadAttention(query, value)``),
    ``query_mask``/``value_mask``/``key_mask``.  Returns ``(mask, query mask or None)``;
    fills ``kwargs`` with the per-tensor masks."""
    mask = kwargs.pop("mask", None)
    first = node.args[0] if node.args else None
    if isinstance(first, KerasTensor):
        if mask is None:
            mask = masks.get(id(first))
        return mask, None
    if not isinstance(first, list | tuple) or not masks:
        return mask, None
    found = [masks.get(id(t)) if isinstance(t, KerasTensor) else None for t in first]
    if _takes_qvk_masks(layer):
        for name, m in zip(_QUERY_VALUE_KEY, found):
            if m is not None and kwargs.get(name) is None:
                kwargs[name] = m
        return mask, kwargs.get("query_mask")
    if mask is None and any(m is not None for m in found):
        mask = found
    return mask, None


def _output_mask(layer, arg, mask, query_mask):
    """The mask of a node's output (Keras's ``compute_mask``; an attention layer's output
    keeps its query's mask)."""
    from lamina.layers.base import Layer

    if query_mask is not None:
        return query_mask
    if not isinstance(arg, list | tuple | dict):
        return layer.compute_mask(arg, mask)
    if mask is None or type(layer).compute_mask is Layer.compute_mask:
        if isinstance(mask, list | tuple) and mask and getattr(layer, "supports_masking", False):
            # Keras pairs the flattened input masks with the outputs: a masking layer on
            # ``[x, context]`` (a Transformer decoder block) passes ``x``'s mask on.
            return mask[0]
        return None  # a layer on several inputs passes a mask on only if it computes one
    out = layer.compute_mask(arg, mask)
    return None if isinstance(out, list | tuple) else out
