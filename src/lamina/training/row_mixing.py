"""Models whose outputs for a row depend on the other rows of its batch, at ``predict``.

``predict`` runs resident inputs in power-of-two tiles, larger than ``batch_size`` and with
zero rows padding the last one (:mod:`lamina.training.predicting`): the same outputs as
Keras's batches for any model computing each row from that row alone.  User code may mix the
rows: the keras.io ``RecommenderNet`` scores a batch with ``ops.tensordot(users, movies, 2)``,
one sum over the whole batch, and a custom layer may subtract a batch mean in inference.
Such a model must see Keras's batches (``batch_size`` rows, the last one at its real size).

:func:`mixes_rows` answers for a program and its tile, once per input signature: only for a
network running user code (``Program.user_code``), by running the first batch both ways and
comparing the rows they share.  :func:`real_partial_rows` runs a stream's short last batch at
its real size for such a network.  Networks of built-in layers never mix rows in inference
and cost nothing.
"""

from __future__ import annotations

import weakref

import jax
import numpy as np

#: Largest difference, relative to the outputs' scale, still taken for the same outputs:
#: XLA may sum a row's products in another order at another batch size.
_TOLERANCE = 1e-4

_answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(x, batch_axes=1) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(x)
    return treedef, tuple((tuple(a.shape[batch_axes:]), str(a.dtype)) for a in leaves)


def _cache(program) -> dict:
    try:
        return _answers.setdefault(program.predict_chunk, {})
    except TypeError:  # a function that takes no weak reference: ask every time
        return {}


def _asks(program) -> bool:
    return bool(getattr(program, "user_code", False)) and not program.inference_rng


def _same(a, b) -> bool:
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        u, v = np.asarray(u), np.asarray(v)
        if not np.issubdtype(u.dtype, np.inexact):
            if not np.array_equal(u, v):
                return False
            continue
        scale = max(float(np.max(np.abs(u), initial=0.0)), 1.0)
        if not np.allclose(u, v, rtol=_TOLERANCE, atol=_TOLERANCE * scale, equal_nan=True):
            return False
    return True


def mixes_rows(program, ts, x, n: int, batch_size: int, tile: int) -> bool:
    """Whether ``predict``'s ``tile``-row tiles would change the outputs of ``x`` (``n`` rows,
    a pytree of host arrays) from those of Keras's ``batch_size``-row batches.

    Keras's first batch runs at its own shape and its outputs are compared with those of the
    first tile.  Only a comparison across batch shapes is exact: at one shape, a row-mixing
    model may give every arrangement the same outputs (a sigmoid saturated by a sum over the
    batch).  The batch shape is one more compiled shape, as Keras compiles its short last
    batch, and the one ``predict`` then runs when the rows mix.

    Args:
        program: the model's ``Program`` (``predict_chunk`` runs ``(steps, rows, ...)``).
        ts: the train state ``predict`` runs with.
        x: the inputs, batch first.
        n: the rows of ``x``.
        batch_size: ``predict``'s ``batch_size``.
        tile: the rows of one tile.

    Returns:
        ``True`` for a network running user code whose first batch's outputs differ when it
        is run padded to, or merged into, a tile; ``False`` otherwise, and for networks
        drawing random numbers in inference (their outputs differ from call to call anyway).
    """
    rows = min(batch_size, n)
    if not _asks(program):
        return False
    if tile == rows and n % rows == 0:  # the tiles are Keras's batches
        return False
    seen = _cache(program)
    key = (_signature(x), rows, tile)
    if key not in seen:
        real = min(tile, n)

        def first_tile(a):
            part = a[:real]
            if real < tile:
                part = np.concatenate([part, np.zeros((tile - real, *a.shape[1:]), a.dtype)])
            return part[None]

        alone = program.predict_chunk(ts, jax.tree_util.tree_map(lambda a: a[:rows][None], x))
        tiled = program.predict_chunk(ts, jax.tree_util.tree_map(first_tile, x))
        tiled = jax.tree_util.tree_map(lambda a: np.asarray(a)[:rows], tiled)
        seen[key] = not _same(alone, tiled)
    return seen[key]


def real_partial_rows(program, ts, xb, mask, out):
    """``out``, ``predict_chunk``'s outputs for a streamed chunk ``xb`` (leaves ``(steps,
    batch, ...)``, outputs ``(steps * batch, ...)``), with the rows of its partial step (the
    short last batch, zero rows padding it) run at their real size, as Keras runs the short
    batch, for a network running user code (its rows may mix).  That step's shape is one
    more compiled shape, as Keras's."""
    if not _asks(program) or jax.process_count() > 1:
        return out
    real = np.asarray(mask).reshape(np.shape(mask)[0], -1) > 0
    full = real.shape[1]
    counts = real.sum(axis=1)
    for step in np.nonzero((counts > 0) & (counts < full))[0]:
        s, k = int(step), int(counts[step])
        part = jax.tree_util.tree_map(lambda a, s=s, k=k: a[s : s + 1, :k], xb)
        alone = program.predict_chunk(ts, part)
        out = jax.tree_util.tree_map(
            lambda o, a, lo=s * full, k=k: jax.numpy.asarray(o).at[lo : lo + k].set(a), out, alone
        )
    return out
