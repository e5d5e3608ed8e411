"""Non-trainable weights written in inference: a user layer's ``self.counter.assign_add(1.0)``
or moving statistic in ``call``, during ``predict``, ``evaluate`` or ``model(x)``.

Keras 3's JAX trainer threads the non-trainable variables through ``predict_step`` and
``test_step`` and writes them back after the call: a layer assigning in ``call`` sees every
batch, one after another, the partial last one at its real size, and what it wrote stays.
Lamina's inference programs do the same for the networks that write there, found while
tracing: a layer that leaves its state alone hands back the very arrays it was given, so a
written state is one whose leaves are not the ones passed in (:func:`state_changed`).

Only networks running user code can write state in inference (:func:`may_write_state`): the
built-in layers keep theirs (batch-norm statistics move in training only; stateful RNNs carry
their states through ``Program.carries_state``), so a plain model's inference programs are
traced and compiled as before, without an extra output.

* :func:`writes_state_probe`: the host's question before ``predict`` picks its tiles (a
  network writing state runs Keras's batches in order instead of free-sized tiles).
* :func:`predict_carrying`, :func:`eval_carrying`: the inference programs carrying the state
  from batch to batch (the latter's result is a :class:`Carried`).

>>> import jax.numpy as jnp
>>> a = jnp.zeros(2)
>>> state_changed(({"n": a},), ({"n": a},)), state_changed(({"n": a},), ({"n": a + 1},))
(False, True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lamina.layers.seed_state import STATE_KEY as SEED_STATE_KEY
from lamina.training import whole_batch as _whole_batch


class Carried(NamedTuple):
    """``eval_chunk``'s result when the network wrote its state: the metric state and the
    state the last batch left (the host writes it back to the model)."""

    metrics: Any
    state: Any


def state_changed(old, new) -> bool:
    """Whether ``new`` (a forward pass's new state, traced) differs from ``old``, the state
    it was given: any leaf that is not the very array passed in was written."""
    old_leaves = jax.tree_util.tree_leaves(old)
    new_leaves = jax.tree_util.tree_leaves(new)
    if len(old_leaves) != len(new_leaves):
        return True
    return any(a is not b for a, b in zip(old_leaves, new_leaves))


def _children(layer) -> list:
    from lamina.layers.tracing import tracked_layers

    held = list(getattr(layer, "_layers", None) or [])
    return held + [sub for _, sub in tracked_layers(layer)]


def may_write_state(layers) -> bool:
    """Whether a network of ``layers`` may write non-trainable weights in inference: some
    layer, or a layer held inside one (a model's, a wrapper's, a custom layer's sub-layers),
    is a user class (its ``call`` may ``assign``), a stateful RNN, or a seeded recurrent
    layer with dropout (Keras's draws its masks, and advances its generator, at every call).

    >>> from lamina.layers import BatchNormalization, Dense, Layer
    >>> class Count(Layer):
    ...     def call(self, x):
    ...         return x
    >>> may_write_state([Dense(2), BatchNormalization()]), may_write_state([Count()])
    (False, True)
    """
    seen: set[int] = set()
    todo = list(layers)
    while todo:
        layer = todo.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        module = getattr(type(layer), "__module__", None) or ""
        if (
            getattr(layer, "stateful", False) is True
            or layer.__dict__.get("_keras_masks")  # a dropout generator, advanced at each call
            or getattr(layer, "_traced", False)  # a Keras-style ``call``
            or not module.startswith("lamina.")
        ):
            return True
        todo.extend(_children(layer))
    return False


def written_by_user_code(layers, old, new) -> bool:
    """Whether a training step's new state (traced) holds a write by one of ``layers`` that
    runs user code (:func:`may_write_state`): its statistic must see a short batch's real
    rows only.  Built-in layers' writes (batch normalization) already skip the padding, and
    a dropout generator's call count (``seed_generator_state``, inside a user layer too) does
    not depend on the rows."""
    return any(
        may_write_state([layer]) and state_changed(_statistics(o), _statistics(n))
        for layer, o, n in zip(layers, old, new)
    )


def _statistics(state):
    """``state`` without its seed-generator counters."""
    if not isinstance(state, dict):
        return state
    return {k: v for k, v in state.items() if not k.endswith(SEED_STATE_KEY)}


def _signature(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(a.shape), str(a.dtype)) for a in leaves)


def writes_state_probe(net_forward, may_write: bool):
    """``probe(ts, x) -> bool``: whether ``net_forward`` in inference writes ``ts.state`` for
    inputs shaped like ``x`` (arrays or ``jax.ShapeDtypeStruct`` leaves, batch first).

    The forward pass is traced once per input signature (``jax.eval_shape``: nothing runs),
    and only when ``may_write`` (:func:`may_write_state`); otherwise the answer is ``False``
    at no cost.
    """
    cache: dict = {}

    def probe(ts, x) -> bool:
        if not may_write:
            return False
        sig = _signature(x)
        if sig not in cache:
            found: list[bool] = []

            def run(params, state, x, key):
                _, new_state, _ = net_forward(params, state, x, training=False, key=key)
                found.append(state_changed(state, new_state))
                return 0

            # Shapes only: the probe may run inside another trace (``eval_chunk``'s).
            spec = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)
            # Always a key: a user layer drawing unseeded numbers at inference (a VAE's
            # sampling ``Lambda``) needs one to be traced, whatever the program passes later.
            rng = ts.rng if ts.rng is not None else jax.eval_shape(lambda: jax.random.key(0))
            params, state, key = jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (ts.params, ts.state, rng)
            )
            jax.eval_shape(run, params, state, spec, key)
            cache[sig] = bool(found and found[-1])
        return cache[sig]

    return probe


def predict_carrying(net_forward, inference_rng: bool, ts, xb):
    """``predict_chunk`` of a network writing its state: ``xb`` (steps, batch, ...) batches
    run in order, each from the state the one before left.  Returns ``(outputs, state)``,
    the outputs with (steps * batch, ...) leaves."""
    key = ts.rng if inference_rng else None
    steps = jax.tree_util.tree_leaves(xb)[0].shape[0]

    def body(state, inp):
        i, x = inp
        k = None if key is None else jax.random.fold_in(key, i)
        y, state, _ = net_forward(ts.params, state, x, training=False, key=k)
        return state, y

    state, ys = jax.lax.scan(body, ts.state, (jnp.arange(steps, dtype=jnp.uint32), xb))
    return jax.tree_util.tree_map(lambda a: jnp.reshape(a, (-1, *a.shape[2:])), ys), state


def eval_carrying(eval_step, ts, mstate, batches, mask, partial=(), *, inference_rng):
    """``eval_chunk`` carrying the state from batch to batch: a step of padding only leaves
    it; a partial batch whose step writes the state runs at its real size (as a user layer
    sees it in Keras, :func:`lamina.training.whole_batch.exact_partial`).

    Args:
        eval_step: ``eval_step(mstate, ((x, ys, sw), mask), ts) -> (mstate, new_state)``.
        ts, mstate, batches, mask, partial: as ``eval_chunk``'s.
        inference_rng: whether each step draws from ``ts.rng`` folded with its index.

    Returns:
        A :class:`Carried`: the metric state and the state the last real batch left.
    """

    def one(carry, xb, ys, swb, bmask, i):
        at = ts._replace(state=carry[1])
        if inference_rng:
            at = at._replace(rng=jax.random.fold_in(ts.rng, i))
        new_m, new_state = eval_step(carry[0], ((xb, ys, swb), bmask), at)
        if state_changed(carry[1], new_state):
            _whole_batch.mark()  # its partial batches then run at their real size
        return new_m, new_state

    def body(carry, inp):
        (xb, ys, swb), bmask, i = inp
        step = _whole_batch.exact_partial(
            lambda c, xb, ys, swb, bmask: one(c, xb, ys, swb, bmask, i), partial
        )
        return jax.lax.cond(
            jnp.any(bmask > 0), lambda c: step(c, xb, ys, swb, bmask), lambda c: c, carry
        ), None

    steps = jnp.arange(mask.shape[0], dtype=jnp.uint32)
    (mstate, state), _ = jax.lax.scan(body, (mstate, ts.state), (tuple(batches), mask, steps))
    return Carried(mstate, state)
