"""Recurrent layers ``SimpleRNN``, ``LSTM`` and ``GRU``: Keras 3's weights, gates and masking,
run as one ``jax.lax.scan`` over time.

Masked timesteps (from ``Embedding(mask_zero=True)``) carry the states over unchanged and
repeat the previous output (or zeros with ``zero_output_for_mask``), as Keras's JAX backend
does; ``go_backwards`` scans in reverse and returns the sequence in processing order.  The
three share one base, ``_RNN`` (:mod:`lamina.layers.recurrent_base`); each adds its cell.
"""

from __future__ import annotations

from lamina.layers.recurrent_base import _RNN

# Names that moved keep their import path here (``name as name`` re-exports them).
from lamina.layers.recurrent_base import _WEIGHTS as _WEIGHTS
from lamina.layers.recurrent_base import _rate as _rate
from lamina.layers.recurrent_base import _ser as _ser
from lamina.layers.rnn_cell_properties import cell_properties

# The layers' own cell maths, under private names: ``keras.layers.recurrent.LSTMCell`` (a
# Keras 2 import path) must give the public cell layer, served by ``__getattr__`` below.
from lamina.layers.rnn_cells import GRUCell as _GRUMath
from lamina.layers.rnn_cells import LSTMCell as _LSTMMath
from lamina.layers.rnn_cells import SimpleRNNCell as _SimpleRNNMath

#: Keras's properties of every recurrent layer that read its cell.
_CELL_OPTIONS = ("activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                 "bias_initializer")


@cell_properties(*_CELL_OPTIONS)
class SimpleRNN(_RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Args:
        units: size of the output/state.
        activation: default ``'tanh'``.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer: as Keras.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as Keras.
        dropout, recurrent_dropout: fractions of the inputs / states dropped in training
            (one mask per batch, fixed over time, as Keras).
        return_sequences: return every timestep's output (batch, time, units) instead of the
            last one (batch, units).
        go_backwards: process the sequence in reverse.
        return_state: return ``[output, *states]`` (``[y, h]``; LSTM ``[y, h, c]``) instead of
            the output alone (for the functional API; a Sequential passes one tensor on).
        stateful: carry the last states of each batch into the next batch, across ``fit`` and
            ``predict`` calls, until ``reset_states()``; needs a fixed batch size
            (``batch_input_shape=`` on the first layer) and ``shuffle=False``, as Keras.

    Weights: ``kernel`` (input_dim, units), ``recurrent_kernel`` (units, units), ``bias``.

    >>> import jax, numpy as np
    >>> from lamina.layers import SimpleRNN
    >>> rnn = SimpleRNN(4, return_sequences=True)
    >>> params, state = rnn.init(jax.random.key(0), (None, 5, 3))
    >>> y, _ = rnn.apply(params, state, np.ones((2, 5, 3), "float32"))
    >>> tuple(y.shape)
    (2, 5, 4)
    """

    _cell_cls = _SimpleRNNMath

    _seed_before_initializers = True

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)


@cell_properties(*_CELL_OPTIONS, "recurrent_activation", "unit_forget_bias")
class LSTM(_RNN):
    """Long short-term memory, Keras 3's layout: gates ``i, f, c, o`` in column blocks.

    Args:
        units: size of the output/state.
        activation: default ``'tanh'``; recurrent_activation: default ``'sigmoid'``.
        unit_forget_bias: initialize the forget gate's bias to 1 (Keras's default True).
        Other arguments as :class:`SimpleRNN`.

    Weights: ``kernel`` (input_dim, 4 units), ``recurrent_kernel`` (units, 4 units),
    ``bias`` (4 units).

    >>> import jax, numpy as np
    >>> from lamina.layers import LSTM
    >>> lstm = LSTM(8)
    >>> params, state = lstm.init(jax.random.key(0), (None, 10, 3))
    >>> [tuple(w.shape) for w in params.values()]
    [(3, 32), (8, 32), (32,)]
    >>> y, _ = lstm.apply(params, state, np.ones((2, 10, 3), "float32"))
    >>> tuple(y.shape)
    (2, 8)
    """

    _cell_cls = _LSTMMath

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            cell_kwargs={"unit_forget_bias": unit_forget_bias},
            **kwargs,
        )


@cell_properties(*_CELL_OPTIONS, "recurrent_activation", "reset_after")
class GRU(_RNN):
    """Gated recurrent unit, Keras 3's layout: gates ``z, r, h`` in column blocks.

    Args:
        units: size of the output/state.
        activation: default ``'tanh'``; recurrent_activation: default ``'sigmoid'``.
        reset_after: apply the reset gate after the recurrent matmul (Keras 3's default
            True, with a ``(2, 3 * units)`` bias: input row, recurrent row).
        Other arguments as :class:`SimpleRNN`.

    >>> import jax, numpy as np
    >>> from lamina.layers import GRU
    >>> gru = GRU(4)
    >>> params, state = gru.init(jax.random.key(0), (None, 6, 2))
    >>> [tuple(w.shape) for w in params.values()]
    [(2, 12), (4, 12), (2, 12)]
    """

    _cell_cls = _GRUMath

    def __init__(
        self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            cell_kwargs={"reset_after": reset_after},
            **kwargs,
        )


def __getattr__(name):
    # Keras 2's ``from keras.layers.recurrent import RNN``: loaded on first use, because
    # ``rnn_layer`` imports this module's layers.
    if name == "RNN":
        from lamina.layers.rnn_layer import RNN

        return RNN
    if name == "StackedRNNCells":  # Keras 2 defined it in this module, next to ``RNN``
        from lamina.layers.rnn_api import StackedRNNCells

        return StackedRNNCells
    if name in ("SimpleRNNCell", "LSTMCell", "GRUCell"):  # Keras 2's cells, as keras.layers'
        from lamina.layers import rnn_cell_layers

        return getattr(rnn_cell_layers, name)
    if name == "Recurrent":  # Keras 2.0's base class of custom recurrent layers
        from lamina.layers.keras2_recurrent import Recurrent

        return Recurrent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
