"""``ReversibleEmbedding``: an embedding that also projects vectors back to vocabulary logits.

As ``keras.layers.ReversibleEmbedding``: ``layer(ids)`` embeds like ``Embedding``;
``layer(vectors, reverse=True)`` returns ``vectors @ embeddings.T`` (tied weights, the
default) or ``vectors @ reverse_embeddings`` (``tie_weights=False``, a second
``(output_dim, input_dim)`` weight), optionally soft-capped: ``tanh(logits / cap) * cap``.
The usual language-model head: embed tokens at the input, score the vocabulary at the output.

Both calls work eagerly, in functional graphs (``emb(h, reverse=True)`` on a KerasTensor)
and inside a subclassed model's or a Keras-style layer's ``call``.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import initializers as _initializers
from lamina.layers.embedding import Embedding
from lamina.layers.lora import merged
from lamina.utils import random as _random


class ReversibleEmbedding(Embedding):
    """An ``Embedding`` whose ``reverse=True`` call maps vectors to vocabulary logits.

    Args:
        input_dim, output_dim, embeddings_initializer, embeddings_regularizer,
        embeddings_constraint, mask_zero: as ``Embedding``.
        tie_weights: reuse ``embeddings`` (transposed) for the reverse projection; else learn
            a separate ``reverse_embeddings`` weight.
        reverse_dtype: the dtype of the reverse matmul (``None``: the layer's).
        logit_soft_cap: if set, reverse logits become ``tanh(logits / cap) * cap``.

    >>> import jax, numpy as np
    >>> from lamina.layers import ReversibleEmbedding
    >>> layer = ReversibleEmbedding(10, 4)
    >>> params, state = layer.init(jax.random.key(0), (None, 3))
    >>> h, _ = layer.apply(params, state, np.array([[1, 2, 3]]))
    >>> logits, _ = layer.apply(params, state, h, reverse=True)
    >>> tuple(h.shape), tuple(logits.shape)
    ((1, 3, 4), (1, 3, 10))
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        reverse_dtype=None,
        logit_soft_cap=None,
        **kwargs,
    ):
        super().__init__(
            input_dim,
            output_dim,
            embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            **kwargs,
        )
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def init(self, key, input_shape):
        ekey, rkey = _random.split(key)
        params, state = super().init(ekey, input_shape)
        if not self.tie_weights:
            shape = (self.output_dim, self.input_dim)
            params["reverse_embeddings"] = _initializers.or_default(self.embeddings_initializer)(shape, jnp.float32, key=rkey)
        return params, state

    def apply(self, params, state, x, *, training=False, key=None, reverse=False):
        if not reverse:
            return super().apply(params, state, x, training=training, key=key)
        params = merged(self, params, state)  # LoRA's effective embeddings, when enabled
        kernel = (
            jnp.transpose(params["embeddings"])
            if self.tie_weights
            else params["reverse_embeddings"]
        )
        x = jnp.asarray(x)
        if self.reverse_dtype is not None:
            x, kernel = x.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
        logits = jnp.matmul(x, kernel)
        if self.logit_soft_cap is not None:
            cap = self.logit_soft_cap
            logits = jnp.tanh(logits / cap) * cap
        return logits, state

    def __call__(self, *args, reverse=False, **kwargs):
        if not reverse:
            return super().__call__(*args, **kwargs)
        # A symbolic call asks compute_output_shape(shape) without the call's arguments.
        self.__dict__["_reverse_call"] = True
        try:
            return super().__call__(*args, reverse=True, **kwargs)
        finally:
            self.__dict__.pop("_reverse_call", None)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse or vars(self).get("_reverse_call"):
            return (*tuple(input_shape)[:-1], self.input_dim)
        return super().compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            tie_weights=self.tie_weights,
            reverse_dtype=self.reverse_dtype,
            logit_soft_cap=self.logit_soft_cap,
        )
        return config


__all__ = ["ReversibleEmbedding"]
