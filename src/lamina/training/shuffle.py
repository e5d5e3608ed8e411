"""Each epoch's row order, drawn on the device by sorting a keyed hash of the row numbers.

``jax.random.permutation`` needs a key split (threefry) and a stream of random bits
(RngBitGenerator); for a small model those two cost about a third of compiling the whole
epoch program.  Sorting the rows by ``fmix32(fmix32(i ^ a) + b)`` -- MurmurHash3's finalizer,
a bijection on 32-bit words with full avalanche -- gives a permutation that changes completely
with the epoch's words ``(a, b)``, with no ties, for a few integer ops and one sort.  The words
come from the model's shuffle key, which advances by the same hash every epoch, so a seeded
fit shuffles identically in every process.  (From ``HOST_SHUFFLE_ROWS`` rows on,
``lamina.training.loop`` draws the order on the host with NumPy instead: a sort of millions of
rows costs more on an XLA CPU device than a small model's whole epoch.)

>>> import jax, numpy as np
>>> rng = jax.random.wrap_key_data(np.arange(4, dtype=np.uint32), impl="rbg")
>>> rng2, order = epoch_order(rng, 6)
>>> sorted(order.tolist())
[0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_GOLDEN = 0x9E3779B9


def fmix32(x):
    """MurmurHash3's 32-bit finalizer (a bijection on uint32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def advance(rng):
    """The shuffle key of the next epoch and this epoch's two hash words."""
    impl = jax.random.key_impl(rng)
    words = jax.random.key_data(rng).astype(jnp.uint32)
    k = words.shape[-1]
    nxt = fmix32(words + jnp.uint32(_GOLDEN) * jnp.arange(1, k + 1, dtype=jnp.uint32))
    a = jnp.uint32(0)
    for i in range(k):  # fold every word of the key into both epoch words
        a = fmix32(a ^ words[i])
    b = fmix32(a + jnp.uint32(_GOLDEN))
    return jax.random.wrap_key_data(nxt, impl=impl), a, b


def epoch_order(rng, n: int, shuffle=True):
    """``(next_rng, order)``: this epoch's row order (int32, length ``n``).

    ``shuffle`` may be a traced boolean (one program serves fits with and without shuffling);
    the key advances either way, as an epoch's draw would.
    """
    rng, a, b = advance(rng)
    rows = jnp.arange(n, dtype=jnp.uint32)

    def permuted(_):
        keys = fmix32(fmix32(rows ^ a) + b)
        # The keys are distinct (bijections of distinct rows), so stability buys nothing, and
        # XLA's unstable sort is ~1.6x faster on CPU.
        return jax.lax.sort((keys, rows.astype(jnp.int32)), num_keys=1, is_stable=False)[1]

    # A cond, not a select: without shuffling the sort (~0.3 s per million rows on a CPU)
    # is skipped, not computed and thrown away.
    order = jax.lax.cond(shuffle, permuted, lambda _: rows.astype(jnp.int32), None)
    return rng, order


def shuffle_mode(shuffle) -> int:
    """``shuffle`` as the program's traced mode: 0 none, 1 rows, 2 batch order."""
    return 2 if shuffle == "batch" else int(bool(shuffle))


def epoch_index(rng, n, batch_size, steps, mode):
    """Device-side batch indices ``(steps, batch)`` and padding mask for one epoch.

    Returns ``(next_rng, idx, mask)``; ``mode`` is :func:`shuffle_mode`'s value (traced).
    Steps beyond ``ceil(n / batch_size)`` are all padding.
    """
    real_steps = -(-n // batch_size)
    key = rng
    rng, order = epoch_order(rng, n, mode == 1)
    total = real_steps * batch_size
    order = jnp.concatenate([order, jnp.zeros((total - n,), order.dtype)])
    mask = (jnp.arange(total) < n).astype(jnp.float32).reshape(real_steps, batch_size)
    idx = order.astype(jnp.int32).reshape(real_steps, batch_size)

    def by_batches(arrays):  # "batch": whole batches in a new order
        _, step_order = epoch_order(key, real_steps, True)
        return arrays[0][step_order], arrays[1][step_order]

    idx, mask = jax.lax.cond(mode == 2, by_batches, lambda arrays: arrays, (idx, mask))
    pad = steps - real_steps
    if pad:
        idx = jnp.concatenate([idx, jnp.zeros((pad, batch_size), idx.dtype)])
        mask = jnp.concatenate([mask, jnp.zeros((pad, batch_size), mask.dtype)])
    return rng, idx, mask
