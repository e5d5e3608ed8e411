"""The machinery ``SimpleRNN``, ``LSTM`` and ``GRU`` share (:mod:`lamina.layers.recurrent`):
arguments, weights, dropout masks, ``initial_state``/``stateful`` states and the time loop, one
``jax.lax.scan`` over a cell spec from :mod:`lamina.layers.rnn_cells`.

Masked timesteps (from ``Embedding(mask_zero=True)``) carry the states over unchanged and
repeat the previous output (or zeros with ``zero_output_for_mask``), as Keras's JAX backend
does; ``go_backwards`` scans in reverse and returns the sequence in processing order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import rnn_seed as _seed
from lamina.layers import stateful as _stateful
from lamina.layers.base import Layer
from lamina.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell
from lamina.utils.random import generator_seed

_WEIGHTS = ("kernel", "recurrent_kernel", "bias")


def _ser(serialize, obj):
    return None if obj is None else serialize(obj)


def _rate(value, what, layer):
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"{layer}({what}=...) must be a number in [0, 1). Received: {value!r}.")
    return float(value)


class _RNN(Layer):
    """Shared machinery of the recurrent layers (a cell spec run over time)."""

    #: Keras's ``call(sequences, initial_state=None, mask=None, training=...)``: what a
    #: second, third, ... positional argument means (``lstm(x, [h, c])``).
    _keras_call_args = ("initial_state", "mask", "training")

    uses_mask = True
    _cell_cls: type = SimpleRNNCell
    _seed_before_initializers = False

    def __init__(
        self,
        units,
        *,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        cell_kwargs=None,
        **kwargs,
    ):
        cls = type(self).__name__
        #: Keras's per-gate implementation (1) draws one input mask per gate.
        self._implementation = kwargs.get("implementation", 2)
        for k in ("use_cudnn", "implementation", "time_major"):
            kwargs.pop(k, None)
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int | jnp.integer) or units < 1:
            raise ValueError(f"{cls}(units=...) must be a positive integer. Received: {units!r}.")
        # Keras's cell makes its SeedGenerator before (SimpleRNN) or after (LSTM, GRU) its
        # initializers: the same draws in the same order
        if self._seed_before_initializers:
            self._generator_seed = generator_seed(seed)
        self.cell = self._cell_cls(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **(cell_kwargs or {}),
        )
        if not self._seed_before_initializers:
            self._generator_seed = generator_seed(seed)
        self.units = int(units)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.dropout = _rate(dropout, "dropout", cls)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", cls)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.stateful = bool(stateful)
        #: The model's fixed batch size, seen by compute_output_shape (stateful layers only).
        self._model_batch = None
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        active = self.dropout > 0 or self.recurrent_dropout > 0
        #: Masks from the generator's state (Keras's numbers), not from the step's key.
        self._keras_masks = _seed.seeded(seed, active)
        self.uses_rng = active and not self._keras_masks

    # ----------------------------------------------------------------- protocol
    def expected_rank(self):
        return (3,)

    def init(self, key, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) needs a known feature size; "
                f"received input shape {tuple(input_shape)}."
            )
        params = self.cell.init(key, int(input_shape[-1]))
        if not self.stateful:
            return params, _seed.initial_state(self)
        batch = input_shape[0] or self._model_batch or self._batch_size_arg
        if batch is None:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}(stateful=True)) needs a fixed batch "
                "size: give the model's first layer batch_input_shape=(batch_size, timesteps, "
                "features) (or batch_size= with input_shape=), as Keras requires."
            )
        return params, {**_stateful.zero_states(self.cell, int(batch)), **_seed.initial_state(self)}

    def compute_output_shape(self, input_shape):
        if self.stateful and input_shape[0] is not None:
            self._model_batch = int(input_shape[0])
            self._model_input_shape = tuple(input_shape)
        if self.return_sequences:
            out = (input_shape[0], input_shape[1], self.units)
        else:
            out = (input_shape[0], self.units)
        if self.return_state:
            return [out, *[(input_shape[0], self.units)] * self.cell.n_states]
        return out

    def reset_states(self, states=None):
        """Zeroes this layer's carried states in every model holding it (``stateful=True``).

        Args:
            states: optional arrays to set instead of zeros (Keras's argument), one per state
                (``[h]`` or ``[h, c]``), each of shape ``(batch_size, units)``.

        Raises:
            AttributeError: the layer is not stateful (as Keras 2 raised).
        """
        _stateful.reset_layer(self, states)

    reset_state = reset_states

    @property
    def states(self):
        """The carried states of a stateful layer, as variables (``None`` otherwise)."""
        return _stateful.state_views(self)

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        if self.return_state:  # Keras: the sequence keeps the mask, the states have none
            return [out, *[None] * self.cell.n_states]
        return out

    def _dropout_masks(self, key, batch, input_dim):
        """Keras's masks, fixed over time: one input mask (or one per gate when recurrent
        dropout runs the per-gate implementation), one recurrent mask per gate."""
        gates = self.cell.n_gates
        per_gate = self._per_gate()
        dkey, rkey = jax.random.split(key)
        dp = rdp = None
        if self.dropout > 0:
            n = gates if per_gate else 1
            keep = 1.0 - self.dropout
            dp = jax.random.bernoulli(dkey, keep, (n, batch, input_dim)) / keep
        if self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            rdp = jax.random.bernoulli(rkey, keep, (gates, batch, self.units)) / keep
        return dp, rdp

    def _per_gate(self) -> bool:
        """Whether Keras runs the gates one by one (one input mask each)."""
        per_gate = self.recurrent_dropout > 0 or self.__dict__.get("_implementation") == 1
        return per_gate and self.cell.n_gates > 1

    def _draw_masks(self, state, key, training, batch, input_dim):
        """``(input masks, recurrent masks, state)``: from the generator's state when the layer
        carries one (its counter advancing at every call, as Keras's), else from ``key``."""
        if _seed.STATE_KEY in state:
            counts = _seed.mask_counts(
                self.dropout, self.recurrent_dropout, self.cell.n_gates, self._per_gate()
            )
            return _seed.draw_masks(
                state, training, (self.dropout, self.recurrent_dropout), counts,
                (batch, input_dim), (batch, self.units),
            )  # fmt: skip
        if training and key is not None and self.uses_rng:
            return (*self._dropout_masks(key, batch, input_dim), state)
        return None, None, state

    def _project(self, params, x, dp):
        """``x @ kernel + input bias`` with input dropout applied: for every timestep
        (``x`` of rank 3, batch first) or for one (``x`` of rank 2)."""
        kernel = params["kernel"]
        if dp is None:
            xk = jnp.matmul(x, kernel)
        else:
            masks = dp if x.ndim == 2 else dp[:, :, None, :]
            if dp.shape[0] == 1:
                xk = jnp.matmul(x * masks[0], kernel)
            else:
                ks = jnp.split(kernel, dp.shape[0], axis=-1)
                xk = jnp.concatenate(
                    [jnp.matmul(x * masks[g], k) for g, k in enumerate(ks)], axis=-1
                )
        bias = self.cell.input_bias(params)
        if bias is not None:
            xk = xk + jnp.reshape(bias, (1,) * (xk.ndim - 1) + (-1,))
        return xk

    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        x = jnp.asarray(x, jnp.float32)
        batch = x.shape[0]
        dp, rdp, state = self._draw_masks(state, key, training, batch, x.shape[-1])
        if initial_state is not None:
            states0 = self._initial(initial_state, batch)
        elif self.stateful:
            states0 = _stateful.carried(self, state, batch)
        else:
            states0 = self.cell.initial_states(batch)
        final, last, outs = self._scan(params, x, states0, dp, rdp, mask)
        if self.stateful:
            state = _stateful.with_states(state, final)
        if self.return_sequences:
            if self.go_backwards:
                outs = jnp.flip(outs, axis=0)
            last = jnp.swapaxes(outs, 0, 1)
        if self.return_state:
            return [last, *final], state
        return last, state

    def _scan(self, params, x, states0, dp, rdp, mask, reverse=None):
        """The time loop: ``(final states, last output, outputs (time, batch, units) or None)``.

        On CPU the input projection runs inside the loop, one timestep at a time (XLA's CPU
        loop reads a hoisted ``(time, batch, gates * units)`` projection slowly: measured 2x
        slower at 32 rows, 5x at 256); elsewhere it is one matmul for all timesteps.
        """
        hoist = jax.default_backend() != "cpu"
        seq = jnp.swapaxes(self._project(params, x, dp) if hoist else x, 0, 1)
        keep_seq = self.return_sequences
        # Built-in cells output their first state: the last output is the final ``h``
        # unless masked steps output zeros.
        carry_last = mask is not None and self.zero_output_for_mask and not keep_seq
        cell = self.cell

        def step(carry, inp):
            states, last = carry
            x_t, m_t = inp if mask is not None else (inp, None)
            xk_t = x_t if hoist else self._project(params, x_t, dp)
            out, new_states = cell.step(params, xk_t, states, rdp)
            if m_t is not None:
                masked = jnp.logical_not(m_t)[:, None]
                prev = jnp.zeros_like(out) if self.zero_output_for_mask else states[0]
                out = jnp.where(masked, prev, out)
                new_states = tuple(jnp.where(masked, s, n) for s, n in zip(states, new_states))
            return (new_states, out if carry_last else last), (out if keep_seq else None)

        xs = seq if mask is None else (seq, jnp.swapaxes(jnp.asarray(mask).astype(bool), 0, 1))
        last0 = jnp.zeros((x.shape[0], self.units), jnp.float32) if carry_last else None
        steps = x.shape[1]
        unroll = steps if (self.unroll and steps) else 1
        (final, last), outs = jax.lax.scan(
            step,
            (states0, last0),
            xs,
            reverse=self.go_backwards if reverse is None else reverse,
            unroll=unroll,
        )
        return final, (last if carry_last else final[0]), outs

    def _initial(self, initial_state, batch):
        """``initial_state=`` as a tuple of ``(batch, units)`` arrays (Keras takes a list)."""
        states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
        n = self.cell.n_states
        if len(states) != n:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) expects initial_state to be a list "
                f"of {n} state tensor(s) ({'[h, c]' if n == 2 else '[h]'}), each of shape "
                f"(batch, {self.units}); received {len(states)}."
            )
        out = tuple(jnp.asarray(s, jnp.float32) for s in states)
        for s in out:
            if tuple(s.shape) != (batch, self.units):
                raise ValueError(
                    f"Layer {self.name!r} ({type(self).__name__}): each initial state must have "
                    f"shape (batch, units) = {(batch, self.units)}; received {tuple(s.shape)}."
                )
        return out

    def _weight_regularizers(self):
        regs = (self.kernel_regularizer, self.recurrent_regularizer, self.bias_regularizer)
        return dict(zip(_WEIGHTS, regs))

    def _weight_constraints(self):
        cons = (self.kernel_constraint, self.recurrent_constraint, self.bias_constraint)
        return dict(zip(_WEIGHTS, cons))

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        cell = self.cell
        config.update(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            units=self.units,
            activation=_activations.serialize(cell.activation),
        )
        if not isinstance(cell, SimpleRNNCell):
            config["recurrent_activation"] = _activations.serialize(cell.recurrent_activation)
        config.update(
            use_bias=cell.use_bias,
            kernel_initializer=_initializers.serialize(cell.kernel_initializer),
            recurrent_initializer=_initializers.serialize(cell.recurrent_initializer),
            bias_initializer=_initializers.serialize(cell.bias_initializer),
        )
        if isinstance(cell, LSTMCell):
            config["unit_forget_bias"] = cell.unit_forget_bias
        config.update(
            kernel_regularizer=_ser(_regularizers.serialize, self.kernel_regularizer),
            recurrent_regularizer=_ser(_regularizers.serialize, self.recurrent_regularizer),
            bias_regularizer=_ser(_regularizers.serialize, self.bias_regularizer),
            activity_regularizer=_ser(_regularizers.serialize, self.activity_regularizer),
            kernel_constraint=_ser(_constraints.serialize, self.kernel_constraint),
            recurrent_constraint=_ser(_constraints.serialize, self.recurrent_constraint),
            bias_constraint=_ser(_constraints.serialize, self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
        )
        if self.stateful:
            # The fixed batch size is part of a stateful layer (its states' shape): keep it in
            # the config, as Keras 2 kept batch_input_shape, so a saved model rebuilds.
            shape = getattr(self, "_model_input_shape", None)
            if shape is None and self._input_shape_arg is not None:
                shape = (self._batch_size_arg, *self._input_shape_arg)
            if shape is not None and shape[0] is not None:
                config["batch_input_shape"] = tuple(shape)
        if isinstance(cell, GRUCell):
            config["reset_after"] = cell.reset_after
        if not isinstance(cell, SimpleRNNCell):  # Keras's SimpleRNN config has no seed
            config["seed"] = self.seed
        return config
