"""Rematerialization (gradient checkpointing): ``lamina.remat`` and ``lamina.RematScope``, as
Keras 3's ``keras.remat`` and ``keras.RematScope`` on its JAX backend.

``remat(f)`` is ``jax.checkpoint(f)``: the backward pass recomputes ``f``'s intermediate values
instead of keeping them, trading computation for memory; values and gradients are unchanged.

Layers constructed inside ``with RematScope(mode=...):`` are rematerialized where they run
(training steps, functional graphs, ``layer(x)``), by Keras's modes:

* ``"full"``: the whole layer;
* ``"activations"``: only the activation function of layers that have one (``Dense(...,
  activation="relu")``);
* ``"larger_than"``: layers whose output has more than ``output_size_threshold`` elements
  (counted on the call's real shapes);
* ``"list_of_layers"``: the layers named in ``layer_names``;
* ``None``: none (inside an enclosing scope too).

A layer keeps the mode of the scope it was constructed in, as in Keras.  Models themselves are
not wrapped (their layers are, by their own modes).

>>> import jax, jax.numpy as jnp
>>> import lamina as keras
>>> with keras.RematScope(mode="full"):
...     layer = keras.layers.Dense(2, activation="tanh")
>>> layer.build((None, 3))
>>> jaxpr = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(layer(x))))(jnp.ones((4, 3)))
>>> [e.primitive.name for e in jaxpr.eqns if e.primitive.name.startswith("remat")]
['remat2']
"""

from __future__ import annotations

import functools
import math
import threading
from typing import NamedTuple

import jax
import numpy as np

__all__ = ["RematScope", "remat"]

_MODES = ("full", "activations", "larger_than", "list_of_layers", None)
_LOCAL = threading.local()


def _stack() -> list:
    if not hasattr(_LOCAL, "scopes"):
        _LOCAL.scopes = []
    return _LOCAL.scopes


class RematMode(NamedTuple):
    """The rematerialization settings a layer keeps (hashable: part of its compiled key)."""

    mode: str | None
    output_size_threshold: int
    layer_names: tuple


class RematScope:
    """Rematerializes the layers constructed inside the ``with`` block (Keras's
    ``keras.RematScope``).

    Args:
        mode: ``"full"``, ``"activations"``, ``"larger_than"``, ``"list_of_layers"`` or
            ``None`` (see the module docstring).
        output_size_threshold: for ``"larger_than"``: layers whose output has more elements
            than this are rematerialized.
        layer_names: for ``"list_of_layers"``: the names of the layers to rematerialize.

    Raises:
        ValueError: an unknown ``mode`` (Keras's message).

    >>> import lamina as keras
    >>> with keras.RematScope(mode="list_of_layers", layer_names=["big"]):
    ...     big, small = keras.layers.Dense(8, name="big"), keras.layers.Dense(8, name="small")
    >>> rematerializes(big), rematerializes(small)
    (True, False)
    """

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in _MODES:
            raise ValueError(
                f"Invalid mode '{mode}'. Supported modes are: 'full', 'activations', "
                "'larger_than', 'list_of_layers', or  None."
            )
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])
        self._pop_on_exit = False

    def __enter__(self):
        _stack().append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit:
            self._pop_on_exit = False
            _stack().pop()
        return False


def get_current_remat_mode() -> RematMode | None:
    """The innermost open :class:`RematScope`'s settings, or ``None`` outside any.

    >>> with RematScope(mode="larger_than", output_size_threshold=10):
    ...     get_current_remat_mode().output_size_threshold
    10
    """
    stack = _stack()
    if not stack:
        return None
    top = stack[-1]
    return RematMode(top.mode, int(top.output_size_threshold), tuple(top.layer_names))


