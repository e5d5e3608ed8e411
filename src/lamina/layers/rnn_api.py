"""Keras's ``RNN(cell)`` and ``StackedRNNCells``: any cell run over time in one ``lax.scan``.

A cell is Keras's contract: a ``state_size`` (an int, or a list of ints, one per state), an
optional ``output_size``, and ``call(inputs, states)`` returning ``(output, new_states)`` for
one timestep.  States and outputs may also be tensors of higher rank, and the inputs a list
of sequences (tf.keras's nested cells: :mod:`lamina.layers.rnn_nested`).  It may be

* a built-in cell (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``): ``RNN`` then runs the same
  code as ``SimpleRNN``/``LSTM``/``GRU`` (the input projection hoisted out of the scan);
* ``StackedRNNCells([...])`` (or a list of cells): the cells run one after the other at each
  step, in one scan;
* a user's Keras-style cell (``build`` + ``add_weight`` + ``call(inputs, states)``): its
  ``call`` is traced into the scan's body with its weights bound to the arrays, as custom
  layers are (see :mod:`lamina.layers.tracing`).

Masks (``Embedding(mask_zero=True)``), ``go_backwards``, ``return_sequences``,
``return_state``, ``initial_state=``, ``stateful`` and ``unroll`` follow Keras's JAX backend.

>>> import jax, numpy as np
>>> from lamina import ops
>>> from lamina.layers import Layer, RNN
>>> class MinimalRNNCell(Layer):
...     def __init__(self, units, **kwargs):
...         super().__init__(**kwargs)
...         self.units = units
...         self.state_size = units
...     def build(self, input_shape):
...         self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
...         self.recurrent_kernel = self.add_weight(shape=(self.units, self.units))
...     def call(self, inputs, states):
...         h = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
...         return h, [h]
>>> rnn = RNN(MinimalRNNCell(4), return_state=True)
>>> params, state = rnn.init(jax.random.key(0), (None, 6, 3))
>>> y, h = rnn.apply(params, state, np.ones((2, 6, 3), "float32"))[0]
>>> tuple(y.shape), tuple(h.shape)
((2, 4), (2, 4))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.base import Layer
from lamina.layers.rnn_cell_layers import is_builtin_cell
from lamina.layers.rnn_nested import size_shapes
from lamina.layers.tracing import bind_all, call_kwargs, split_prefixed, tracked_layers
from lamina.layers.variables import Scope
from lamina.utils import random as _random


def _is_nested(x) -> bool:
    return isinstance(x, list | tuple)


def _check_cell(cell, where: str) -> None:
    if not callable(getattr(cell, "call", None)) or getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{where} takes RNN cells: objects with a `call(inputs, states)` method and a "
            "`state_size` attribute (an int, or a list of ints, one per state), such as "
            f"keras.layers.LSTMCell(units). Received: {cell!r}."
        )


def output_size(cell) -> int:
    """Keras's ``output_size`` of ``cell`` (its first state's size when it has none)."""
    size = getattr(cell, "output_size", None)
    if size is None:
        size = cell.state_size
        while _is_nested(size):
            size = size[0]
    if hasattr(size, "as_list"):  # a TensorShape of rank 1
        size = size.as_list()[-1]
    return int(size)


def initial_states(cell, batch: int):
    """The cell's zero states: its ``get_initial_state`` when it has one, as Keras."""
    fn = getattr(cell, "get_initial_state", None)
    if fn is not None:
        init = fn(batch_size=batch)
        return list(init) if _is_nested(init) else [init]
    # Each state is (batch, *shape): an int size, or a shape for a nested cell's state.
    return [jnp.zeros((batch, *shape), jnp.float32) for shape in size_shapes(cell.state_size)]


# ------------------------------------------------------------------ one cell, one step
def cell_init(cell, key, step_shape):
    """``(params, state)`` of ``cell`` for inputs of ``step_shape`` (batch, features)."""
    if isinstance(cell, Layer):
        if cell._traced and tracked_layers(cell):
            return _init_with_sublayers(cell, key, step_shape)
        return cell.init(key, step_shape)
    return {}, {}  # a plain object with call() and state_size: no weights


def _init_with_sublayers(cell, key, step_shape):
    """A traced cell holding sub-layers: Keras builds them on the first ``call(x, states)``."""
    zeros = initial_states(cell, 1)
    original = type(cell).call

    def first_call(x):
        return original(cell, x, zeros)

    cell.__dict__["call"] = first_call
    try:
        return cell.init(key, step_shape)
    finally:
        del cell.__dict__["call"]


def cell_masks(cell, cstate, key, training, batch: int, input_dim: int):
    """``(masks, cstate)``: the dropout masks of built-in cells for one sequence (fixed over
    time, as Keras), else None, and ``cstate`` with their seed generators advanced (drawn
    from the generators a seeded cell carries, else from ``key`` in training)."""
    if is_builtin_cell(cell):
        return cell.dropout_masks(cstate, key, training, batch, input_dim)
    if isinstance(cell, StackedRNNCells):
        return cell.masks(cstate, key, training, batch, input_dim)
    return None, cstate


