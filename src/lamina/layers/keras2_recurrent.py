"""Keras 2.0's ``Recurrent``: the base class custom recurrent layers of 2017-2018 subclass.

Before Keras 2.1's ``RNN(cell)``, a recurrent layer subclassed
``keras.layers.recurrent.Recurrent`` and wrote ``step(inputs, states)`` (and often
``get_initial_state``, ``get_constants``, ``preprocess_input``); the base class's ``call`` ran
``K.rnn(self.step, ...)`` over the time axis.  Attention decoders published for Keras 2.0
(``class AttentionDecoder(Recurrent)``) are written this way.  This class keeps that contract:

- ``__init__(return_sequences=False, return_state=False, go_backwards=False, stateful=False,
  unroll=False, implementation=0)``; ``self.states`` lists one entry per state (the subclass
  sets it, e.g. ``self.states = [None, None]`` in ``build``);
- ``call(inputs, mask=None, training=None, initial_state=None)`` takes the initial states from
  ``initial_state`` (or ``[inputs, *states]``) or ``get_initial_state(inputs)`` (zeros of
  ``(batch, self.units)``, one per state), the constants from ``get_constants``, runs
  ``K.rnn`` on ``preprocess_input(inputs)`` and returns the sequence or the last output (and
  the states with ``return_state``);
- ``compute_mask`` passes the mask on with ``return_sequences``.

``stateful=True`` (states carried between batches through ``add_update``) is refused with an
error naming it; Keras 2.1+'s ``RNN(cell, stateful=True)`` carries states in Lamina.

>>> import numpy as np
>>> from lamina import backend as K
>>> from lamina.layers.recurrent import Recurrent
>>> class Accumulate(Recurrent):
...     units = 1
...     def build(self, input_shape):
...         self.states = [None]
...         super().build(input_shape)
...     def step(self, x, states):
...         total = states[0] + K.sum(x, axis=-1, keepdims=True)
...         return total, [total]
>>> Accumulate(return_sequences=True)(np.ones((1, 3, 2), "float32"))[0, :, 0].tolist()
[2.0, 4.0, 6.0]
"""

from __future__ import annotations

from lamina import backend as K
from lamina.layers.base import Layer
from lamina.layers.input_spec import InputSpec

__all__ = ["Recurrent"]


class Recurrent(Layer):
    """Keras 2.0's abstract base class for recurrent layers (``step`` over time via ``K.rnn``).

    Args:
        return_sequences: return the output of every step, ``(batch, time, ...)``.
        return_state: also return the last states.
        go_backwards: process the sequence from its end (outputs in processing order).
        stateful: refused (Keras 2.0's state updates); use ``RNN(cell, stateful=True)``.
        unroll: unroll the time loop.
        implementation: accepted for Keras 2 code (no effect).
        **kwargs: ``Layer`` arguments (``name``, ``input_shape``, ...).

    Raises:
        ValueError: ``stateful=True``.
    """

    def __init__(
        self,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        implementation=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if stateful:
            raise ValueError(
                "Keras 2.0's Recurrent(stateful=True) carries states through add_update, which "
                "Lamina does not run; write the step as a cell and use "
                "keras.layers.RNN(cell, stateful=True), which carries them."
            )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.implementation = implementation
        self.supports_masking = True
        self.input_spec = [InputSpec(ndim=3)]
        self.state_spec = None
        self.dropout = 0
        self.recurrent_dropout = 0

    def step(self, inputs, states):
        """One time step: ``(output, new_states)``; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define step(inputs, states).")

    def get_constants(self, inputs, training=None):
        """Tensors passed to every step after the states (none by default)."""
        return []

    def preprocess_input(self, inputs, training=None):
        """The inputs the time loop reads (``inputs`` by default)."""
        return inputs

    def get_initial_state(self, inputs):
        """Zeros of ``(batch, self.units)``, one per entry of ``self.states``."""
        state = K.zeros_like(inputs)  # (batch, time, features)
        state = K.sum(state, axis=(1, 2))  # (batch,)
        state = K.expand_dims(state)  # (batch, 1)
        state = K.tile(state, [1, self.units])  # (batch, units)
        return [state for _ in range(len(self._state_list()))]

    def _state_list(self):
        states = getattr(self, "states", None)
        return [None] if states is None else list(states)

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self._state_list())
        return output_mask

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if isinstance(inputs, list | tuple):
            initial_state = list(inputs[1:])
            inputs = inputs[0]
        elif initial_state is not None:
            initial_state = (
                list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
            )
        else:
            initial_state = self.get_initial_state(inputs)
        if isinstance(mask, list):
            mask = mask[0]
        n_states = len(self._state_list())
        if len(initial_state) != n_states:
            raise ValueError(
                f"Layer {self.name!r} has {n_states} states but was passed "
                f"{len(initial_state)} initial states."
            )
        steps = K.int_shape(inputs)[1]
        if self.unroll and steps is None:
            raise ValueError(
                "Cannot unroll a RNN if the time dimension is undefined: give the layer a fixed "
                "number of timesteps (input_shape=(timesteps, features))."
            )
        constants = self.get_constants(inputs, training=None)
        preprocessed = self.preprocess_input(inputs, training=None)
        last_output, outputs, states = K.rnn(
            self.step,
            preprocessed,
            initial_state,
            go_backwards=self.go_backwards,
            mask=mask,
            constants=constants,
            unroll=self.unroll,
            input_length=steps,
        )
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return [output, *(states if isinstance(states, list | tuple) else [states])]
        return output

    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "implementation": self.implementation,
        }
        return {**super().get_config(), **config}
