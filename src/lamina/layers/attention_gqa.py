"""GroupQueryAttention (as ``keras.layers.GroupQueryAttention``): fewer key/value heads than
query heads, each key/value head shared by ``num_query_heads // num_key_value_heads`` query
heads. The masks, the scores and the call signature are :class:`MultiHeadAttention`'s."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina._naming import unique_name
from lamina.layers import attention_gating as _gating
from lamina.layers.attention import MultiHeadAttention
from lamina.layers.einsum_dense import _ser


class GroupQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al., 2023), as Keras's layer.

    Args:
        head_dim: size of each attention head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key/value heads; must divide ``num_query_heads``.
        dropout, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint, seed, use_gate,
        sliding_window: as for :class:`MultiHeadAttention`.

    Inputs are ``(batch, seq, features)``; the output has the query's shape.

    Raises:
        ValueError: when ``num_key_value_heads`` does not divide ``num_query_heads``.

    >>> import numpy as np
    >>> from lamina.layers import GroupQueryAttention
    >>> gqa = GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    >>> x = np.ones((2, 5, 8), "float32")
    >>> gqa(x, x).shape
    (2, 5, 8)
    """

    #: Keras's class behind ``keras.layers.GroupQueryAttention`` (its group in Keras's files).
    _keras_class_name = "GroupedQueryAttention"
    #: Keras's ``GroupedQueryAttention.call`` leaves its inputs' masks in place.
    _clears_input_masks = False

    def __init__(
        self,
        head_dim,
        num_query_heads,
        num_key_value_heads,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs: Any,
    ):
        if isinstance(num_key_value_heads, int) and num_key_value_heads > 0 and isinstance(
            num_query_heads, int
        ) and num_query_heads % num_key_value_heads:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`.")
        if not isinstance(num_key_value_heads, int) or num_key_value_heads < 1:
            raise ValueError(
                "GroupQueryAttention(num_key_value_heads=...) must be a positive integer; "
                f"received {num_key_value_heads!r}."
            )
        if kwargs.get("name") is None:  # Keras's class is GroupedQueryAttention: its auto-name
            kwargs["name"] = unique_name("grouped_query_attention")
        super().__init__(
            num_heads=num_query_heads,
            key_dim=head_dim,
            dropout=dropout,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            seed=seed,
            **kwargs,
        )
        self.num_key_value_heads = int(num_key_value_heads)

    @property
    def head_dim(self):
        return self.key_dim

    @property
    def num_query_heads(self):
        return self.num_heads

    def _split(self, input_shape):
        q, v, k = super()._split(input_shape)
        if len(q) != 3 or len(v) != 3 or len(k) != 3:
            raise ValueError(
                f"{self.name!r} (GroupQueryAttention) expects inputs of shape (batch, seq, "
                f"features); received query {q}, value {v}, key {k}."
            )
        return q, v, k

    def init(self, key, input_shape):
        q, v, k = self._split(input_shape)
        h, n, kv = self.key_dim, self.num_heads, self.num_key_value_heads
        shapes = {"query": (q[-1], n, h), "key": (k[-1], kv, h), "value": (v[-1], kv, h),
                  "attention_output": (n, h, q[-1]), "gate": (q[-1], n, h)}
        biases = {"query": (n, h), "key": (kv, h), "value": (kv, h), "attention_output": (q[-1],),
                  "gate": (n, h)}
        params = {}
        for name, kernel_key, bias_key in _gating.projection_keys(self, key):
            params[f"{name}/kernel"] = _initializers.or_default(self.kernel_initializer)(
                shapes[name], jnp.float32, key=kernel_key
            )
            if self.use_bias:
                params[f"{name}/bias"] = _initializers.or_default(self.bias_initializer)(
                    biases[name], jnp.float32, key=bias_key
                )
        return params, {}

    def apply(self, params, state, x, *, training=False, key=None, query_mask=None,
              value_mask=None, key_mask=None, attention_mask=None,
              return_attention_scores=False, use_causal_mask=False, mask=None):
        query, value, key_t = x
        mask = self.attention_mask(
            query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
        )
        repeats = self.num_heads // self.num_key_value_heads
        q = self._project(params, "query", query, 1, 2)
        k = jnp.repeat(self._project(params, "key", key_t, 1, 2), repeats, axis=2)
        v = jnp.repeat(self._project(params, "value", value, 1, 2), repeats, axis=2)
        out, scores = self._attend(q, k, v, mask, training, key, return_attention_scores)
        out = _gating.gated(self, params, query, out)
        y = self._project(params, "attention_output", out, 2, 1)
        return ((y, scores) if return_attention_scores else y), state

    def _keras_weight_groups(self):
        """Keras's groups, under the sub-layers' private attribute names (``_query_dense``:
        unlike ``MultiHeadAttention``, Keras's class has no public properties for them)."""
        return [
            ((sub[0] if sub[0].startswith("_") else f"_{sub[0]}",), keys)
            for sub, keys in super()._keras_weight_groups()
        ]

    def get_config(self):
        config = super(MultiHeadAttention, self).get_config()
        config.update(
            head_dim=self.key_dim,
            num_query_heads=self.num_heads,
            num_key_value_heads=self.num_key_value_heads,
            use_bias=self.use_bias,
            use_gate=self.use_gate,
            sliding_window=self.sliding_window,
            dropout=self.dropout,
            kernel_initializer=_initializers.serialize(self.kernel_initializer),
            bias_initializer=_initializers.serialize(self.bias_initializer),
            kernel_regularizer=_ser(_regularizers.serialize, self.kernel_regularizer),
            bias_regularizer=_ser(_regularizers.serialize, self.bias_regularizer),
            activity_regularizer=_ser(_regularizers.serialize, self.activity_regularizer),
            kernel_constraint=_ser(_constraints.serialize, self.kernel_constraint),
            bias_constraint=_ser(_constraints.serialize, self.bias_constraint),
            seed=self.seed,
        )
        return config