def cell_step(cell, params, cstate, x_t, states, *, training, key, masks):
    """One timestep of any cell: ``(output, new_states)``, ``new_states`` as a list."""
    if is_builtin_cell(cell):
        out, new = cell.step(params, x_t, states, masks or (None, None))
    elif isinstance(cell, StackedRNNCells):
        out, new = cell.step(params, cstate, x_t, states, training=training, key=key, masks=masks)
    elif isinstance(cell, Layer) and cell._traced:
        scope = Scope(training=training, key=key)
        with scope, jax.numpy_rank_promotion("allow"):
            bind_all(scope, cell, params, cstate)
            out, new = cell.call(x_t, states, **call_kwargs(cell.call, training, None, {}))
    else:
        out, new = cell.call(x_t, states)
    return out, (list(new) if _is_nested(new) else [new])


class StackedRNNCells(Layer):
    """Several cells run one after the other at each timestep, as one cell (Keras's class).

    Weights are each cell's, in order, under ``cells/<i>/``.  The states are a list with one
    entry per cell (that cell's states).

    Args:
        cells: a list of RNN cells.

    >>> import jax, numpy as np
    >>> from lamina.layers import LSTMCell, GRUCell, RNN, StackedRNNCells
    >>> rnn = RNN(StackedRNNCells([LSTMCell(4), GRUCell(2)]))
    >>> params, state = rnn.init(jax.random.key(0), (None, 5, 3))
    >>> list(params)[:3]
    ['cells/0/kernel', 'cells/0/recurrent_kernel', 'cells/0/bias']
    >>> tuple(rnn.apply(params, state, np.ones((2, 5, 3), "float32"))[0].shape)
    (2, 2)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not _is_nested(cells) or not cells:
            raise ValueError(
                f"StackedRNNCells(cells) takes a non-empty list of RNN cells. Received: {cells!r}."
            )
        for cell in cells:
            _check_cell(cell, "StackedRNNCells")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return output_size(self.cells[-1])

    @property
    def uses_rng(self):  # type: ignore[override]
        return any(bool(getattr(c, "uses_rng", False)) for c in self.cells)

    def get_initial_state(self, batch_size=None):
        out = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                out.append(fn(batch_size=batch_size))
            elif _is_nested(cell.state_size):
                out.append(initial_states(cell, batch_size))
            else:
                out.append(initial_states(cell, batch_size)[0])
        return out

    def init(self, key, input_shape):
        params, state = {}, {}
        shape = tuple(input_shape)
        for i, (cell, k) in enumerate(zip(self.cells, _random.split(key, len(self.cells)))):
            p, s = cell_init(cell, k, shape)
            params.update({f"cells/{i}/{n}": v for n, v in p.items()})
            state.update({f"cells/{i}/{n}": v for n, v in s.items()})
            shape = (shape[0], output_size(cell))
        return params, state

    def masks(self, cstate, key, training, batch, input_dim):
        """``(each cell's masks, cstate advanced)``: see :func:`cell_masks`."""
        out, new = [], dict(cstate)
        keys = [None] * len(self.cells) if key is None else jax.random.split(key, len(self.cells))
        for i, (cell, k) in enumerate(zip(self.cells, keys)):
            masks, sub = cell_masks(
                cell, split_prefixed(cstate, f"cells/{i}"), k, training, batch, input_dim
            )
            out.append(masks)
            new.update({f"cells/{i}/{n}": v for n, v in sub.items()})
            input_dim = output_size(cell)
        return out, new

    def step(self, params, cstate, x_t, states, *, training=False, key=None, masks=None):
        new_states = []
        keys = [None] * len(self.cells) if key is None else jax.random.split(key, len(self.cells))
        for i, (cell, s) in enumerate(zip(self.cells, states)):
            nested = _is_nested(s)
            x_t, new = cell_step(
                cell,
                split_prefixed(params, f"cells/{i}"),
                split_prefixed(cstate, f"cells/{i}"),
                x_t,
                list(s) if nested else [s],
                training=training,
                key=keys[i],
                masks=None if masks is None else masks[i],
            )
            new_states.append(new if nested or len(new) != 1 else new[0])
        return x_t, new_states

    def call(self, inputs, states, training=False):
        raise NotImplementedError("StackedRNNCells runs inside keras.layers.RNN(cells).")

    def apply(self, params, state, x, *, training=False, key=None, **kwargs):
        raise TypeError(
            "StackedRNNCells runs one timestep inside an RNN: wrap it, "
            "keras.layers.RNN(StackedRNNCells(cells))."
        )

    def regularization_loss(self, params):
        total = jnp.zeros((), jnp.float32)
        for i, cell in enumerate(self.cells):
            if isinstance(cell, Layer):
                total = total + cell.regularization_loss(split_prefixed(params, f"cells/{i}"))
        return total

    def apply_constraints(self, params):
        out = dict(params)
        for i, cell in enumerate(self.cells):
            if isinstance(cell, Layer):
                prefix = f"cells/{i}"
                new = cell.apply_constraints(split_prefixed(params, prefix))
                out.update({f"{prefix}/{k}": v for k, v in new.items()})
        return out

    def get_config(self):
        from lamina.layers.registry import serialize

        config = super().get_config()
        config["cells"] = [serialize(c) for c in self.cells]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers.registry import deserialize

        config = dict(config)
        config.pop("dtype", None)
        cells = [deserialize(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)
