"""``keras.layers.RNN``: a cell run over the time axis (see :mod:`lamina.layers.rnn_api`).

>>> import jax, numpy as np
>>> from lamina.layers import GRUCell, RNN
>>> rnn = RNN(GRUCell(3), return_sequences=True, go_backwards=True)
>>> params, state = rnn.init(jax.random.key(0), (None, 4, 2))
>>> [tuple(w.shape) for w in params.values()]
[(2, 9), (3, 9), (2, 9)]
>>> tuple(rnn.apply(params, state, np.ones((5, 4, 2), "float32"))[0].shape)
(5, 4, 3)
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np

from lamina._naming import snake_case
from lamina.layers import stateful as _stateful
from lamina.layers.base import Layer
from lamina.layers.rnn_api import (
    StackedRNNCells,
    _check_cell,
    _is_nested,
    cell_init,
    cell_masks,
    cell_step,
    initial_states,
    output_size,
)
from lamina.layers.rnn_cell_layers import is_builtin_cell
from lamina.layers.rnn_nested import (
    is_nested_input,
    is_valid_size,
    nested_output_shapes,
    size_shapes,
    where_rows,
)
from lamina.layers.rnn_seed import STATE_KEY


def _flat(tree) -> list:
    return jax.tree_util.tree_leaves(tree)


class RNN(Layer):
    """Runs an RNN cell over a sequence, as Keras's ``RNN`` layer.

    Args:
        cell: an RNN cell (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, a user's cell with
            ``state_size`` and ``call(inputs, states)``), a ``StackedRNNCells`` or a list of
            cells (stacked).
        return_sequences: return every timestep's output, ``(batch, time, output_size)``.
        return_state: return ``[output, *states]``.
        go_backwards: process the sequence in reverse (and return it in processing order).
        stateful: carry the final states into the next batch (needs a fixed batch size).
        unroll: unroll the time loop (XLA sees every step; faster for short sequences).
        zero_output_for_mask: masked timesteps output zeros instead of the previous output.

    Call arguments: ``inputs`` (batch, time, features), ``initial_state`` (a list of state
    arrays; the cell's zero states by default), ``mask``, ``training``.

    >>> import jax, numpy as np
    >>> from lamina.layers import LSTMCell, RNN
    >>> rnn = RNN([LSTMCell(4), LSTMCell(2)], return_state=True)
    >>> params, state = rnn.init(jax.random.key(0), (None, 5, 3))
    >>> outs, _ = rnn.apply(params, state, np.ones((2, 5, 3), "float32"))
    >>> [tuple(o.shape) for o in outs]
    [(2, 2), (2, 4), (2, 4), (2, 2), (2, 2)]
    """

    #: Keras's ``call(sequences, initial_state=None, mask=None, training=...)``: what a
    #: second, third, ... positional argument means (``lstm(x, [h, c])``).
    _keras_call_args = ("initial_state", "mask", "training")

    uses_mask = True

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        kwargs.pop("time_major", None)
        if _is_nested(cell):
            cell = StackedRNNCells(list(cell))
        _check_cell(cell, "RNN(cell)")
        size = cell.state_size
        if not isinstance(cell, StackedRNNCells) and not is_valid_size(size):
            raise ValueError(
                "RNN(cell): cell.state_size must be an integer, or a list/tuple with one entry "
                "per state tensor (an integer, or a tuple of integers / TensorShape for a state "
                f"of higher rank). Received: {size!r}."
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._fast = None
        #: The model's fixed batch size, seen by compute_output_shape (stateful layers only).
        self._model_batch = None
        if is_builtin_cell(cell):
            # The same computation as SimpleRNN/LSTM/GRU: one implementation, one speed.
            self._fast = cell.as_layer(name=self.name, **self._flags())
            self._fast._batch_size_arg = self._batch_size_arg
            self._fast._input_shape_arg = self._input_shape_arg

    def _flags(self) -> dict:
        return {k: getattr(self, k) for k in (*_FLAG_NAMES, "zero_output_for_mask")}

    # Bidirectional reads and sets these on its copies.
    @property
    def uses_rng(self):  # type: ignore[override]
        if self._fast is not None:
            return self._fast.uses_rng
        return bool(getattr(self.cell, "uses_rng", False))

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        fast = self.__dict__.get("_fast")
        if fast is not None and name in (*_FLAG_NAMES, "zero_output_for_mask"):
            setattr(fast, name, value)

    def _clone(self, **overrides):
        """A copy with its own cell (Bidirectional's forward and backward layers).  A built-in
        cell is remade from its config, as Keras remakes it: new seeds, when unseeded."""
        cell = None
        if is_builtin_cell(self.cell):
            try:
                cell = type(self.cell).from_config(self.cell.get_config())
            except (TypeError, ValueError):  # e.g. an unregistered custom initializer
                cell = None
        if cell is None:
            cell = copy.deepcopy(self.cell)
        kwargs = {**self._flags(), "name": self.name, "trainable": self.trainable, **overrides}
        return type(self)(cell, **kwargs)

    # ----------------------------------------------------------------- protocol
    def expected_rank(self):
        return None if self._fast is None else (3,)

    def _step_shape(self, input_shape):
        if is_nested_input(input_shape):  # several inputs: the cell gets each one's step
            return [self._step_shape(s) for s in input_shape]
        return (input_shape[0], *input_shape[2:])

    def init(self, key, input_shape):
        if self._fast is not None:
            return self._fast.init(key, input_shape)
        for shape in input_shape if is_nested_input(input_shape) else [input_shape]:
            if len(shape) < 3:
                raise ValueError(
                    f"Layer {self.name!r} (RNN) expects inputs of rank 3 or more, (batch, "
                    f"time, features...); received shape {tuple(shape)}."
                )
        params, state = cell_init(self.cell, key, self._step_shape(input_shape))
        if self.stateful:
            first = input_shape[0] if is_nested_input(input_shape) else input_shape
            batch = first[0] or getattr(self, "_model_batch", None) or self._batch_size_arg
            if batch is None:
                raise ValueError(
                    f"Layer {self.name!r} (RNN(stateful=True)) needs a fixed batch size: give "
                    "the model's input batch_shape=(batch_size, timesteps, features), as Keras "
                    "requires."
                )
            zeros = _flat(initial_states(self.cell, int(batch)))
            for i, z in enumerate(zeros):
                state[_stateful.STATE_KEYS[i]] = np.zeros(np.shape(z), np.float32)
        return params, state

    def _state_shapes(self, batch):
        if not isinstance(self.cell, StackedRNNCells):
            return [(batch, *shape) for shape in size_shapes(self.cell.state_size)]
        shapes = []

        def add(size):
            if _is_nested(size):
                for s in size:
                    add(s)
            else:
                shapes.append((batch, int(size)))

        add(self.cell.state_size)
        return shapes

    def compute_output_shape(self, input_shape, initial_state_shape=None):
        if self._fast is not None:
            out = self._fast.compute_output_shape(input_shape)
            self._model_batch = self._fast._model_batch
            return out
        if is_nested_input(input_shape):
            input_shape = input_shape[0]
        if self.stateful and input_shape[0] is not None:
            self._model_batch = int(input_shape[0])
        lead = tuple(input_shape[:2]) if self.return_sequences else (input_shape[0],)
        nested = nested_output_shapes(self.cell)
        if isinstance(nested, list):
            outs = [(*lead, *shape) for shape in nested]
        else:
            outs = [(*lead, *(nested or (output_size(self.cell),)))]
        if self.return_state:
            return [*outs, *self._state_shapes(input_shape[0])]
        return outs if isinstance(nested, list) else outs[0]

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def reset_states(self, states=None):
        """Zeroes (or sets) this layer's carried states (``stateful=True``)."""
        _stateful.reset_layer(self, states)

    reset_state = reset_states

    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        if self._fast is not None:
            return self._fast.apply(
                params,
                state,
                x,
                training=training,
                key=key,
                mask=mask,
                initial_state=initial_state,
            )
        if _is_nested(x):  # several inputs (a nested cell): one list of arrays
            x = list(x)
        x = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), x)
        first_x = _flat(x)[0]
        batch, steps = first_x.shape[0], first_x.shape[1]
        cell_params = {k: v for k, v in params.items()}
        cell_state = {k: v for k, v in state.items() if k not in _stateful.STATE_KEYS}
        template = initial_states(self.cell, batch)
        if initial_state is not None:
            states0 = list(initial_state) if _is_nested(initial_state) else [initial_state]
        elif self.stateful:
            leaves = [state[k] for k in _stateful.STATE_KEYS if k in state]
            if leaves and leaves[0].shape[0] != batch:
                raise ValueError(
                    f"Layer {self.name!r} (RNN(stateful=True)) was built for batches of exactly "
                    f"{leaves[0].shape[0]} samples, but received a batch of {batch}."
                )
            treedef = jax.tree_util.tree_structure(template)
            states0 = jax.tree_util.tree_unflatten(treedef, leaves)
        else:
            states0 = template
        states0 = jax.tree_util.tree_map(lambda s: jnp.asarray(s, jnp.float32), states0)
        train_key = key if (training and key is not None) else None
        mkey = skey = None
        if train_key is not None:
            mkey, skey = jax.random.split(train_key)
        masks, cell_state = cell_masks(
            self.cell, cell_state, mkey, training, batch, first_x.shape[-1]
        )
        xs = {"x": jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), x)}
        if skey is not None and self.uses_rng:
            xs["key"] = jax.random.split(skey, steps)
        if mask is not None:
            xs["mask"] = jnp.swapaxes(jnp.asarray(mask).astype(bool), 0, 1)
        cell, zero_out = self.cell, self.zero_output_for_mask

        nested_out = nested_output_shapes(cell)

        def step(states, prev_out, inp):
            out, new = cell_step(
                cell,
                cell_params,
                cell_state,
                inp["x"],
                states,
                training=training,
                key=inp.get("key"),
                masks=masks,
            )
            new = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(states), _flat(new))
            if nested_out is not None:
                out = list(out) if isinstance(nested_out, list) else out
            if "mask" in inp:
                masked = jnp.logical_not(inp["mask"])
                if zero_out:
                    prev = jax.tree_util.tree_map(jnp.zeros_like, out)
                elif nested_out is not None:  # outputs unlike any state: the previous output
                    prev = prev_out
                else:  # Keras: the first state is the previous output
                    prev = states[0]
                    if _is_nested(prev):
                        prev = states[-1][0]
                out = where_rows(masked, prev, out)
                new = where_rows(masked, states, new)
            return new, (out if self.return_sequences else None), out

        def scan_step(carry, inp):
            states, prev_out = carry
            new, seq_out, out = step(states, prev_out, inp)
            return (new, out), seq_out

        if isinstance(nested_out, list):
            out0 = [jnp.zeros((batch, *shape), jnp.float32) for shape in nested_out]
        else:
            out0 = jnp.zeros((batch, *(nested_out or (output_size(cell),))), jnp.float32)
        (final, last), outs = jax.lax.scan(
            scan_step,
            (states0, out0),
            xs,
            reverse=self.go_backwards,
            unroll=steps if self.unroll and steps else 1,
        )
        new_state = {**state, **{k: v for k, v in cell_state.items() if k.endswith(STATE_KEY)}}
        if self.stateful:
            for k, v in zip(_stateful.STATE_KEYS, _flat(final)):
                new_state[k] = v
        if self.return_sequences:
            if self.go_backwards:
                outs = jax.tree_util.tree_map(lambda o: jnp.flip(o, axis=0), outs)
            last = jax.tree_util.tree_map(lambda o: jnp.swapaxes(o, 0, 1), outs)
        if self.return_state:
            return [*_flat(last), *_flat(final)], new_state
        return last, new_state

    def regularization_loss(self, params):
        if self._fast is not None:
            return self._fast.regularization_loss(params)
        if isinstance(self.cell, Layer):
            return self.cell.regularization_loss(params)
        return jnp.zeros((), jnp.float32)

    def apply_constraints(self, params):
        if self._fast is not None:
            return self._fast.apply_constraints(params)
        if isinstance(self.cell, Layer):
            return self.cell.apply_constraints(params)
        return params

    # ------------------------------------------------------------------ config
    def get_config(self):
        from lamina.layers.registry import serialize

        config = super().get_config()
        config.update(self._flags())
        config["cell"] = serialize(self.cell)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers.registry import deserialize

        config = dict(config)
        config.pop("dtype", None)
        cell = config.pop("cell")
        if isinstance(cell, dict):
            cell = deserialize(cell, custom_objects)
        elif isinstance(cell, list):
            cell = [deserialize(c, custom_objects) for c in cell]
        return cls(cell, **config)

    def _keras_weight_groups(self):
        """Where Keras's files keep this layer's weights: ``[(group path, key prefix)]``."""
        if not isinstance(self.cell, StackedRNNCells):
            return [(("cell",), "")]
        used: dict[str, int] = {}
        out = []
        for i, cell in enumerate(self.cell.cells):
            base = snake_case(type(cell).__name__)
            used[base] = used.get(base, -1) + 1
            name = base if used[base] == 0 else f"{base}_{used[base]}"
            out.append((("cell", "cells", name), f"cells/{i}/"))
        return out

    def _spec_key(self):
        if self._fast is not None:
            return super()._spec_key()
        return (type(self).__name__, id(self))  # a user's cell may read unconfigured attributes


_FLAG_NAMES = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")
