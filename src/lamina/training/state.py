"""All training state as one pytree.

``TrainState`` holds, per layer, the trainable weights (``params``) and the non-trainable ones
(``state``, e.g. batch-norm statistics), the optimizer's state and the random key.  The
``Sequential`` object keeps the latest ``TrainState`` and hands it to the compiled functions;
arrays come to the host only when asked (``get_weights``, ``save``).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class TrainState(NamedTuple):
    params: tuple  # per layer: dict name -> array (trainable weights)
    state: tuple  # per layer: dict name -> array (non-trainable weights)
    opt_state: Any  # the optax state over the trainable layers' params
    rng: Any  # jax PRNG key, split once per step


def fresh_copy(tree):
    """A copy of every array of ``tree`` in new buffers, on the same devices and shardings.

    ``jax.device_put(..., may_alias=False)`` copies without compiling anything, where
    ``jnp.copy`` compiles one small program per distinct shape (about 10 ms each the first
    time, a cache lookup later): a fit copies its whole state before the donating program.

    >>> import jax.numpy as jnp
    >>> a = jnp.ones(3)
    >>> b = fresh_copy({"w": a})["w"]
    >>> bool((a == b).all()), b.unsafe_buffer_pointer() != a.unsafe_buffer_pointer()
    (True, True)
    """
    import jax

    def copy(a):
        if isinstance(a, jax.Array):
            return jax.device_put(a, a.sharding, may_alias=False)
        return a

    return jax.tree_util.tree_map(copy, tree)


def split_trainable(params: tuple, trainable: tuple) -> tuple[tuple, tuple]:
    """Splits per-layer params into (trained, frozen), each with ``{}`` in the other's slots."""
    trained = tuple(_part(p, t, True) for p, t in zip(params, trainable))
    frozen = tuple(_part(p, t, False) for p, t in zip(params, trainable))
    return trained, frozen


def _part(p: dict, t, trained: bool) -> dict:
    # ``t``: a bool, or (a model nested in another, some of its layers frozen) the frozenset
    # of the names it trains.
    if isinstance(t, frozenset):
        return {k: v for k, v in p.items() if (k in t) == trained}
    return p if bool(t) == trained else {}


def merge_params(trained: tuple, frozen: tuple, trainable: tuple) -> tuple:
    """Inverse of :func:`split_trainable`."""
    return tuple(
        {**b, **a} if isinstance(t, frozenset) else (a if t else b)
        for a, b, t in zip(trained, frozen, trainable)
    )


def finalized(ts: TrainState, optimizer, trainable: tuple, epochs: int) -> TrainState:
    """Keras's ``optimizer.finalize_variable_values`` at the end of ``fit``: with
    ``use_ema=True`` the trainable weights become their moving average (after any fit that
    asked for at least one epoch, as Keras does).  Returns the state (unchanged otherwise)."""
    from lamina.optimizers.state import get_ema_params, uses_ema

    if not epochs or not uses_ema(optimizer):  # a MultiOptimizer's inner ones count too
        return ts
    trained, frozen = split_trainable(ts.params, trainable)
    ema = get_ema_params(ts.opt_state, trained)
    if ema is None:
        return ts
    return ts._replace(params=merge_params(tuple(ema), frozen, trainable))


class HostKey(NamedTuple):
    """A JAX typed PRNG key brought to the host: its raw bits and its implementation's name."""

    data: Any
    impl: str


def to_host(tree):
    """``tree`` with every JAX array as a NumPy array (typed keys as :class:`HostKey`).

    Used to pickle and copy models: the result holds no device buffer, so it survives the
    donation of the original's buffers by a later ``fit``.

    >>> import jax.numpy as jnp
    >>> type(to_host({"w": jnp.ones(2)})["w"]).__name__
    'ndarray'
    """
    import jax
    import numpy as np

    def leaf(x):
        if isinstance(x, jax.Array):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return HostKey(np.asarray(jax.random.key_data(x)), str(jax.random.key_impl(x)))
            return np.asarray(x)
        return x

    return jax.tree_util.tree_map(leaf, tree)


def to_device(tree):
    """Inverse of :func:`to_host`: NumPy arrays become fresh JAX arrays, keys typed keys."""
    import jax
    import numpy as np

    def is_key(x):
        return isinstance(x, HostKey)

    def leaf(x):
        if isinstance(x, HostKey):
            return jax.random.wrap_key_data(np.asarray(x.data), impl=x.impl)
        if isinstance(x, np.ndarray):
            return jax.numpy.asarray(x)
        return x

    return jax.tree_util.tree_map(leaf, tree, is_leaf=is_key)
