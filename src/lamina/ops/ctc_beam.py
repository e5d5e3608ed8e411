"""CTC beam-search decoding: ``keras.ops.ctc_decode(..., strategy="beam_search")``.

The algorithm of Keras 3's JAX backend, step for step, so paths, their order and their scores
match it: log-softmax the logits, keep ``2 * beam_width`` hypotheses per sequence (each either
ending in an emitted label or in a blank), extend every hypothesis by every class, merge equal
label sequences (log-sum-exp of their probabilities), keep the ``beam_width`` best of each kind
and, after the last step, return the ``top_paths`` best label sequences. Ties are broken as
TensorFlow does (Keras flips the class axis before sorting). ``merge_repeated`` is ignored, as
in Keras's JAX backend: a label repeated without a blank between is always merged.

:func:`lamina.ops.ctc_decode` calls :func:`ctc_beam_search_decode`, which is jitted itself
(``beam_width``, ``top_paths`` and ``mask_index`` static), works inside ``jax.jit`` and maps
over the batch with ``vmap``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["ctc_beam_search_decode"]

_PAD = -1


def _merge_scores(unique_inverse, scores):
    """Log-sum-exp of ``scores`` per unique path (rows of ``unique_inverse``'s ids)."""
    scores_max = jnp.max(scores)
    scores_exp = jnp.exp(scores - scores_max)
    scores = jnp.zeros_like(scores).at[unique_inverse].add(scores_exp)
    return jnp.log(scores) + scores_max


def _unique_paths(paths, size):
    paths, unique_inverse = jnp.unique(
        paths, return_inverse=True, size=size, axis=0, fill_value=_PAD
    )
    if unique_inverse.ndim >= 2:
        unique_inverse = jnp.squeeze(unique_inverse, axis=1)
    return paths, unique_inverse


@functools.partial(jax.jit, static_argnames=("beam_width", "top_paths", "mask_index"))
def ctc_beam_search_decode(inputs, sequence_lengths, beam_width=100, top_paths=1, mask_index=None):
    """Beam-search CTC decoding of logits, as Keras's JAX backend.

    Args:
        inputs: ``(batch, max_time, classes)`` float logits (not softmaxed).
        sequence_lengths: ``(batch,)`` integer lengths; later steps are ignored.
        beam_width: how many hypotheses of each kind are kept per step.
        top_paths: how many decoded sequences to return per batch entry.
        mask_index: the blank class; None means the last class.

    Returns:
        ``(paths, scores)``: ``(top_paths, batch, max_time)`` int32 label ids padded with -1,
        best first, and ``(batch, top_paths)`` log probabilities.

    >>> import jax.numpy as jnp
    >>> from lamina.ops.ctc_beam import ctc_beam_search_decode
    >>> logits = jnp.log(jnp.array([[[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]]))
    >>> paths, scores = ctc_beam_search_decode(logits, jnp.array([3]), beam_width=4, mask_index=0)
    >>> paths.tolist(), scores.shape
    ([[[1, 2, -1]]], (1, 1))
    """
    batch_size, max_seq_len, num_classes = inputs.shape
    inputs = jax.nn.log_softmax(inputs)
    seqlen_mask = jnp.arange(max_seq_len)[None, :] >= sequence_lengths[:, None]
    if mask_index is None:
        mask_index = num_classes - 1

    # Flip the classes (and the blank) so argsort breaks ties as TensorFlow; flipped back below.
    inputs = jnp.flip(inputs, axis=2)
    mask_index = num_classes - mask_index - 1
    n_hyp = 2 * beam_width

    init_paths = jnp.full((batch_size, n_hyp, max_seq_len), _PAD, dtype=jnp.int32)
    num_init_paths = min(num_classes, beam_width)
    max_classes = jnp.argsort(inputs[:, 0], axis=1)[:, -num_init_paths:]
    init_classes = jnp.where(max_classes == mask_index, _PAD, max_classes)
    init_paths = init_paths.at[:, :num_init_paths, 0].set(init_classes)
    init_scores = (
        jnp.full((batch_size, n_hyp), -jnp.inf, dtype=inputs.dtype)
        .at[:, :num_init_paths]
        .set(jnp.take_along_axis(inputs[:, 0], max_classes, axis=1))
    )
    init_masked = init_paths[:, :, 0] == _PAD

    def extend(paths, scores, masked, x):
        """Every hypothesis followed by every class (a blank or a repeat adds no label)."""
        paths = jnp.repeat(paths, num_classes, axis=0)
        scores = jnp.repeat(scores, num_classes)
        prev_masked = jnp.repeat(masked, num_classes)
        tail_index = jnp.argmax(paths == _PAD, axis=1)
        rows = jnp.arange(n_hyp * num_classes)
        tails = paths[rows, tail_index - 1]
        tails = jnp.where(tail_index == 0, _PAD, tails)
        classes = jnp.tile(jnp.arange(num_classes).at[mask_index].set(_PAD), n_hyp)
        masked = classes == _PAD
        classes = jnp.where(~prev_masked & (tails == classes), _PAD, classes)
        paths = paths.at[rows, tail_index].set(classes)
        return paths, scores + jnp.tile(x, n_hyp), masked

    def prune(paths, scores, masked):
        """Merge equal paths and keep the ``beam_width`` best (as emit and as blank ends)."""
        paths, unique_inverse = _unique_paths(paths, n_hyp * num_classes)
        emit_scores = _merge_scores(unique_inverse, jnp.where(masked, -jnp.inf, scores))
        mask_scores = _merge_scores(unique_inverse, jnp.where(masked, scores, -jnp.inf))
        total_scores = jnp.logaddexp(emit_scores, mask_scores)
        top = jnp.argsort(total_scores)[-beam_width:]
        paths = jnp.tile(paths[top], (2, 1))
        scores = jnp.concatenate([emit_scores[top], mask_scores[top]])
        masked = jnp.concatenate([jnp.zeros(beam_width, bool), jnp.ones(beam_width, bool)])
        return paths, scores, masked

    def decode_step(paths, scores, masked, x):
        return prune(*extend(paths, scores, masked, x))

    def step(carry, xs):
        x, beyond = xs
        carry = jax.lax.cond(beyond, lambda p, s, m, x: (p, s, m), decode_step, *carry, x)
        return carry, None

    def decode_one(paths, scores, masked, x, beyond):
        (paths, scores, _), _ = jax.lax.scan(step, (paths, scores, masked), (x[1:], beyond[1:]))
        paths, unique_inverse = _unique_paths(paths, n_hyp * num_classes)
        scores = _merge_scores(unique_inverse, scores)
        top = jnp.argsort(scores)[-top_paths:][::-1]
        return paths[top], scores[top]

    paths, scores = jax.vmap(decode_one)(init_paths, init_scores, init_masked, inputs, seqlen_mask)
    paths = jnp.where(paths == _PAD, _PAD, num_classes - paths - 1)
    return jnp.transpose(paths, [1, 0, 2]), scores
