"""Convolutional LSTMs ``ConvLSTM1D``/``2D``/``3D``: Keras 3's gates with convolutions in place
of matmuls, over ``(batch, time, *spatial, channels)`` sequences, in one ``lax.scan``.

This module holds the layers' arguments, shapes, weights and config; the recurrence itself
(the input convolution once for every timestep, the recurrent one inside the loop) is
:mod:`lamina.layers.conv_lstm_scan`.  Weights are Keras's: ``kernel``
``(*kernel_size, in, 4 filters)``, ``recurrent_kernel`` ``(*kernel_size, filters, 4 filters)``,
``bias`` ``(4 filters,)``, gates ``i, f, c, o``.

>>> import jax, numpy as np
>>> from lamina.layers import ConvLSTM2D
>>> layer = ConvLSTM2D(4, 3, padding="same", return_sequences=True)
>>> params, state = layer.init(jax.random.key(0), (None, 5, 8, 8, 2))
>>> [tuple(w.shape) for w in params.values()]
[(3, 3, 2, 16), (3, 3, 4, 16), (16,)]
>>> y, _ = layer.apply(params, state, np.ones((2, 5, 8, 8, 2), "float32"))
>>> tuple(y.shape)
(2, 5, 8, 8, 4)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import conv_lstm_scan
from lamina.layers import rnn_seed as _seed
from lamina.layers import stateful as _stateful
from lamina.layers.base import Layer
from lamina.layers.conv_utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from lamina.utils import random as _random
from lamina.utils.random import generator_seed

_WEIGHTS = ("kernel", "recurrent_kernel", "bias")


def _ser(serialize, obj):
    return None if obj is None else serialize(obj)


class _ConvLSTM(Layer):
    """Shared machinery of ``ConvLSTM1D``/``2D``/``3D`` (``rank`` spatial dimensions)."""

    #: Keras's ``call(sequences, initial_state=None, mask=None, training=...)``: what a
    #: second, third, ... positional argument means (``lstm(x, [h, c])``).
    _keras_call_args = ("initial_state", "mask", "training")

    rank = 2
    uses_mask = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Keras's ConvLSTM cell makes its SeedGenerator before its initializers
        self._generator_seed = generator_seed(seed)
        cls = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(
                f"{cls}(filters=...) must be a positive integer. Received: {filters!r}."
            )
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", cls, 1)
        self.strides = normalize_tuple(strides, self.rank, "strides", cls, 1)
        self.padding = normalize_padding(padding, ("valid", "same"), cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", cls, 1)
        self.activation = _activations.get(activation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(
                    f"{cls}({name}=...) must be a number in [0, 1). Received: {value!r}."
                )
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        active = self.dropout > 0 or self.recurrent_dropout > 0
        self._keras_masks = _seed.seeded(seed, active)  # Keras's masks: see rnn_seed
        self.uses_rng = active and not self._keras_masks
        self._model_batch = None

    # ------------------------------------------------------------------ shapes
    def expected_rank(self):
        return (self.rank + 3,)

    def _channels_first(self):
        return self.data_format == "channels_first"

    def _step_dims(self, input_shape):
        """``(spatial dims, channels)`` of one timestep."""
        step = input_shape[2:]
        return (step[1:], step[0]) if self._channels_first() else (step[:-1], step[-1])

    def _state_shape(self, input_shape):
        spatial, _ = self._step_dims(input_shape)
        out = tuple(
            conv_output_length(n, k, self.padding, s, d)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )
        if self._channels_first():
            return (input_shape[0], self.filters, *out)
        return (input_shape[0], *out, self.filters)

    def compute_output_shape(self, input_shape):
        if self.stateful and input_shape[0] is not None:
            self._model_batch = int(input_shape[0])
        state = self._state_shape(input_shape)
        out = (state[0], input_shape[1], *state[1:]) if self.return_sequences else state
        if self.return_state:
            return [out, state, state]
        return out

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    # ----------------------------------------------------------------- weights
    def init(self, key, input_shape):
        cls = type(self).__name__
        spatial, channels = self._step_dims(input_shape)
        if channels is None or None in spatial:
            raise ValueError(
                f"Layer {self.name!r} ({cls}) needs static spatial dimensions and a known channel "
                f"count; received input shape {tuple(input_shape)}."
            )
        k1, k2, k3 = _random.split(key, 3)
        width = 4 * self.filters
        params = {
            "kernel": self.kernel_initializer(
                (*self.kernel_size, int(channels), width), jnp.float32, key=k1
            ),
            "recurrent_kernel": self.recurrent_initializer(
                (*self.kernel_size, self.filters, width), jnp.float32, key=k2
            ),
        }
        if self.use_bias:
            f = self.filters
            if self.unit_forget_bias:
                ka, kb = _random.split(k3)
                parts = [
                    self.bias_initializer((f,), jnp.float32, key=ka),
                    np.ones((f,), np.float32),
                    self.bias_initializer((2 * f,), jnp.float32, key=kb),
                ]
                host = all(isinstance(p, np.ndarray) for p in parts)
                params["bias"] = np.concatenate(parts) if host else jnp.concatenate(parts)
            else:
                params["bias"] = self.bias_initializer((width,), jnp.float32, key=k3)
        if not self.stateful:
            return params, _seed.initial_state(self)
        batch = input_shape[0] or self._model_batch or self._batch_size_arg
        if batch is None:
            raise ValueError(
                f"Layer {self.name!r} ({cls}(stateful=True)) needs a fixed batch size: give the "
                "model's input batch_shape=(batch_size, timesteps, ...), as Keras requires."
            )
        shape = (int(batch), *self._state_shape(input_shape)[1:])
        zeros = np.zeros(shape, np.float32)
        states = {_stateful.STATE_KEYS[0]: zeros, _stateful.STATE_KEYS[1]: zeros.copy()}
        return params, {**states, **_seed.initial_state(self)}

    def _weight_regularizers(self):
        regs = (self.kernel_regularizer, self.recurrent_regularizer, self.bias_regularizer)
        return dict(zip(_WEIGHTS, regs))

    def _weight_constraints(self):
        cons = (self.kernel_constraint, self.recurrent_constraint, self.bias_constraint)
        return dict(zip(_WEIGHTS, cons))

    # ----------------------------------------------------------------- forward
    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        return conv_lstm_scan.apply(
            self, params, state, x, training=training, key=key, mask=mask,
            initial_state=initial_state,
        )  # fmt: skip

    def reset_states(self, states=None):
        """Zeroes (or sets) this layer's carried states (``stateful=True``)."""
        _stateful.reset_layer(self, states)

    reset_state = reset_states

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=_activations.serialize(self.activation),
            recurrent_activation=_activations.serialize(self.recurrent_activation),
            use_bias=self.use_bias,
            kernel_initializer=_initializers.serialize(self.kernel_initializer),
            recurrent_initializer=_initializers.serialize(self.recurrent_initializer),
            bias_initializer=_initializers.serialize(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
            kernel_regularizer=_ser(_regularizers.serialize, self.kernel_regularizer),
            recurrent_regularizer=_ser(_regularizers.serialize, self.recurrent_regularizer),
            bias_regularizer=_ser(_regularizers.serialize, self.bias_regularizer),
            activity_regularizer=_ser(_regularizers.serialize, self.activity_regularizer),
            kernel_constraint=_ser(_constraints.serialize, self.kernel_constraint),
            recurrent_constraint=_ser(_constraints.serialize, self.recurrent_constraint),
            bias_constraint=_ser(_constraints.serialize, self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        return config


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM over ``(batch, time, steps, channels)``.

    Args:
        filters: output channels; kernel_size, strides, dilation_rate: an int or 1 int.
        padding: ``'valid'`` or ``'same'`` (the input convolution's; the recurrent one is
            ``'same'``).  Other arguments as :class:`ConvLSTM2D`.

    >>> from lamina.layers import ConvLSTM1D
    >>> ConvLSTM1D(3, 2).compute_output_shape((None, 4, 6, 2))
    (None, 5, 3)
    """

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM over ``(batch, time, rows, cols, channels)`` (Keras's layer).

    Args:
        filters: output channels.
        kernel_size, strides, dilation_rate: an int or a tuple of 2 ints.
        padding: ``'valid'`` or ``'same'``; data_format: ``'channels_last'`` (default) or
            ``'channels_first'``.
        activation, recurrent_activation, use_bias, initializers, ``unit_forget_bias``,
        regularizers, constraints, dropout, recurrent_dropout, seed: as ``LSTM``.
        return_sequences, return_state, go_backwards, stateful, unroll: as ``LSTM``.

    >>> from lamina.layers import ConvLSTM2D
    >>> ConvLSTM2D(3, 3, return_state=True).compute_output_shape((None, 4, 8, 8, 1))
    [(None, 6, 6, 3), (None, 6, 6, 3), (None, 6, 6, 3)]
    """

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM over ``(batch, time, depth, rows, cols, channels)``.

    Arguments as :class:`ConvLSTM2D` (tuples of 3 ints).

    >>> from lamina.layers import ConvLSTM3D
    >>> ConvLSTM3D(2, 3, padding="same").compute_output_shape((None, 4, 5, 5, 5, 1))
    (None, 5, 5, 5, 2)
    """

    rank = 3
