"""Keras's recurrent dropout masks, drawn from the layer's ``SeedGenerator`` state.

Keras's recurrent cells (``DropoutRNNCell``) draw their masks once per call, before the time
loop, from the cell's ``SeedGenerator``: first the input masks, then the recurrent masks, each
from the raw key ``[seed, k]`` with ``k`` advanced by one per mask.  A cell running its gates
one by one (LSTM and GRU with ``recurrent_dropout``, ``implementation=1``, ConvLSTM) draws one
mask per gate; otherwise one input mask (LSTM, GRU, SimpleRNN) and one recurrent mask.  Keras
draws them at every call, in inference too (only training applies them), so the counter moves
on at every call.

A layer whose generator is seeded (``seed=`` given, or made after ``set_random_seed``) keeps
the generator's ``uint32[2]`` state in its ``state`` under
:data:`~lamina.layers.seed_state.STATE_KEY`, outside its weights; a fit then draws Keras's
masks.  Other layers draw their masks from the step's key, as before.

>>> import numpy as np
>>> state = {STATE_KEY: np.asarray([7, 0], np.uint32)}
>>> dp, rdp, new = draw_masks(state, True, (0.5, 0.5), (1, 1), (2, 3), (2, 4))
>>> dp.shape, rdp.shape, new[STATE_KEY].tolist()
((1, 2, 3), (1, 2, 4), [7, 2])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.seed_state import STATE_KEY, generator_state
from lamina.utils.random import user_seeded

__all__ = ["STATE_KEY", "draw_masks", "initial_state", "mask_counts", "seeded"]


def seeded(seed, active: bool) -> bool:
    """Whether a recurrent layer with dropout (``active``) draws Keras's masks from its own
    generator: its ``seed`` is given, or :func:`~lamina.utils.set_random_seed` was called."""
    return bool(active) and (seed is not None or user_seeded())


def initial_state(layer) -> dict:
    """``{STATE_KEY: [seed, 0]}`` for a layer drawing Keras's masks, else ``{}``."""
    if not layer.__dict__.get("_keras_masks", False):
        return {}
    return generator_state(layer)


def mask_counts(dropout: float, recurrent_dropout: float, gates: int, per_gate: bool):
    """``(input masks, recurrent masks)`` Keras draws per call."""
    n_dp = (gates if per_gate else 1) if 0 < dropout < 1 else 0
    n_rdp = gates if 0 < recurrent_dropout < 1 else 0
    return n_dp, n_rdp


def draw_masks(state, training, rates, counts, dp_shape, rdp_shape):
    """``(input masks, recurrent masks, new state)``: the masks (``(n, *shape)``, values 0 or
    ``1 / (1 - rate)``, or None) in training, and ``state`` with its counter advanced by every
    mask Keras draws, in inference too."""
    seed = jnp.asarray(state[STATE_KEY], jnp.uint32)
    (rate, rec_rate), (n_dp, n_rdp) = rates, counts
    new = {**state, STATE_KEY: seed + jnp.asarray([0, n_dp + n_rdp], jnp.uint32)}
    if not training:
        return None, None, new

    def masks(first, n, p, shape):
        if n == 0:
            return None
        keep = 1.0 - p
        keys = [seed + jnp.asarray([0, first + i], jnp.uint32) for i in range(n)]
        return jnp.stack([jax.random.bernoulli(k, keep, shape) for k in keys]) / keep

    dp = masks(0, n_dp, rate, tuple(dp_shape))
    return dp, masks(n_dp, n_rdp, rec_rate, tuple(rdp_shape)), new
