"""Attention (Luong dot-product) and AdditiveAttention (Bahdanau), as ``keras.layers``.

Both take ``[query, value]`` or ``[query, value, key]`` and optional ``mask=[query_mask,
value_mask]``; ``return_attention_scores=True`` also returns the (batch, Tq, Tv) weights.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina import initializers as _initializers
from lamina.layers.base import Layer
from lamina.utils.random import generator_seed


class _BaseDenseAttention(Layer):
    uses_mask = True

    def __init__(self, dropout=0.0, seed=None, **kwargs: Any):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__}(dropout=...) must be in [0, 1); got {dropout!r}.")
        self.dropout = float(dropout)
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.dropout > 0)
        self.uses_rng = self.dropout > 0
        self._scores_out = False

    def __call__(self, inputs=None, *args, return_attention_scores=False, **kwargs):
        if return_attention_scores:
            kwargs["return_attention_scores"] = True
        self._scores_out = bool(return_attention_scores)
        try:
            return super().__call__(inputs, *args, **kwargs)
        finally:
            self._scores_out = False

    def _check(self, input_shape):
        if not (isinstance(input_shape, list | tuple) and len(input_shape) in (2, 3)
                and isinstance(input_shape[0], list | tuple)):
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} must be called on a list of inputs, "
                f"namely [query, value] or [query, value, key]. Received: {input_shape!r}."
            )
        return [tuple(s) for s in input_shape]

    def _scores(self, params, q, k):
        raise NotImplementedError

    def apply(self, params, state, x, *, training=False, key=None, mask=None,
              return_attention_scores=False, use_causal_mask=False):
        self._check([tuple(a.shape) for a in x])
        q, v = x[0], x[1]
        k = x[2] if len(x) > 2 else v
        q_mask, v_mask = (mask[0], mask[1]) if mask else (None, None)
        scores = self._scores(params, q, k)
        score_mask = None if v_mask is None else jnp.asarray(v_mask).astype(bool)[..., None, :]
        if use_causal_mask:
            causal = jnp.tril(jnp.ones((1, scores.shape[-2], scores.shape[-1]), bool))
            score_mask = causal if score_mask is None else score_mask & causal
        if score_mask is not None:
            scores = jnp.where(score_mask, scores, scores - 1.0e9)
        weights = jax.nn.softmax(scores, axis=-1)
        used = weights
        if training and self.dropout > 0 and key is not None:
            keep = jax.random.bernoulli(key, 1.0 - self.dropout, weights.shape)
            used = jnp.where(keep, weights / (1.0 - self.dropout), 0.0)
        out = jnp.matmul(used, v)
        if q_mask is not None:
            out = jnp.where(jnp.asarray(q_mask).astype(bool)[..., None], out, 0.0)
        return ((out, weights) if return_attention_scores else out), state

    def compute_output_shape(self, input_shape):
        shapes = self._check(input_shape)
        out = (*shapes[0][:-1], shapes[1][-1])
        if self._scores_out:
            return [out, (*shapes[0][:-1], shapes[1][-2])]
        return out

    def compute_mask(self, x, mask):
        return None if not mask else mask[0]

    def peak_activation_values(self, input_shapes) -> int:
        """Values per row of the scores for inputs ``[query, value(, key)]`` (sizes predict's
        tiles)."""
        q = input_shapes[0]
        v = input_shapes[1] if len(input_shapes) > 1 else q
        return int((q[-2] or 1) * (v[-2] or 1))

    def get_config(self):
        config = super().get_config()
        config.update(dropout=self.dropout, seed=self.seed)
        return config


class Attention(_BaseDenseAttention):
    """Dot-product (Luong-style) attention, as ``keras.layers.Attention``.

    Args:
        use_scale: learn a scalar ``scale`` multiplying the scores.
        score_mode: ``"dot"`` (``query @ key^T``) or ``"concat"``
            (``sum(tanh(query + key))`` times a learned ``concat_score_weight``).
        dropout: dropout rate on the attention weights (training only).
        seed: accepted for Keras compatibility.

    Raises:
        ValueError: for another ``score_mode`` or inputs that are not a list.

    >>> import numpy as np
    >>> from lamina.layers import Attention
    >>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
    >>> Attention()([q, v]).shape
    (2, 3, 4)
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}"
            )
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def init(self, key, input_shape):
        self._check(input_shape)
        params = {}
        if self.use_scale:
            params["scale"] = jnp.ones((), jnp.float32)
        if self.score_mode == "concat":
            params["concat_score_weight"] = jnp.ones((), jnp.float32)
        return params, {}

    def _scores(self, params, q, k):
        if self.score_mode == "dot":
            scores = jnp.matmul(q, jnp.swapaxes(k, -2, -1))
            return scores * params["scale"] if self.use_scale else scores
        s = q[..., :, None, :] + k[..., None, :, :]
        if self.use_scale:
            s = params["scale"] * s
        return params["concat_score_weight"] * jnp.sum(jnp.tanh(s), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode)
        return config


class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau-style) attention, as ``keras.layers.AdditiveAttention``.

    Scores are ``sum(scale * tanh(query + key), axis=-1)`` with a learned per-feature ``scale``
    (glorot-uniform initialized) when ``use_scale`` (the default).

    Args:
        use_scale: learn the ``scale`` vector.
        dropout: dropout rate on the attention weights (training only).

    >>> import numpy as np
    >>> from lamina.layers import AdditiveAttention
    >>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
    >>> AdditiveAttention()([q, v]).shape
    (2, 3, 4)
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def init(self, key, input_shape):
        shapes = self._check(input_shape)
        if not self.use_scale:
            return {}, {}
        init = _initializers.get("glorot_uniform")
        return {"scale": init((shapes[0][-1],), jnp.float32, key=key)}, {}

    def _scores(self, params, q, k):
        s = jnp.tanh(q[..., :, None, :] + k[..., None, :, :])
        if self.use_scale:
            s = s * params["scale"].reshape((1,) * (s.ndim - 1) + (-1,))
        return jnp.sum(s, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale)
        return config
