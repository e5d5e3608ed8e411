"""Keras's normalization, crossentropy, attention and sequence ops of ``keras.ops.nn``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lamina.backend import config as _config
from lamina.ops._tensor import float_tensor, same_rank, tensor

__all__ = [
    "binary_crossentropy", "categorical_crossentropy", "ctc_decode", "ctc_loss",
    "dot_product_attention", "layer_normalization", "normalize", "polar", "psnr",
    "rms_normalization", "sparse_categorical_crossentropy",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _compute(x):
    """``x`` in at least float32 (Keras normalizes half precision in float32), and its dtype."""
    x = float_tensor(x)
    return jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32)), x.dtype


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis`` (``keras.ops.normalize``).

    Raises:
        ValueError: when ``order`` is not an int >= 1.

    >>> from lamina import ops
    >>> ops.normalize(ops.convert_to_tensor([3.0, 4.0])).tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order!r}.")
    x = float_tensor(x)
    if x.ndim == 0:
        x = jnp.expand_dims(x, 0)
    eps = _config.epsilon() if epsilon is None else epsilon
    if order == 2:
        inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
        return x * jnp.minimum(inv, 1.0 / eps)
    norm = jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, eps)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalizes over ``axis`` (an int or list) then scales and shifts
    (``keras.ops.layer_normalization``); ``epsilon`` defaults to ``epsilon()``.

    >>> from lamina import ops
    >>> ops.layer_normalization(ops.convert_to_tensor([[1.0, 3.0]])).tolist()
    [[-0.9999999403953552, 0.9999998807907104]]
    """
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(
            f"layer_normalization got unexpected keyword argument(s): {sorted(kwargs)}."
        )
    eps = _config.epsilon() if epsilon is None else epsilon
    x, dtype = _compute(x)
    axes = sorted(a % x.ndim for a in ([axis] if isinstance(axis, int) else axis))
    bshape = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]

    def bc(v):
        if v is None:
            return None
        v = _a(v).astype(x.dtype)
        if v.ndim != x.ndim and axes != [x.ndim - 1]:
            return jnp.reshape(v, bshape)
        return jnp.reshape(v, (1,) * (x.ndim - v.ndim) + v.shape)  # broadcast explicitly

    if rms_scaling:
        out = x * jax.lax.rsqrt(jnp.var(x, axis=axes, keepdims=True) + eps)
        return (out if gamma is None else out * bc(gamma)).astype(dtype)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.var(x, axis=axes, keepdims=True)
    inv = jax.lax.rsqrt(var + eps)
    if gamma is not None:
        inv = inv * bc(gamma)
    res = -mean * inv
    if beta is not None:
        res = res + bc(beta)
    return (x * inv + res).astype(dtype)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x / sqrt(mean(x**2) + epsilon) * scale`` over ``axis`` (``keras.ops.rms_normalization``).

    >>> from lamina import ops
    >>> ops.rms_normalization(ops.ones((1, 4))).shape
    (1, 4)
    """
    eps = _config.epsilon() if epsilon is None else epsilon
    x, dtype = _compute(x)
    if x.ndim == 0:
        x = jnp.expand_dims(x, 0)
    axis = tuple(sorted(axis)) if isinstance(axis, list | tuple) else axis
    out = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)
    if scale is not None:
        out = jnp.multiply(*same_rank(out, _a(scale).astype(x.dtype)))
    return out.astype(dtype)


def _same_shape(target, output, name):
    if target.shape != output.shape:
        raise ValueError(
            f"{name}: arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}."
        )


def _log_probs(output, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(output, axis=axis)
    eps = _config.epsilon()
    output = output / jnp.sum(output, axis, keepdims=True)
    return jnp.log(jnp.clip(output, eps, 1.0 - eps))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-sum(target * log(output))`` along ``axis`` (``keras.ops.categorical_crossentropy``).

    Probabilities are renormalized and clipped to ``[epsilon, 1 - epsilon]``, as in Keras.

    Raises:
        ValueError: for different shapes or scalars.

    >>> from lamina import ops
    >>> round(float(ops.categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])[0]), 4)
    0.6931
    """
    target, output = float_tensor(target), float_tensor(output)
    _same_shape(target, output, "categorical_crossentropy")
    if target.ndim < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}."
        )
    return -jnp.sum(target * _log_probs(output, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Categorical crossentropy with integer targets (``keras.ops.sparse_categorical_crossentropy``).

    Raises:
        ValueError: when ``target``'s shape is not ``output``'s without the class axis.

    >>> from lamina import ops
    >>> round(float(ops.sparse_categorical_crossentropy([1], [[0.5, 0.5]])[0]), 4)
    0.6931
    """
    target = _a(target).astype(jnp.int32)
    output = float_tensor(output)
    if output.ndim < 1:
        raise ValueError(
            f"Argument `output` must be at least rank 1. Received: output.shape={output.shape}."
        )
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = jnp.squeeze(target, axis=-1)
    if target.shape != output.shape[:-1]:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last "
            f"dimension: target.shape={target.shape}, output.shape={output.shape}."
        )
    log_prob = _log_probs(output, from_logits, axis)
    hot = jax.nn.one_hot(target, output.shape[axis], axis=axis, dtype=log_prob.dtype)
    return -jnp.sum(hot * log_prob, axis=axis)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary crossentropy (``keras.ops.binary_crossentropy``), not averaged.

    >>> from lamina import ops
    >>> round(float(ops.binary_crossentropy([1.0], [0.5])[0]), 4)
    0.6931
    """
    target, output = float_tensor(target), float_tensor(output)
    _same_shape(target, output, "binary_crossentropy")
    if from_logits:
        return -target * jax.nn.log_sigmoid(output) - (1.0 - target) * jax.nn.log_sigmoid(-output)
    eps = _config.epsilon()
    output = jnp.clip(output, eps, 1.0 - eps)
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


def dot_product_attention(
    query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
    attn_logits_soft_cap=None,
):  # fmt: skip
    """Scaled dot-product attention (``keras.ops.dot_product_attention``).

    Args:
        query: ``(batch, target_time, heads, depth)``.
        key, value: ``(batch, source_time, heads, depth)``.
        bias: optional, broadcastable to ``(batch, heads, target_time, source_time)``.
        mask: optional boolean mask of that shape (True keeps).
        scale: logits scale; ``1 / sqrt(depth)`` by default.
        is_causal: apply a causal (lower-triangular) mask.
        flash_attention: ``None`` or ``False`` (Lamina runs XLA's implementation).
        attn_logits_soft_cap: optional soft cap, ``cap * tanh(logits / cap)``.

    Raises:
        ValueError: for inputs that are not 4-D, or ``flash_attention=True``.

    >>> from lamina import ops
    >>> ops.dot_product_attention(ops.ones((1, 3, 2, 4)), ops.ones((1, 5, 2, 4)), ops.ones((1, 5, 2, 4))).shape
    (1, 3, 2, 4)
    """
    q, k, v = _a(query), _a(key), _a(value)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(
            "`dot_product_attention` only supports 4D inputs. Received: "
            f"query.shape={q.shape}, key.shape={k.shape}, value.shape={v.shape}."
        )
    if flash_attention:
        raise ValueError("dot_product_attention(flash_attention=True) is not supported by Lamina.")
    dtype = jnp.result_type(q.dtype, k.dtype, v.dtype)
    q, k, v = q.astype(dtype), k.astype(dtype), v.astype(dtype)
    scale = 1.0 / jnp.sqrt(q.shape[-1]) if scale is None else scale
    logits_dtype = jnp.promote_types(dtype, jnp.float32)
    logits = jnp.einsum("BTNH,BSNH->BNTS", q, k, preferred_element_type=logits_dtype)
    logits = logits * jnp.asarray(scale, logits.dtype)
    if attn_logits_soft_cap is not None:
        logits = attn_logits_soft_cap * jnp.tanh(logits / attn_logits_soft_cap)
    if bias is not None:
        logits = (logits + _a(bias).astype(dtype)).astype(logits.dtype)
    if mask is not None or is_causal:
        keep = jnp.ones(logits.shape, bool)
        if mask is not None:
            keep = jnp.logical_and(keep, _a(mask).astype(bool))
        if is_causal:
            t, s = logits.shape[2], logits.shape[3]
            keep = jnp.logical_and(keep, jnp.tril(jnp.ones((t, s), bool))[None, None])
        logits = jnp.where(
            keep, logits, jnp.asarray(-0.7 * jnp.finfo(logits.dtype).max, logits.dtype)
        )
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(dtype)
    return jnp.einsum("BNTS,BSNH->BTNH", probs, v)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Connectionist temporal classification loss per sequence (``keras.ops.ctc_loss``).

    Args:
        target: ``(batch, max_label_length)`` integer labels.
        output: ``(batch, max_time, classes)`` logits.
        target_length, output_length: ``(batch,)`` real lengths.
        mask_index: the blank class.

    >>> from lamina import ops
    >>> ops.ctc_loss([[1, 2]], ops.zeros((1, 5, 4)), [2], [5]).shape
    (1,)
    """
    target = _a(target).astype(jnp.int32)
    output = float_tensor(output)
    output = output.astype(jnp.promote_types(output.dtype, jnp.float32))
    t_len, o_len = _a(target_length), _a(output_length)
    label_pad = (jnp.arange(target.shape[1])[None, :] >= t_len[:, None]).astype(output.dtype)
    logit_pad = (jnp.arange(output.shape[1])[None, :] >= o_len[:, None]).astype(output.dtype)
    return optax.ctc_loss(output, logit_pad, target, label_pad, blank_id=mask_index)


def ctc_decode(
    inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
    merge_repeated=True, mask_index=0,
):  # fmt: skip
    """Decodes CTC logits greedily or by beam search (``keras.ops.ctc_decode``).

    Args:
        inputs: ``(batch, max_time, classes)`` logits (not softmaxed).
        sequence_lengths: ``(batch,)`` integer lengths.
        strategy: ``'greedy'`` or ``'beam_search'`` (see :mod:`lamina.ops.ctc_beam`).
        beam_width: the beam width of ``'beam_search'``.
        top_paths: how many paths ``'beam_search'`` returns.
        merge_repeated: whether ``'greedy'`` merges repeated labels (``'beam_search'`` always
            does, as Keras's JAX backend).
        mask_index: the blank class (None: the last class).

    Returns:
        ``(decoded, scores)``. Greedy: ``(1, batch, max_time)`` int32 label ids padded with -1,
        and ``(batch, 1)`` negative summed best logits. Beam search: ``(top_paths, batch,
        max_time)`` paths, best first, and ``(batch, top_paths)`` log probabilities.

    Raises:
        ValueError: for another strategy.

    >>> from lamina import ops
    >>> ops.ctc_decode(ops.one_hot([[1, 1, 0, 2]], 3), [4])[0].tolist()
    [[[1, 2, -1, -1]]]
    >>> paths, scores = ops.ctc_decode(
    ...     ops.one_hot([[1, 1, 0, 2]], 3) * 5, [4], strategy="beam_search", top_paths=2)
    >>> paths[:, 0].tolist(), scores.shape
    ([[1, 2, -1, -1], [1, -1, -1, -1]], (1, 2))
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'."
        )
    if strategy == "beam_search":
        from lamina.ops.ctc_beam import ctc_beam_search_decode

        x = float_tensor(inputs)
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return ctc_beam_search_decode(
            x, _a(sequence_lengths), beam_width=beam_width, top_paths=top_paths,
            mask_index=mask_index,
        )  # fmt: skip
    x = float_tensor(inputs)
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    lengths = _a(sequence_lengths).astype(jnp.int32)
    batch, max_len, classes = x.shape
    blank = classes - 1 if mask_index is None else mask_index
    idx = jnp.argmax(x, axis=-1)
    scores = jnp.max(x, axis=-1)
    beyond = jnp.arange(max_len)[None, :] >= lengths[:, None]
    idx = jnp.where(beyond, blank, idx)
    scores = jnp.where(beyond, 0.0, scores)
    if merge_repeated:
        repeat = jnp.pad(idx[:, 1:] == idx[:, :-1], ((0, 0), (1, 0)))
        idx = jnp.where(repeat, blank, idx)
    invalid = idx == blank
    idx = jnp.where(invalid, -1, idx)
    order = jnp.argsort(jnp.where(invalid, max_len, jnp.arange(max_len)[None, :]), axis=-1)
    idx = jnp.take_along_axis(idx, order, axis=-1)
    return idx[None].astype(jnp.int32), -jnp.sum(scores, axis=1)[:, None]


def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio ``20 log10(max_val) - 10 log10(mse)`` (``keras.ops.psnr``).

    Raises:
        ValueError: when the shapes differ.

    >>> from lamina import ops
    >>> round(float(ops.psnr(ops.zeros(4), ops.full(4, 0.1), 1.0)), 3)
    20.0
    """
    x1, x2 = float_tensor(x1), float_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"Input shapes {x1.shape} and {x2.shape} must match for PSNR calculation.")
    mse = jnp.mean(jnp.square(x1 - x2))
    return 20 * jnp.log10(jnp.asarray(max_val, x2.dtype)) - 10 * jnp.log10(mse)


def polar(abs_, angle):
    """The complex number ``abs_ * exp(i * angle)`` (``keras.ops.polar``).

    >>> from lamina import ops
    >>> ops.polar(ops.ones(2), ops.zeros(2)).dtype
    dtype('complex64')
    """
    abs_, angle = float_tensor(abs_), float_tensor(angle)
    return jax.lax.complex(abs_ * jnp.cos(angle), abs_ * jnp.sin(angle))
