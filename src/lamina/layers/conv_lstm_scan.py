"""The recurrence of a convolutional LSTM (:mod:`lamina.layers.conv_lstm`): Keras 3's
``ConvLSTMCell`` step run over the timesteps in one ``lax.scan``.

The input convolution (``strides``, ``padding``, ``dilation_rate``) runs once for every
timestep (time merged into the batch); the recurrent convolution (stride 1, ``'same'``) runs
inside the loop.  Dropout masks are one per gate, as Keras's cell draws them.

>>> import jax, numpy as np
>>> from lamina.layers import ConvLSTM1D
>>> from lamina.layers.conv_lstm_scan import apply
>>> layer = ConvLSTM1D(2, 3, padding="same", return_state=True)
>>> params, state = layer.init(jax.random.key(0), (None, 4, 6, 1))
>>> (y, h, c), _ = apply(layer, params, state, np.ones((3, 4, 6, 1), "float32"))
>>> tuple(y.shape), bool((y == h).all())
((3, 6, 2), True)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers import conv_ops
from lamina.layers import rnn_seed as _seed
from lamina.layers import stateful as _stateful


def apply(layer, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
    """Runs ``layer`` (a ConvLSTM) over ``x``: returns ``(outputs, new_state)``, as
    ``Layer.apply`` (``outputs`` is ``[y, h, c]`` with ``return_state=True``)."""
    x = jnp.asarray(x, jnp.float32)
    batch, steps = x.shape[0], x.shape[1]
    state_shape = (batch, *layer._state_shape(x.shape)[1:])
    dp = rdp = None
    if _seed.STATE_KEY in state:  # Keras's masks, four of each (one per gate)
        counts = _seed.mask_counts(layer.dropout, layer.recurrent_dropout, 4, True)
        rates = (layer.dropout, layer.recurrent_dropout)
        dp, rdp, state = _seed.draw_masks(
            state, training, rates, counts, (batch, *x.shape[2:]), state_shape
        )
    elif training and key is not None and layer.uses_rng:
        dkey, rkey = jax.random.split(key)
        if layer.dropout > 0:
            keep = 1.0 - layer.dropout
            dp = jax.random.bernoulli(dkey, keep, (4, batch, *x.shape[2:])) / keep
        if layer.recurrent_dropout > 0:
            keep = 1.0 - layer.recurrent_dropout
            rdp = jax.random.bernoulli(rkey, keep, (4, *state_shape)) / keep
    # The input convolution for every timestep at once: time merged into the batch.
    merged = jnp.reshape(jnp.swapaxes(x, 0, 1), (steps * batch, *x.shape[2:]))
    if dp is not None:
        dp = jnp.tile(dp, (1, steps) + (1,) * (dp.ndim - 2))
    z_in = _input_conv(layer, params, merged, dp)
    z_in = jnp.reshape(z_in, (steps, batch, *z_in.shape[1:]))
    if initial_state is not None:
        states0 = tuple(jnp.asarray(s, jnp.float32) for s in initial_state)
        if len(states0) != 2 or any(tuple(s.shape) != state_shape for s in states0):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) expects initial_state=[h, c], "
                f"each of shape {state_shape}; received "
                f"{[tuple(s.shape) for s in states0]}."
            )
    elif layer.stateful:
        states0 = tuple(jnp.asarray(state[k], jnp.float32) for k in _stateful.STATE_KEYS[:2])
        if states0[0].shape[0] != batch:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}(stateful=True)) was built for "
                f"batches of exactly {states0[0].shape[0]} samples, but received {batch}."
            )
    else:
        states0 = (jnp.zeros(state_shape, jnp.float32),) * 2
    keep_seq, zero_out = layer.return_sequences, layer.zero_output_for_mask

    def step(carry, inp):
        h_prev, c_prev = carry
        z_t, m_t = inp if mask is not None else (inp, None)
        zi, zf, zc, zo = _gates(layer, z_t + _recurrent_conv(layer, params, h_prev, rdp))
        i = layer.recurrent_activation(zi)
        f = layer.recurrent_activation(zf)
        c = f * c_prev + i * layer.activation(zc)
        h = layer.recurrent_activation(zo) * layer.activation(c)
        out = h
        if m_t is not None:
            masked = jnp.reshape(jnp.logical_not(m_t), (-1,) + (1,) * (h.ndim - 1))
            out = jnp.where(masked, jnp.zeros_like(h) if zero_out else h_prev, h)
            h = jnp.where(masked, h_prev, h)
            c = jnp.where(masked, c_prev, c)
        return (h, c), (out if keep_seq else None)

    xs = z_in
    if mask is not None:
        xs = (z_in, jnp.swapaxes(jnp.asarray(mask).astype(bool), 0, 1))
    unroll = steps if (layer.unroll and steps) else 1
    final, outs = jax.lax.scan(step, states0, xs, reverse=layer.go_backwards, unroll=unroll)
    if layer.stateful:
        state = _stateful.with_states(state, final)
    if keep_seq:
        if layer.go_backwards:
            outs = jnp.flip(outs, axis=0)
        y = jnp.swapaxes(outs, 0, 1)
    else:
        y = final[0]
    if layer.return_state:
        return [y, *final], state
    return y, state


def _conv(layer, x, kernel, strides, padding, dilation):
    """One convolution in the layer's data format (no groups)."""
    return conv_ops.conv(x, kernel, strides, padding.upper(), dilation, 1, layer.data_format)


def _gates(layer, z):
    """``z`` split into the pre-activations of gates ``i, f, c, o`` (the channel axis)."""
    axis = 1 if layer._channels_first() else -1
    return jnp.split(z, 4, axis=axis)


def _input_conv(layer, params, x, dp):
    """The input convolution of a batch of timesteps (+ bias), dropout masks applied."""
    kernel = params["kernel"]
    if dp is None:
        z = _conv(layer, x, kernel, layer.strides, layer.padding, layer.dilation_rate)
    else:
        z = jnp.concatenate(
            [
                _conv(layer, x * dp[g], k, layer.strides, layer.padding, layer.dilation_rate)
                for g, k in enumerate(jnp.split(kernel, 4, axis=-1))
            ],
            axis=1 if layer._channels_first() else -1,
        )
    if layer.use_bias:
        shape = (
            (1, -1) + (1,) * layer.rank
            if layer._channels_first()
            else (1,) * (layer.rank + 1) + (-1,)
        )
        z = z + jnp.reshape(params["bias"], shape)
    return z


def _recurrent_conv(layer, params, h, rdp):
    """The recurrent convolution of the state ``h`` (stride 1, ``'same'``), masks applied."""
    ones = (1,) * layer.rank
    rk = params["recurrent_kernel"]
    if rdp is None:
        return _conv(layer, h, rk, ones, "same", ones)
    parts = [
        _conv(layer, h * rdp[g], k, ones, "same", ones)
        for g, k in enumerate(jnp.split(rk, 4, axis=-1))
    ]
    return jnp.concatenate(parts, axis=1 if layer._channels_first() else -1)
