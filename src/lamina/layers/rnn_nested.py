"""Nested structures in ``keras.layers.RNN(cell)``: cells whose states, outputs or inputs are
several tensors of any rank (tf.keras's ``NestedCell`` of the "Working with RNNs" guide).

A cell's ``state_size`` (and ``output_size``) is read as Keras spells it: an int is one state
of shape ``(batch, size)``; a list or tuple holds one entry per state, each an int, a tuple of
ints (the state's shape without the batch axis) or a ``TensorShape``-like object (anything with
``as_list()``).  Inputs may be a list or tuple of ``(batch, time, ...)`` tensors; the cell then
gets the list of their one-step slices at each step.

>>> from lamina.layers.rnn_nested import size_shapes
>>> size_shapes(4), size_shapes([4, 4]), size_shapes([(10,), (20, 30)])
([(4,)], [(4,), (4,)], [(10,), (20, 30)])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _is_dims(size) -> bool:
    return isinstance(size, list | tuple) and all(isinstance(d, int | np.integer) for d in size)


def one_shape(size) -> tuple:
    """One state's (or output's) shape without the batch axis, from an int, a tuple of ints or
    a ``TensorShape``-like object."""
    if hasattr(size, "as_list"):  # tf.TensorShape, as in tf.keras's guide
        size = size.as_list()
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        return (int(size),)
    if _is_dims(size) and size:
        return tuple(int(d) for d in size)
    raise ValueError(
        "RNN(cell): each entry of cell.state_size / cell.output_size must be an integer, a "
        f"tuple of integers (a shape without the batch axis) or a TensorShape. Received: {size!r}."
    )


def size_shapes(size) -> list[tuple]:
    """The shapes (without batch) of the tensors a ``state_size`` names, one per state."""
    if hasattr(size, "as_list") or isinstance(size, int | np.integer):
        return [one_shape(size)]
    return [one_shape(s) for s in size]


def is_valid_size(size) -> bool:
    try:
        size_shapes(size)
    except (ValueError, TypeError):
        return False
    return True


def nested_output_shapes(cell):
    """The shapes (without batch) of a cell's outputs when they are not one ``(batch, units)``
    tensor: a list of shapes (several outputs) or one shape of rank > 1; None for the usual
    single vector (see :func:`lamina.layers.rnn_api.output_size`)."""
    size = getattr(cell, "output_size", None)
    if size is None:  # Keras: the first state is the output
        shape = size_shapes(cell.state_size)[0]
        return None if len(shape) == 1 else shape
    if isinstance(size, int | np.integer):
        return None
    if hasattr(size, "as_list"):
        shape = one_shape(size)
        return None if len(shape) == 1 else shape
    return [one_shape(s) for s in size]


def is_nested_input(input_shape) -> bool:
    """Whether ``input_shape`` is several inputs' shapes (a list of shapes)."""
    return isinstance(input_shape, list | tuple) and any(
        isinstance(s, list | tuple) for s in input_shape
    )


def where_rows(masked, a, b):
    """``a`` where a row is masked (``masked``: (batch,) booleans), else ``b``, leaf by leaf."""

    def pick(x, y):
        return jnp.where(jnp.reshape(masked, (-1,) + (1,) * (jnp.ndim(y) - 1)), x, y)

    return jax.tree_util.tree_map(pick, a, b)