def remat(f):
    """``f`` rematerialized: its intermediate values are recomputed in the backward pass
    instead of stored (``jax.checkpoint``, as Keras's ``keras.remat`` on JAX).

    Args:
        f: a function of arrays (a custom layer's helper called from its ``call``).

    Returns:
        The wrapped function: same values and gradients, less memory held for the backward
        pass.

    Raises:
        TypeError: ``f`` is not callable.

    >>> import jax, jax.numpy as jnp
    >>> f = remat(lambda x: jnp.sin(x) * x)
    >>> float(jax.grad(f)(1.0)) == float(jax.grad(lambda x: jnp.sin(x) * x)(1.0))
    True
    """
    if not callable(f):
        raise TypeError(f"remat() takes a function to rematerialize. Received: {f!r}.")
    return jax.checkpoint(f)


def rematerializes(layer) -> bool:
    """Whether ``layer`` was constructed in a :class:`RematScope` that can rematerialize it
    (``"larger_than"`` decides at each call, from the output's size)."""
    mode = layer.__dict__.get("_remat_mode")
    if mode is None or mode.mode is None or getattr(layer, "_is_model", False):
        return False
    if mode.mode == "list_of_layers":
        return layer.name in mode.layer_names
    if mode.mode == "activations":
        return callable(layer.__dict__.get("activation"))
    return True


def note_remat_mode(layer) -> None:
    """Keeps the open :class:`RematScope`'s settings on a layer being constructed."""
    mode = get_current_remat_mode()
    if mode is not None and mode.mode is not None:
        layer.__dict__["_remat_mode"] = mode


def remat_apply(layer, apply):
    """``apply`` (with ``layer.apply``'s signature) rematerialized by the layer's mode, or
    ``apply`` itself for a layer with none."""
    if not rematerializes(layer):
        return apply
    mode = layer.__dict__["_remat_mode"]
    if mode.mode == "activations":
        return functools.partial(_with_remat_activation, layer, apply)
    return functools.partial(_checkpointed, apply, mode)


def _with_remat_activation(layer, apply, *args, **kwargs):
    # Keras swaps ``self.activation`` for its rematerialized version during the call.
    original = layer.__dict__["activation"]
    layer.__dict__["activation"] = jax.checkpoint(original)
    try:
        return apply(*args, **kwargs)
    finally:
        layer.__dict__["activation"] = original


def _is_array(v) -> bool:
    return isinstance(v, jax.Array | np.ndarray | jax.core.Tracer)


def _all_arrays(tree) -> bool:
    return all(_is_array(v) for v in jax.tree_util.tree_leaves(tree))


def _checkpointed(apply, mode, params, state, x, **kwargs):
    """``apply(params, state, x, **kwargs)`` under ``jax.checkpoint``.

    Loss terms the layer reports while it runs (``add_loss``, activity regularizers of its
    sub-layers) are collected inside the checkpointed function and reported again outside it,
    so no traced value escapes it."""
    from lamina.layers.call_losses import TermLog, log_term
    from lamina.layers.variables import AuxCollector, report_aux

    if not _all_arrays((params, state, x)):  # host inputs (strings) are not traced
        return apply(params, state, x, **kwargs)
    arrays = {k: v for k, v in kwargs.items() if _all_arrays(v)}
    static = {k: v for k, v in kwargs.items() if k not in arrays}
    reported: dict = {}

    def run(params, state, x, arrays):
        with AuxCollector() as aux, TermLog() as log:
            y, new_state = apply(params, state, x, **static, **arrays)
        reported["aux"] = not (isinstance(aux.total, float) and aux.total == 0.0)
        reported["layers"] = [la for la, _ in log.terms]
        return y, new_state, aux.total, [v for _, v in log.terms]

    if mode.mode == "larger_than":
        shapes = jax.eval_shape(run, params, state, x, arrays)[0]
        size = sum(math.prod(s.shape) for s in jax.tree_util.tree_leaves(shapes))
        if size <= mode.output_size_threshold:
            return apply(params, state, x, **kwargs)
    y, new_state, aux, terms = jax.checkpoint(run)(params, state, x, arrays)
    if reported["aux"]:
        report_aux(aux, required=bool(static.get("training", False)))
    for la, value in zip(reported["layers"], terms):
        log_term(la, value)
    return y, new_state
