"""Keras 3.15's two attention options shared by ``MultiHeadAttention`` and
``GroupQueryAttention``: ``use_gate`` (a sigmoid gate, projected from the query like the
values, multiplies the attention output per head before the output projection: "Gated
Attention for Large Language Models") and ``sliding_window`` (each query position attends only
to keys less than ``sliding_window`` positions away, a symmetric band; with
``use_causal_mask=True`` it gives Mistral's causal sliding window).

>>> import numpy as np
>>> sliding_window_mask(3, 3, 2).astype(int).tolist()
[[[1, 1, 0], [1, 1, 1], [0, 1, 1]]]
"""

from __future__ import annotations

import jax.numpy as jnp

#: The projections in Keras's weight order: the gate is built between the key and the value.
PROJECTIONS = ("query", "key", "value", "attention_output")
GATED_PROJECTIONS = ("query", "key", "gate", "value", "attention_output")


def check_sliding_window(sliding_window):
    """``sliding_window`` if it is None or a positive integer, else Keras's ``ValueError``."""
    if sliding_window is not None and (
        not isinstance(sliding_window, int) or sliding_window <= 0
    ):
        raise ValueError(
            "`sliding_window` must be `None` or a positive integer. "
            f"Received: sliding_window={sliding_window}"
        )
    return sliding_window


def projections(layer) -> tuple:
    """The projection names of ``layer``'s weights, in Keras's order."""
    return GATED_PROJECTIONS if layer.use_gate else PROJECTIONS


def sliding_window_mask(t: int, s: int, window: int):
    """The boolean ``(1, T, S)`` band ``|i - j| < window`` (Keras's
    ``_compute_sliding_window_mask``)."""
    rows = jnp.arange(t, dtype=jnp.int32).reshape(1, t, 1)
    cols = jnp.arange(s, dtype=jnp.int32).reshape(1, 1, s)
    return jnp.abs(rows - cols) < window


def gated(layer, params, query, out):
    """``out`` (``(B, T, heads, dim)``) times the sigmoid gate projected from ``query``, when
    ``layer.use_gate``; ``out`` unchanged otherwise."""
    if not layer.use_gate:
        return out
    from jax.nn import sigmoid

    return out * sigmoid(layer._project(params, "gate", query, 1, 2))


def projection_keys(layer, key) -> list:
    """``[(name, kernel key, bias key)]`` of ``layer``'s projections, in Keras's order (an
    ungated layer splits its key as it always has: its initial weights do not change)."""
    from lamina.utils import random as _random

    names = projections(layer)
    keys = _random.split(key, 2 * len(names))
    return [(name, keys[2 * i], keys[2 * i + 1]) for i, name in enumerate(names)]
