"""Keras's public cells ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell``: layers for ``RNN``.

Each cell keeps Keras's config (``units``, activations, initializers, regularizers,
constraints, ``dropout``, ``recurrent_dropout``, ``seed``) and weights (``kernel``,
``recurrent_kernel``, ``bias``).  ``RNN(LSTMCell(8))`` runs exactly as ``LSTM(8)`` (one scan,
input projection hoisted out of it); inside ``StackedRNNCells`` or a user's cell a built-in
cell advances one timestep with :meth:`_BuiltinCell.step`.

>>> import jax, numpy as np
>>> from lamina.layers import LSTMCell, RNN
>>> cell = LSTMCell(4)
>>> cell.state_size, cell.output_size
([4, 4], 4)
>>> rnn = RNN(cell, return_sequences=True)
>>> params, state = rnn.init(jax.random.key(0), (None, 5, 3))
>>> y, _ = rnn.apply(params, state, np.ones((2, 5, 3), "float32"))
>>> tuple(y.shape)
(2, 5, 4)
"""

from __future__ import annotations

import random as _py_random

import jax.numpy as jnp

from lamina.layers import rnn_seed as _seed
from lamina.layers.base import Layer
from lamina.layers.recurrent import GRU, LSTM, SimpleRNN

#: Config keys of a recurrent layer that its cell does not have.
_LAYER_ONLY = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
    "activity_regularizer",
    "batch_input_shape",
    "name",
    "trainable",
    "dtype",
)


class _BuiltinCell(Layer):
    """A built-in cell: the arguments of its recurrent layer, minus the sequence flags."""

    _layer_cls: type = SimpleRNN
    _untracked_attributes = ("_layer",)

    def __init__(self, units, **kwargs):
        base = {k: kwargs.pop(k) for k in ("name", "trainable", "dtype") if k in kwargs}
        for k in ("input_shape", "input_dim", "batch_size", "batch_input_shape"):
            if k in kwargs:
                base[k] = kwargs.pop(k)
        super().__init__(**base)
        self.seed = kwargs.get("seed")
        self._cell_kwargs = dict(kwargs)
        #: The equivalent layer (never in a model): holds the arguments and the pure step.
        self._layer = self._layer_cls(units, name=f"{self.name}_impl", **kwargs)
        self.units = self._layer.units
        self.uses_rng = self._layer.uses_rng
        self._keras_masks = self._layer._keras_masks  # see rnn_seed

    # ------------------------------------------------------------ Keras's cell API
    @property
    def state_size(self):
        n = self._layer.cell.n_states
        return self.units if n == 1 else [self.units] * n

    @property
    def output_size(self):
        return self.units

    @property
    def dropout(self):
        return self._layer.dropout

    @property
    def recurrent_dropout(self):
        return self._layer.recurrent_dropout

    def get_initial_state(self, batch_size=None):
        """Zero states, ``[h]`` or ``[h, c]``, each ``(batch_size, units)``."""
        return [jnp.zeros((batch_size, self.units), jnp.float32)] * self._layer.cell.n_states

    def as_layer(self, **flags):
        """The recurrent layer that runs this cell over time (``RNN(cell, **flags)``): the
        cell's initializers and dropout generator, drawing nothing from Python's ``random``
        (Keras's ``RNN(cell)`` makes no seed of its own)."""
        saved = _py_random.getstate()
        try:
            layer = self._layer_cls(self.units, **self._cell_kwargs, **flags)
        finally:
            _py_random.setstate(saved)
        layer.cell = self._layer.cell
        for name in ("_generator_seed", "_keras_masks", "uses_rng"):
            if name in self._layer.__dict__:
                layer.__dict__[name] = self._layer.__dict__[name]
        return layer

    def __call__(self, *args, **kwargs):
        """Keras's ``cell(inputs, states, training=...)``: one timestep (``apply`` takes the
        inputs and the states as one list, the form a user's cell calls inside ``RNN``)."""
        if len(args) == 1 and "states" in kwargs:
            args = (args[0], kwargs.pop("states"))
        if len(args) == 2:
            args = ([args[0], args[1]],)
        return super().__call__(*args, **kwargs)

    # ------------------------------------------------------------------ pure core
    def init(self, key, input_shape):
        if isinstance(input_shape, list | tuple) and isinstance(input_shape[0], list | tuple):
            input_shape = input_shape[0]  # ``[inputs, states]``: built on the inputs' shape
        if input_shape[-1] is None:
            raise ValueError(
                f"Cell {self.name!r} ({type(self).__name__}) needs a known feature size; "
                f"received input shape {tuple(input_shape)}."
            )
        return self._layer.cell.init(key, int(input_shape[-1])), _seed.initial_state(self._layer)

    def dropout_masks(self, state, key, training, batch, input_dim):
        """``((input masks, recurrent masks), state)``: Keras's masks for one sequence (fixed
        over time; ``None`` entries without), from the seed generator ``state`` carries (then
        advanced, in inference too) or from ``key`` in training."""
        dp, rdp, state = self._layer._draw_masks(state, key, training, batch, input_dim)
        return (dp, rdp), state

    def step(self, params, x_t, states, masks=(None, None)):
        """One timestep: ``(output, new_states)`` from ``x_t`` (batch, features) and ``states``."""
        dp, rdp = masks
        xk = self._layer._project(params, x_t[:, None, :], dp)[:, 0]
        out, new = self._layer.cell.step(params, xk, tuple(states), rdp)
        return out, list(new)

    def apply(self, params, state, x, *, training=False, key=None, **kwargs):
        """``cell([x, states])`` on arrays: one step, returns ``[output, new_states]``."""
        if not isinstance(x, list | tuple) or len(x) != 2:
            raise TypeError(
                f"Cell {self.name!r} ({type(self).__name__}) runs one timestep: call it as "
                f"cell([inputs, states]), or wrap it in keras.layers.RNN(cell) to run a sequence. "
                f"Received: {type(x).__name__}."
            )
        inputs, states = x
        nested = isinstance(states, list | tuple)
        states = list(states) if nested else [states]
        masks = (None, None)
        if training:  # Keras's cell draws its masks when called in training only
            masks, state = self.dropout_masks(state, key, True, inputs.shape[0], inputs.shape[-1])
        out, new = self.step(params, jnp.asarray(inputs, jnp.float32), states, masks)
        # Keras gives the new state as it received the old: a tensor for a tensor.
        return [out, new if nested or len(new) > 1 else new[0]], state

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0] if isinstance(input_shape[0], list | tuple) else input_shape[0]
        return (batch, self.units)

    def _weight_regularizers(self):
        return self._layer._weight_regularizers()

    def _weight_constraints(self):
        return self._layer._weight_constraints()

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        inner = self._layer.get_config()
        config.update({k: v for k, v in inner.items() if k not in _LAYER_ONLY})
        config["seed"] = self.seed
        return config


