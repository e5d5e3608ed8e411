"""MultiHeadAttention (as ``keras.layers.MultiHeadAttention``).

The layer's call signature is Keras's, ``mha(query, value, key=None, attention_mask=None, ...)``;
:meth:`MultiHeadAttention.__call__` packs ``[query, value, key]`` into the single input the
layer protocol expects and passes the masks and flags on to ``apply`` as keyword arguments, so
the same call works eagerly and on symbolic tensors of a functional model.

Weights are named and ordered as Keras's: ``query/kernel``, ``query/bias``, ``key/...``,
``value/...``, ``attention_output/...`` (its EinsumDense sub-layers).  The maths (einsum
equations, merged masks, the fused kernel) is :mod:`lamina.layers.attention_ops`.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp

from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina._naming import unique_name
from lamina.layers import attention_gating as _gating
from lamina.layers import attention_override as _override
from lamina.layers.attention_ops import attention_equations as attention_equations
from lamina.layers.attention_ops import (
    einsum_attention,
    fused_attention,
    merge_masks,
    proj_equation,
)
from lamina.layers.attention_seeds import dropout_state, kernel_initializer, projection_initializers
from lamina.layers.base import Layer
from lamina.layers.einsum_dense import _ser
from lamina.layers.seed_state import STATE_KEY, next_seed

_SUBLAYERS = ("query", "key", "value", "attention_output")


class MultiHeadAttention(_override.AttentionInternals, Layer):
    """Multi-head attention, as in "Attention Is All You Need" (Keras's layer).

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value; ``key_dim`` when None.
        dropout: dropout rate on the attention probabilities (training only).
        use_bias: whether the projections have biases.
        output_shape: sizes of the output's last axes; the query's last size when None.
        attention_axes: axes of the inputs attention runs over (batch and head axes excluded);
            all axes between the batch and the features when None.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: for the four EinsumDense projections.
        seed: the attention dropout's seed (one drawn from Python's random when None, as Keras).
        use_gate: whether a sigmoid gate projected from the query multiplies the attention
            output before the output projection (Keras 3.15; :mod:`attention_gating`).
        sliding_window: if set, each query position attends only to keys less than this
            many positions away (a band; with ``use_causal_mask=True``, causal).

    Call arguments: ``query``, ``value``, ``key`` (defaults to ``value``), ``query_mask``
    (B, T), ``value_mask``/``key_mask`` (B, S), ``attention_mask`` (B, T, S), with ``True``/1
    where attention is allowed, ``return_attention_scores``, ``training``, ``use_causal_mask``.

    Raises:
        ValueError: for non-positive ``num_heads``/``key_dim`` or mismatched key/value shapes.

    >>> import numpy as np
    >>> from lamina.layers import MultiHeadAttention
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.ones((3, 5, 8), "float32")
    >>> y, scores = mha(x, x, return_attention_scores=True)
    >>> y.shape, scores.shape
    ((3, 5, 8), (3, 2, 5, 5))
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs: Any,
    ):
        use_gate = bool(kwargs.pop("use_gate", False))
        sliding_window = _gating.check_sliding_window(kwargs.pop("sliding_window", None))
        if kwargs.pop("flash_attention", None):
            raise ValueError(
                "MultiHeadAttention(flash_attention=True) is not supported by Lamina (XLA "
                "picks the attention kernel); leave it at None."
            )
        super().__init__(**kwargs)
        for arg, val in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(
                    f"MultiHeadAttention({arg}=...) must be a positive integer; received "
                    f"{arg}={val!r}."
                )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"MultiHeadAttention(dropout=...) must be in [0, 1); got {dropout!r}.")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        self.output_shape_arg = tuple(output_shape) if output_shape else None
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, list | tuple):
            raise ValueError(
                f"`attention_axes` must be an int, list, or tuple. Received: {attention_axes!r}"
            )
        # Keras's config keeps a list or tuple as given (an int becomes a 1-tuple).
        self._attention_axes_arg = attention_axes
        self.attention_axes = tuple(attention_axes) if attention_axes is not None else None
        self.use_gate, self.sliding_window = use_gate, sliding_window  # attention_gating
        self.seed = seed
        self.uses_rng = self.dropout > 0
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self._scores_out = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _override.install(cls)

    # ------------------------------------------------------------------ calls
    def __call__(
        self,
        query=None,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        **kwargs,
    ):
        if query is None and "inputs" in kwargs:
            query = kwargs.pop("inputs")
        if isinstance(query, list | tuple) and value is None and 2 <= len(query) <= 3:
            query, value, *rest = query  # a packed [query, value(, key)] input
            key = rest[0] if rest else key
        if query is None or value is None:
            raise TypeError(
                f"{self.name!r} (MultiHeadAttention) needs query and value tensors: call it as "
                "mha(query, value) (mha(x, x) for self-attention)."
            )
        extra = {
            k: v
            for k, v in dict(
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
                training=training,
            ).items()
            if v is not None
        }
        if return_attention_scores:
            extra["return_attention_scores"] = True
        if use_causal_mask:
            extra["use_causal_mask"] = True
        self._scores_out = bool(return_attention_scores)
        self._name_hidden_layers()
        try:
            return super().__call__([query, value, value if key is None else key], **extra, **kwargs)
        finally:
            self._scores_out = False

    def _name_hidden_layers(self) -> None:
        """Keras's attention builds a ``Softmax`` and a ``Dropout`` layer on its first call,
        which take the next automatic names: a ``Dropout()`` made afterwards is named
        ``dropout_1``, as in Keras, so names (and files keyed by them) agree."""
        if not self.__dict__.get("_hidden_named"):
            self.__dict__["_hidden_named"] = True
            unique_name("softmax")
            unique_name("dropout")

    # -------------------------------------------------------------- the protocol
    def _split(self, input_shape):
        if not (isinstance(input_shape, list | tuple) and len(input_shape) == 3):
            raise ValueError(
                f"{self.name!r} (MultiHeadAttention) takes [query, value, key] inputs; received "
                f"shape {input_shape!r}."
            )
        q, v, k = (tuple(s) for s in input_shape)
        if v[1:-1] != k[1:-1]:
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={v} and key_shape={k}"
            )
        if len(q) < 3:
            raise ValueError(
                f"{self.name!r} (MultiHeadAttention) expects inputs of rank >= 3 (batch, "
                f"sequence..., features); received query shape {q}."
            )
        return q, v, k

    def _draw_build_seeds(self):
        projection_initializers(self)

    def _out_dims(self, query_shape):
        return self.output_shape_arg or (query_shape[-1],)

    def init(self, key, input_shape):
        q, v, k = self._split(input_shape)
        out_dims = self._out_dims(q)
        shapes = {
            "query": (q[-1], self.num_heads, self.key_dim),
            "key": (k[-1], self.num_heads, self.key_dim),
            "value": (v[-1], self.num_heads, self.value_dim),
            "attention_output": (self.num_heads, self.value_dim, *out_dims),
            "gate": (q[-1], self.num_heads, self.value_dim),
        }
        biases = {
            "query": (self.num_heads, self.key_dim),
            "key": (self.num_heads, self.key_dim),
            "value": (self.num_heads, self.value_dim),
            "attention_output": tuple(out_dims),
            "gate": (self.num_heads, self.value_dim),
        }
        params = {}
        inits = projection_initializers(self)  # one clone per projection, as Keras's build
        for name, kernel_key, bias_key in _gating.projection_keys(self, key):
            kernel_init = kernel_initializer(self, name, shapes[name])
            params[f"{name}/kernel"] = kernel_init(shapes[name], jnp.float32, key=kernel_key)
            if self.use_bias:
                params[f"{name}/bias"] = inits[name][1](biases[name], jnp.float32, key=bias_key)
        return params, dropout_state(self)

    def _project(self, params, name, x, bound, outs):
        eq, _, _ = proj_equation(x.ndim - bound, bound, outs)
        y = jnp.einsum(eq, x, params[f"{name}/kernel"])
        if self.use_bias:
            b = params[f"{name}/bias"]
            y = y + jnp.reshape(b, (1,) * (y.ndim - b.ndim) + b.shape)
        return y

    def apply(
        self,
        params,
        state,
        x,
        *,
        training=False,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        use_causal_mask=False,
        mask=None,
    ):
        query, value, key_t = x
        mask = self.attention_mask(
            query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
        )
        q = self._project(params, "query", query, 1, 2)
        k = self._project(params, "key", key_t, 1, 2)
        v = self._project(params, "value", value, 1, 2)
        if _override.overrides(self):  # Keras's hook for a custom attention
            out, scores = _override.run_override(
                self, params, state, q, k, v, mask, training, key, return_attention_scores
            )
        else:
            if training and self.dropout > 0 and STATE_KEY in state:  # Keras's masks
                key, state = next_seed(state, key)
            out, scores = self._attend(q, k, v, mask, training, key, return_attention_scores)
        out = _gating.gated(self, params, query, out)
        n_out = len(self._out_dims(query.shape))
        y = self._project(params, "attention_output", out, 2, n_out)
        return ((y, scores) if return_attention_scores else y), state

    def attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, causal):
        """The boolean (B, T, S) mask merging every mask given, as Keras's."""
        masks = (query_mask, value_mask, key_mask, attention_mask)
        return merge_masks(query, value, *masks, causal, self.sliding_window)

    def _axes(self, rank):
        if self.attention_axes is None:
            return tuple(range(1, rank - 2))
        return tuple(a if a >= 0 else (rank - 1) + a for a in self.attention_axes)

    def _attend(self, q, k, v, mask, training, rng, want_scores):
        scale = 1.0 / float(self.key_dim) ** 0.5
        dropping = training and self.dropout > 0 and rng is not None
        if q.ndim == 4 and not want_scores and self.dropout == 0 and q.shape[-1] == v.shape[-1]:
            # Keras's JAX backend takes this fused path in the same case; it also fixes what a
            # fully masked query row gives (uniform weights), so equal outputs need it here.
            if mask is not None:
                mask = mask[:, None]  # (B, T, S) -> (B, heads, T, S) by broadcasting
            return fused_attention(q, k, v, mask, scale), None
        axes = self._axes(q.ndim)
        return einsum_attention(q, k, v, mask, scale, axes, self.dropout if dropping else 0.0, rng)

    def compute_output_shape(self, input_shape):
        q, v, k = self._split(input_shape)
        out = (*q[:-1], *self._out_dims(q))
        if not self._scores_out:
            return out
        axes = self._axes(len(q) + 1)
        batch = [q[i] for i in range(len(q)) if i not in axes and i != len(q) - 1]
        scores = (*batch, self.num_heads, *[q[i] for i in axes], *[v[i] for i in axes])
        return [out, scores]

    def peak_activation_values(self, input_shapes) -> int:
        """Values per row of the attention scores for inputs ``[query, value(, key)]`` (the
        largest array the layer holds; sizes predict's tiles)."""
        q = tuple(input_shapes[0])
        v = tuple(input_shapes[1]) if len(input_shapes) > 1 else q
        axes = self._axes(len(q) + 1)
        size = lambda s: math.prod(s[i] or 1 for i in axes if i < len(s) - 1)  # noqa: E731
        return self.num_heads * size(q) * size(v)

    def _weight_regularizers(self):
        regs = {}
        for name in _gating.projections(self):
            regs[f"{name}/kernel"] = self.kernel_regularizer
            regs[f"{name}/bias"] = self.bias_regularizer
        return regs

    def _weight_constraints(self):
        cons = {}
        for name in _gating.projections(self):
            cons[f"{name}/kernel"] = self.kernel_constraint
            cons[f"{name}/bias"] = self.bias_constraint
        return cons

    #: Keras's ``build(query_shape, value_shape, key_shape)``: the ``build_config`` names.
    _keras_build_args = ("query_shape", "value_shape", "key_shape")

    #: Keras's ``MultiHeadAttention.call`` reads the query's mask, then clears the Keras mask
    #: of its query, value and key tensors in place (``backend.set_keras_mask(t, None)``), so
    #: a later layer on the same tensor (the residual ``Add([attention, x])``) sees no mask
    #: from it.  The functional graph and a traced ``call`` drop those masks likewise.
    _clears_input_masks = True

    def _keras_node_arguments(self, args, kwargs):
        """A call node as Keras records it: ``(query, value)`` positional, ``key=`` only
        when it is not the value (the layer runs on one packed ``[query, value, key]``)."""
        if len(args) == 1 and isinstance(args[0], list | tuple) and len(args[0]) == 3:
            query, value, key = args[0]
            if key is not value:
                kwargs = {**kwargs, "key": key}
            return [query, value], kwargs
        return args, kwargs

    def _keras_weight_groups(self):
        """Keras's file layout: each projection's kernel and bias in its own group
        (``query_dense/vars``, ``key_dense/vars``, ``value_dense/vars``, ``output_dense/vars``),
        as Keras stores the ``EinsumDense`` sub-layers."""
        groups = zip(("query", "key", "value", "output"), _SUBLAYERS)
        out = [((f"{group}_dense",), f"{name}/") for group, name in groups]
        if self.use_gate:  # Keras's MultiHeadAttention has no public ``gate_dense``
            out.insert(2, (("_gate_dense",), "gate/"))
        return _override.with_own_variables(self, out)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            use_gate=self.use_gate,
            output_shape=self.output_shape_arg,
            attention_axes=self._attention_axes_arg,
            sliding_window=self.sliding_window,
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
