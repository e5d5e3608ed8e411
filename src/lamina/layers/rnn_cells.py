"""The recurrent cells behind ``SimpleRNN``, ``LSTM`` and ``GRU``: weights and one time step.

A cell is a small spec (not a layer).  ``init(key, input_dim)`` builds Keras's weights
(``kernel``, ``recurrent_kernel``, ``bias``, in that order and layout) and
``step(params, xk, states, rdp)`` advances one timestep given ``xk``, the input's projection
``x_t @ kernel`` for this step (computed for all timesteps at once by the layer), the previous
states, and the optional recurrent dropout masks.  Gate order follows Keras 3: LSTM ``i, f, c,
o``; GRU ``z, r, h``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina import activations as _activations
from lamina import initializers as _initializers
from lamina.layers.activation_sublayer import check_activation_attribute
from lamina.utils import random as _random


def _split(a, n):
    return jnp.split(a, n, axis=-1)


def recurrent_matmul(h, rk, rdp, n_gates):
    """``h @ rk`` or, with per-gate recurrent dropout masks ``rdp`` (gates, batch, units),
    the concatenation of ``(h * rdp[g]) @ rk_g``."""
    if rdp is None:
        return jnp.matmul(h, rk)
    return jnp.concatenate(
        [jnp.matmul(h * rdp[g], k) for g, k in enumerate(_split(rk, n_gates))], axis=-1
    )


class _Cell:
    n_gates = 1
    n_states = 1

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
    ):
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        for name in ("activation", "recurrent_activation"):  # a PReLU() runs in the loop
            check_activation_attribute(self, name, getattr(self, name))
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)

    def _bias(self, key):
        return _initializers.or_default(self.bias_initializer)((self.n_gates * self.units,), jnp.float32, key=key)

    def init(self, key, input_dim):
        k1, k2, k3 = _random.split(key, 3)
        width = self.n_gates * self.units
        params = {
            "kernel": _initializers.or_default(self.kernel_initializer)((input_dim, width), jnp.float32, key=k1),
            "recurrent_kernel": _initializers.or_default(self.recurrent_initializer)(
                (self.units, width), jnp.float32, key=k2
            ),
        }
        if self.use_bias:
            params["bias"] = self._bias(k3)
        return params

    def input_bias(self, params):
        """The bias added to ``x @ kernel`` (before the recurrent term is added)."""
        return None

    def initial_states(self, batch):
        return tuple(jnp.zeros((batch, self.units), jnp.float32) for _ in range(self.n_states))


class SimpleRNNCell(_Cell):
    """``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``."""

    def input_bias(self, params):
        return params.get("bias")

    def step(self, params, xk, states, rdp):
        (h_prev,) = states
        out = xk + recurrent_matmul(h_prev, params["recurrent_kernel"], rdp, 1)
        out = self.activation(out)
        return out, (out,)


class LSTMCell(_Cell):
    """Keras 3's LSTM cell: gates ``i, f, c, o``; states ``(h, c)``."""

    n_gates = 4
    n_states = 2

    def __init__(self, units, *, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias(self, key):
        if not self.unit_forget_bias:
            return super()._bias(key)
        k1, k2 = _random.split(key)
        u = self.units
        parts = [
            _initializers.or_default(self.bias_initializer)((u,), jnp.float32, key=k1),
            np.ones((u,), np.float32),
            _initializers.or_default(self.bias_initializer)((2 * u,), jnp.float32, key=k2),
        ]
        if all(isinstance(p, np.ndarray) for p in parts):  # host init: stay off the device
            return np.concatenate(parts)
        return jnp.concatenate(parts)

    def input_bias(self, params):
        return params.get("bias")

    def step(self, params, xk, states, rdp):
        h_prev, c_prev = states
        z = xk + recurrent_matmul(h_prev, params["recurrent_kernel"], rdp, 4)
        z0, z1, z2, z3 = _split(z, 4)
        i = self.recurrent_activation(z0)
        f = self.recurrent_activation(z1)
        c = f * c_prev + i * self.activation(z2)
        o = self.recurrent_activation(z3)
        h = o * self.activation(c)
        return h, (h, c)


class GRUCell(_Cell):
    """Keras 3's GRU cell: gates ``z, r, h``; ``reset_after`` (default) applies the reset gate
    after the recurrent matmul and uses a ``(2, 3 * units)`` bias (input, recurrent)."""

    n_gates = 3

    def __init__(self, units, *, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias(self, key):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return _initializers.or_default(self.bias_initializer)(shape, jnp.float32, key=key)

    def input_bias(self, params):
        if not self.use_bias:
            return None
        return params["bias"][0] if self.reset_after else params["bias"]

    def step(self, params, xk, states, rdp):
        (h_prev,) = states
        u = self.units
        rk = params["recurrent_kernel"]
        x_z, x_r, x_h = _split(xk, 3)
        if self.reset_after:
            inner = recurrent_matmul(h_prev, rk, rdp, 3)
            if self.use_bias:
                inner = inner + jnp.reshape(params["bias"][1], (1, -1))
            rec_z, rec_r, rec_h = _split(inner, 3)
        else:
            rdp2 = None if rdp is None else rdp[:2]
            rec_z, rec_r = _split(recurrent_matmul(h_prev, rk[:, : 2 * u], rdp2, 2), 2)
        z = self.recurrent_activation(x_z + rec_z)
        r = self.recurrent_activation(x_r + rec_r)
        if self.reset_after:
            rec_h = r * rec_h
        else:
            h_h = h_prev if rdp is None else h_prev * rdp[2]
            rec_h = jnp.matmul(r * h_h, rk[:, 2 * u :])
        hh = self.activation(x_h + rec_h)
        h = z * h_prev + (1 - z) * hh
        return h, (h,)