class SimpleRNNCell(_BuiltinCell):
    """The cell of :class:`~lamina.layers.SimpleRNN` (Keras's ``SimpleRNNCell``).

    Args:
        units: size of the output/state.
        activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as Keras.

    >>> from lamina.layers import SimpleRNNCell
    >>> SimpleRNNCell(3).state_size
    3
    """

    _layer_cls = SimpleRNN


class LSTMCell(_BuiltinCell):
    """The cell of :class:`~lamina.layers.LSTM` (Keras's ``LSTMCell``): states ``[h, c]``.

    Args:
        units: size of the output/state.
        unit_forget_bias: initialize the forget gate's bias to 1 (default True).
        Other arguments as :class:`SimpleRNNCell`, plus ``recurrent_activation``.

    >>> from lamina.layers import LSTMCell
    >>> LSTMCell(3).state_size
    [3, 3]
    """

    _layer_cls = LSTM


class GRUCell(_BuiltinCell):
    """The cell of :class:`~lamina.layers.GRU` (Keras's ``GRUCell``).

    Args:
        units: size of the output/state.
        reset_after: apply the reset gate after the recurrent matmul (default True).
        Other arguments as :class:`SimpleRNNCell`, plus ``recurrent_activation``.

    >>> from lamina.layers import GRUCell
    >>> GRUCell(3, reset_after=False).get_config()["reset_after"]
    False
    """

    _layer_cls = GRU


def is_builtin_cell(cell) -> bool:
    return isinstance(cell, _BuiltinCell)
