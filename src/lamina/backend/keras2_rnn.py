"""Keras 2's ``keras.backend.rnn``: a step function iterated over the time axis.

Custom recurrent layers written for Keras 2 call it in ``call``: attention decoders and
hand-written cells run ``last_output, outputs, states = K.rnn(self.step, inputs,
initial_states, constants=[...])``.  It keeps tf.keras 2's contract:

- ``step_function(input_t, states)`` returns ``(output_t, new_states)``; ``constants`` are
  appended to the states it receives;
- the inputs (a tensor or a structure of tensors) are ``(batch, time, ...)``
  (``time_major=True``: ``(time, batch, ...)``); ``go_backwards`` iterates from the end and
  ``outputs`` stay in processing order, as TensorFlow's;
- under a ``(batch, time)`` mask a masked step repeats the previous output (zeros before the
  first) and keeps the states; ``zero_output_for_mask`` writes zeros there instead;
- it returns ``(last_output, outputs, new_states)``, ``outputs`` with one step when
  ``return_all_outputs=False``, the states in ``initial_states``' structure.

The loop is one ``jax.lax.scan`` (fully unrolled for ``unroll=True``), so it runs inside the
compiled programs ``fit`` builds.

>>> import numpy as np
>>> from lamina import backend as K
>>> x = np.ones((2, 3, 1), "float32")
>>> def step(x_t, states):
...     total = states[0] + x_t
...     return total, [total]
>>> last, outputs, states = K.rnn(step, x, [np.zeros((2, 1), "float32")])
>>> outputs[0, :, 0].tolist(), last[:, 0].tolist()
([1.0, 2.0, 3.0], [3.0, 3.0])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["rnn"]


def _swap(a):
    return jnp.swapaxes(a, 0, 1)


def _expand(mask_t, like):
    """``mask_t`` ``(batch,)`` broadcast to ``like``'s rank."""
    return jnp.reshape(mask_t, mask_t.shape + (1,) * (like.ndim - mask_t.ndim))


def _check_inputs(inputs):
    leaves = jax.tree_util.tree_leaves(inputs)
    if not leaves:
        raise ValueError("K.rnn expects input tensors of shape (batch, time, ...). Received none.")
    for a in leaves:
        if jnp.ndim(a) < 3:
            raise ValueError(
                "K.rnn expects inputs of rank 3 or more, (batch, time, ...) (time first with "
                f"time_major=True). Received an input of shape {tuple(jnp.shape(a))}."
            )
    return leaves


def rnn(
    step_function,
    inputs,
    initial_states,
    go_backwards=False,
    mask=None,
    constants=None,
    unroll=False,
    input_length=None,
    time_major=False,
    zero_output_for_mask=False,
    return_all_outputs=True,
):
    """Iterates ``step_function`` over the time axis of ``inputs`` (``keras.backend.rnn``).

    Args:
        step_function: ``(input_t, states) -> (output_t, new_states)``; ``input_t`` has the
            inputs' structure without the time axis.
        inputs: ``(batch, time, ...)`` tensor(s) (``(time, batch, ...)`` with
            ``time_major``).
        initial_states: the states at the first step (a list of ``(batch, ...)`` tensors).
        go_backwards: iterate from the last step.
        mask: ``(batch, time)`` booleans (or 0/1); masked steps keep the previous output and
            states.
        constants: tensors passed to every step after the states.
        unroll: unroll the loop (same results; a longer program).
        input_length: accepted for Keras 2 code; the length is the inputs' time axis.
        time_major: the inputs, mask and ``outputs`` have time first.
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        return_all_outputs: ``False`` keeps only the last step in ``outputs``.

    Returns:
        ``(last_output, outputs, new_states)``.

    Raises:
        ValueError: the inputs are not ``(batch, time, ...)``, or the step function returns
            states of another structure than ``initial_states``.
    """
    del input_length  # Keras 2 bounded its while loop with it; the time axis bounds this one
    _check_inputs(inputs)
    if not time_major:
        inputs = jax.tree_util.tree_map(_swap, inputs)
    steps = jnp.shape(jax.tree_util.tree_leaves(inputs)[0])[0]
    if mask is not None:
        mask = jnp.asarray(mask).astype(bool)
        if mask.ndim == 3:  # (batch, time, 1), as some Keras 2 layers pass it
            mask = mask[..., 0]
        if mask.ndim != 2:
            raise ValueError(
                f"K.rnn expects a (batch, time) mask. Received a mask of shape {mask.shape}."
            )
        if not time_major:
            mask = _swap(mask)
    if go_backwards:
        inputs = jax.tree_util.tree_map(lambda a: jnp.flip(a, 0), inputs)
        mask = None if mask is None else jnp.flip(mask, 0)
    constants = tuple(constants or ())
    states_tree = jax.tree_util.tree_structure(list(initial_states))
    states0 = jax.tree_util.tree_map(jnp.asarray, list(initial_states))

    def run_step(x_t, states):
        out, new = step_function(x_t, tuple(states) + constants)
        new_leaves = jax.tree_util.tree_leaves(new)
        if len(new_leaves) != states_tree.num_leaves:
            raise ValueError(
                f"K.rnn's step function returned {len(new_leaves)} state(s) for "
                f"{states_tree.num_leaves} initial state(s); it must return (output, "
                "new_states) with one new state per initial state."
            )
        return out, jax.tree_util.tree_unflatten(states_tree, new_leaves)

    first_in = jax.tree_util.tree_map(lambda a: a[0], inputs)
    out_shape = jax.eval_shape(lambda x, s: run_step(x, s)[0], first_in, states0)
    zero_out = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape)

    def body(carry, xs):
        states, prev = carry
        x_t, m_t = xs
        out, new = run_step(x_t, states)
        if m_t is not None:
            out = jax.tree_util.tree_map(lambda o, p: jnp.where(_expand(m_t, o), o, p), out, prev)
            new = jax.tree_util.tree_map(lambda n, s: jnp.where(_expand(m_t, n), n, s), new, states)
        return (new, out), (out if return_all_outputs else None)

    (states, last), outputs = jax.lax.scan(
        body, (states0, zero_out), (inputs, mask), length=steps, unroll=bool(unroll) or 1
    )
    if mask is not None and zero_output_for_mask:
        last = jax.tree_util.tree_map(lambda o: jnp.where(_expand(mask[-1], o), o, 0), last)
        if return_all_outputs:
            outputs = jax.tree_util.tree_map(lambda o: jnp.where(_expand(mask, o), o, 0), outputs)
    if not return_all_outputs:
        outputs = jax.tree_util.tree_map(lambda a: a[None], last)
    if not time_major:
        outputs = jax.tree_util.tree_map(_swap, outputs)
    return last, outputs, states
