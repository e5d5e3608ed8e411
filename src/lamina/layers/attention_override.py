"""A user subclass of ``MultiHeadAttention`` that overrides ``_compute_attention``.

``_compute_attention(query, key, value, attention_mask, training, return_attention_scores)``
is Keras's documented hook for a custom attention over the projected ``(B, T, N, H)`` heads:
keras.io's "Vision Transformer for small-size datasets" replaces the fixed ``1/sqrt(key_dim)``
scale with a trainable temperature ``self.tau`` (a ``keras.Variable`` made in ``__init__``).
Such an override reads Keras's private helpers: ``_dot_product_equation`` and
``_combine_equation`` (set from the inputs' rank), ``_masked_softmax``, ``_dropout_layer``,
``_key_dim``, ``_inverse_sqrt_key_dim``, ...; :class:`AttentionInternals` gives them, and
:func:`run_override` runs the override inside ``apply`` with the layer's weights (the
subclass's own variables included) bound to this call's arrays, as in
:mod:`lamina.layers.call_override`.

>>> import numpy as np
>>> from lamina import layers, ops
>>> class Halved(layers.MultiHeadAttention):
...     def _compute_attention(self, query, key, value, attention_mask=None,
...                            training=None, return_attention_scores=False):
...         scores = ops.einsum(self._dot_product_equation, key, query * 0.5)
...         scores = self._masked_softmax(scores, attention_mask)
...         return ops.einsum(self._combine_equation, scores, value), scores
>>> x = np.ones((2, 3, 4), "float32")
>>> Halved(num_heads=2, key_dim=4)(x, x).shape
(2, 3, 4)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.attention_ops import attention_equations
from lamina.layers.variables import Scope, current_scope


class AttentionInternals:
    """Keras's private ``MultiHeadAttention`` attributes an overriding ``_compute_attention``
    reads (Keras names them; their values are the layer's own)."""

    @property
    def _key_dim(self):
        return self.key_dim

    @property
    def _value_dim(self):
        return self.value_dim

    @property
    def _num_heads(self):
        return self.num_heads

    @property
    def _dropout(self):
        return self.dropout

    @property
    def _inverse_sqrt_key_dim(self):
        return 1.0 / float(self.key_dim) ** 0.5

    @property
    def _dropout_layer(self):
        return _ScoresDropout(self.dropout)

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        """Keras's dot-product attention over projected ``(B, T, N, H)`` heads: returns
        ``(attention_output, attention_scores)``.  Override it in a subclass for a custom
        attention; ``super()._compute_attention(...)`` reaches this one."""
        query = jnp.asarray(query) * self._inverse_sqrt_key_dim
        scores = jnp.einsum(self._dot_product_equation, key, query)
        scores = self._masked_softmax(scores, attention_mask)
        dropped = self._dropout_layer(scores, training=training)
        return jnp.einsum(self._combine_equation, dropped, value), scores

    def _masked_softmax(self, attention_scores, attention_mask=None):
        """Keras's ``_masked_softmax``: the softmax over the key axes, ``attention_mask``
        (``(B, T, S)``, broadcast over the heads) set to -1e9 before and to 0 after."""
        scores = jnp.asarray(attention_scores)
        axes = self.__dict__.get("_attention_axes") or (1,)
        norm = tuple(range(scores.ndim - len(axes), scores.ndim))
        if attention_mask is None:
            return jax.nn.softmax(scores, axis=norm)
        mask = jnp.asarray(attention_mask)
        mask = mask if mask.dtype == jnp.bool_ else mask > 0.5
        while mask.ndim < scores.ndim:
            mask = jnp.expand_dims(mask, -len(axes) * 2 - 1)
        probs = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=norm)
        return jnp.where(mask, probs, 0.0)


class _ScoresDropout:
    """Keras's ``self._dropout_layer``: dropout on the attention probabilities, drawing from
    the key of the layer's call (identity outside training)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, inputs, training=None):
        scope = current_scope()
        training = scope.training if training is None and scope is not None else training
        if not training or self.rate <= 0 or scope is None or scope.key is None:
            return inputs
        keep = jax.random.bernoulli(scope.next_key(), 1.0 - self.rate, jnp.shape(inputs))
        return jnp.where(keep, inputs / (1.0 - self.rate), 0.0)


def install(cls) -> None:
    """Readies ``cls`` (a subclass of ``MultiHeadAttention``) when it overrides
    ``_compute_attention``: its ``init`` adds the variables its ``__init__`` made (first, as
    Keras lists them), and its compiled programs are keyed on the object, since the override
    may read attributes the config leaves out."""
    if "_compute_attention" not in cls.__dict__:
        return
    from lamina.layers.call_override import _with_early_variables

    if not getattr(cls.init, "_adds_early_variables", False):
        cls.init = _with_early_variables(cls.init)
    spec_key = cls._spec_key
    cls._spec_key = lambda self: (*spec_key(self), "_compute_attention", id(self))


def with_own_variables(layer, groups: list) -> list:
    """The layer's file groups with the variables its subclass made in ``__init__`` (the
    LSA temperature) first, in the layer's own ``vars`` group, where Keras saves them."""
    early = tuple(v._key for v in layer.__dict__.get("_early_variables") or ())
    return [((), early), *groups] if early else groups


def overrides(layer) -> bool:
    """Whether ``layer``'s class overrides Keras's ``_compute_attention``."""
    from lamina.layers.attention import MultiHeadAttention

    return type(layer)._compute_attention is not MultiHeadAttention._compute_attention


def run_override(layer, params, state, q, k, v, mask, training, key, want_scores):
    """``layer._compute_attention`` on the projected heads, with the layer's weights bound
    (``self.tau`` in the override reads this call's array, so gradients reach it)."""
    axes = layer._axes(q.ndim)
    dot_eq, combine_eq, _ = attention_equations(q.ndim, axes)
    # Keras sets these in ``_build_attention``; they are constants of the inputs' rank.
    layer.__dict__.update(
        _attention_axes=axes, _dot_product_equation=dot_eq, _combine_equation=combine_eq
    )
    scope = Scope(training=training, key=key)
    with scope, jax.numpy_rank_promotion("allow"):
        scope.bind(layer, dict(params), dict(state))
        out, scores = layer._compute_attention(q, k, v, mask, training, want_scores)
    return jnp.asarray(out), (None if scores is None else jnp.asarray(scores))
