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
from jax import lax

_GOLDEN = 0x9E3779B9


# ``lax`` rather than ``jnp`` operators below: every epoch program traces these few dozen
# integer ops, and ``jnp``'s promotion and broadcasting checks made the shuffle about a fifth
# of a small model's trace time.


def fmix32(x):
    """MurmurHash3's 32-bit finalizer (a bijection on uint32)."""
    x = lax.bitwise_xor(x, lax.shift_right_logical(x, jnp.uint32(16)))
    x = lax.mul(x, jnp.uint32(0x85EBCA6B))
    x = lax.bitwise_xor(x, lax.shift_right_logical(x, jnp.uint32(13)))
    x = lax.mul(x, jnp.uint32(0xC2B2AE35))
    return lax.bitwise_xor(x, lax.shift_right_logical(x, jnp.uint32(16)))


def advance(rng):
    """The shuffle key of the next epoch and this epoch's two hash words."""
    impl = jax.random.key_impl(rng)
    words = lax.convert_element_type(jax.random.key_data(rng), jnp.uint32)
    k = words.shape[-1]
    steps = lax.mul(jnp.uint32(_GOLDEN), lax.iota(jnp.uint32, k) + jnp.uint32(1))
    nxt = fmix32(lax.add(words, steps))
    a = jnp.uint32(0)
    for i in range(k):  # fold every word of the key into both epoch words
        a = fmix32(lax.bitwise_xor(a, lax.index_in_dim(words, i, keepdims=False)))
    b = fmix32(lax.add(a, jnp.uint32(_GOLDEN)))
    return jax.random.wrap_key_data(nxt, impl=impl), a, b


def _order(a, b, n: int, shuffle):
    """The row order (int32, length ``n``) drawn from the epoch words ``(a, b)``."""
    rows = lax.iota(jnp.uint32, n)

    def permuted(_):
        keys = fmix32(lax.add(fmix32(lax.bitwise_xor(rows, a)), b))
        # The keys are distinct (bijections of distinct rows), so stability buys nothing, and
        # XLA's unstable sort is ~1.6x faster on CPU.
        return lax.sort((keys, lax.iota(jnp.int32, n)), num_keys=1, is_stable=False)[1]

    # A cond, not a select: without shuffling the sort (~0.3 s per million rows on a CPU)
    # is skipped, not computed and thrown away.
    return lax.cond(shuffle, permuted, lambda _: lax.iota(jnp.int32, n), None)


def epoch_order(rng, n: int, shuffle=True):
    """``(next_rng, order)``: this epoch's row order (int32, length ``n``).

    ``shuffle`` may be a traced boolean (one program serves fits with and without shuffling);
    the key advances either way, as an epoch's draw would.
    """
    rng, a, b = advance(rng)
    return rng, _order(a, b, n, shuffle)


def shuffle_mode(shuffle) -> int:
    """``shuffle`` as the program's traced mode: 0 none, 1 rows, 2 batch order."""
    return 2 if shuffle == "batch" else int(bool(shuffle))


def epoch_index(rng, n, batch_size, steps, mode):
    """Device-side batch indices ``(steps, batch)`` and padding mask for one epoch.

    Returns ``(next_rng, idx, mask)``; ``mode`` is :func:`shuffle_mode`'s value (traced).
    Steps beyond ``ceil(n / batch_size)`` are all padding.
    """
    real_steps = -(-n // batch_size)
    # The batch order is drawn from the same epoch words as the row order (it is used
    # instead of it, never with it).
    rng, a, b = advance(rng)
    order = _order(a, b, n, mode == 1)
    total = real_steps * batch_size
    if total > n:
        order = lax.concatenate([order, jnp.zeros((total - n,), jnp.int32)], 0)
    mask = (lax.iota(jnp.int32, total) < n).astype(jnp.float32).reshape(real_steps, batch_size)
    idx = order.reshape(real_steps, batch_size)

    def by_batches(arrays):  # "batch": whole batches in a new order
        step_order = _order(a, b, real_steps, True)
        return arrays[0][step_order], arrays[1][step_order]

    idx, mask = lax.cond(mode == 2, by_batches, lambda arrays: arrays, (idx, mask))
    pad = steps - real_steps
    if pad:
        idx = jnp.concatenate([idx, jnp.zeros((pad, batch_size), idx.dtype)])
        mask = jnp.concatenate([mask, jnp.zeros((pad, batch_size), mask.dtype)])
    return rng, idx, mask
