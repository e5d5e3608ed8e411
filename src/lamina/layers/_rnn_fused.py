"""``Bidirectional`` over a built-in recurrent layer: both directions in one ``lax.scan``.

The forward and backward layers share one configuration (they differ only in
``go_backwards``), so their weights stack along a new leading axis and ``jax.vmap`` runs the
two time loops as one: half the loop steps, each a batched matmul.  The backward direction
reads the time-reversed input and its outputs come back in time order, as ``Bidirectional``
merges them.

>>> import jax, numpy as np
>>> from lamina.layers import Bidirectional, GRU
>>> bi = Bidirectional(GRU(3, return_sequences=True))
>>> from lamina.layers import _rnn_fused
>>> _rnn_fused.FUSE = True  # forced here; the default off CPU (two loops are faster on CPU)
>>> fusable(bi.forward_layer, bi.backward_layer, training=True) is not None
True
>>> _rnn_fused.FUSE = None
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_SKIP = ("name", "go_backwards")

#: Fuse the two directions: None decides (not on CPU, where XLA runs the batched matmuls of
#: the fused loop no faster than two loops); True/False force it.  Measured on the idle 2-core
#: CPU (session 8): ``imdb_bilstm``'s training epoch (512 rows, batch 32) 0.26-0.28 s as two
#: loops against 0.31-0.36 s fused, and predict 0.10-0.2 s against 0.2-0.3 s.  (A measurement
#: at load ~20 once favoured fusing in training: 1.2 s against 3.1 s.)
FUSE = None


def enabled(training: bool = False) -> bool:
    """Whether ``Bidirectional`` runs both directions of a built-in layer in one scan."""
    if FUSE is not None:
        return bool(FUSE)
    return jax.default_backend() != "cpu"


def _core(layer):
    """The built-in recurrent layer that runs ``layer`` (an ``RNN(cell)`` runs one)."""
    from lamina.layers.recurrent import _RNN

    fast = getattr(layer, "_fast", None)
    layer = fast if fast is not None else layer
    return layer if isinstance(layer, _RNN) else None


def fusable(forward, backward, training=False):
    """``(forward core, backward core)`` when one scan can run both, else None."""
    if not enabled(training):
        return None
    f, b = _core(forward), _core(backward)
    if f is None or b is None or type(f) is not type(b) or f.stateful:
        return None
    if f.go_backwards or not b.go_backwards:
        return None
    fc = {k: v for k, v in f.get_config().items() if k not in _SKIP}
    bc = {k: v for k, v in b.get_config().items() if k not in _SKIP}
    if fc != bc or f.zero_output_for_mask != b.zero_output_for_mask:
        return None
    if f.__dict__.get("_keras_masks") != b.__dict__.get("_keras_masks"):
        return None
    return f, b


def run_both(pair, p_fwd, p_bwd, x, *, mask, training, keys, initial_state=None, states=None):
    """``(forward output, backward output in time order, forward final states, backward
    final states, (forward state, backward state))`` of the two layers in ``pair``;
    ``initial_state``: ``None`` or the two directions' initial states, ``(forward states,
    backward states)``; ``states``: the two layers' ``state`` dicts (their dropout
    generators', advanced in the result), or None."""
    f, b = pair
    x = jnp.asarray(x, jnp.float32)
    batch = x.shape[0]
    params = jax.tree_util.tree_map(lambda u, v: jnp.stack([u, v]), p_fwd, p_bwd)
    xs = jnp.stack([x, jnp.flip(x, axis=1)])
    masks = None
    if mask is not None:
        m = jnp.asarray(mask).astype(bool)
        masks = jnp.stack([m, jnp.flip(m, axis=1)])
    drop = None
    if states is not None and any(states):  # generators: Keras's masks (advanced in inference)
        drawn = [
            layer._draw_masks(s, k, training, batch, x.shape[-1])
            for layer, s, k in zip(pair, states, keys)
        ]
        states = (drawn[0][2], drawn[1][2])
        if drawn[0][0] is not None or drawn[0][1] is not None:
            drop = jax.tree_util.tree_map(
                lambda u, v: jnp.stack([u, v]), drawn[0][:2], drawn[1][:2]
            )
    elif training and f.uses_rng and keys[0] is not None:
        pairs = [layer._dropout_masks(k, batch, x.shape[-1]) for layer, k in zip(pair, keys)]
        drop = jax.tree_util.tree_map(lambda u, v: jnp.stack([u, v]), pairs[0], pairs[1])
    if initial_state is None:
        zeros = f.cell.initial_states(batch)
        states0 = (zeros, zeros)
    else:
        states0 = (f._initial(initial_state[0], batch), b._initial(initial_state[1], batch))
    states0 = jax.tree_util.tree_map(lambda u, v: jnp.stack([u, v]), *states0)

    def one(p, xx, mm, dd, ss):
        dp, rdp = (None, None) if dd is None else dd
        final, last, outs = f._scan(p, xx, ss, dp, rdp, mm, reverse=False)
        return (last if outs is None else jnp.swapaxes(outs, 0, 1)), final

    y, final = jax.vmap(one)(params, xs, masks, drop, states0)
    y_fwd, y_bwd = y[0], y[1]
    if f.return_sequences:
        y_bwd = jnp.flip(y_bwd, axis=1)
    return y_fwd, y_bwd, [s[0] for s in final], [s[1] for s in final], states
