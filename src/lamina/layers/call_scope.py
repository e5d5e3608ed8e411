"""The scopes a traced ``call`` binds layers to arrays in, and the collectors of its
``add_loss`` terms: where a :class:`lamina.layers.variables.Variable` view finds its value
while a layer runs inside a pure ``apply``.

>>> import jax.numpy as jnp
>>> layer = object()
>>> with Scope() as scope:
...     scope.bind(layer, {"kernel": jnp.ones(2)}, {})
...     find_binding(layer)[0]["kernel"].tolist()
[1.0, 1.0]
>>> find_binding(layer) is None
True
"""

from __future__ import annotations

import threading

import jax

_LOCAL = threading.local()


def _stack() -> list:
    if not hasattr(_LOCAL, "scopes"):
        _LOCAL.scopes = []
    return _LOCAL.scopes


class Scope:
    """Binds layers to arrays while a ``call`` is traced.

    Args:
        training: the ``training`` flag passed on to sub-layers called inside.
        key: a JAX key (or None) from which sub-layers that draw random numbers get theirs.
        init_key: when not None, sub-layers called inside are *initialized* (their weights are
            drawn from this key) before they run: how a custom layer builds its sub-layers.
    """

    def __init__(self, training=False, key=None, init_key=None, batch_mask=None):
        self.training = training
        self.batch_mask = batch_mask
        #: Activity-regularization and ``add_loss`` terms of the layers called inside.
        self.aux = 0.0
        self.key = key
        self.init_key = init_key
        #: The Keras-style layer whose ``call`` runs in this scope (set by ``traced_apply``).
        self.caller = None
        #: id(layer) -> its params before a re-parametrizing ``assign`` in the call.
        self.originals: dict[int, dict] = {}
        self._count = 0
        #: id(layer) -> [params, state, new_state, prefix-owner, layer]
        self.bound: dict[int, list] = {}
        #: id(array) -> (array, mask): the masks tensors carry inside this call (Keras's
        #: ``_keras_mask``), see :func:`lamina.layers.tracing.record_masks`.
        self.masks: dict[int, tuple] = {}

    def bind(self, layer, params: dict, state: dict) -> None:
        self.bound[id(layer)] = [params, state, dict(state), layer]

    def lookup(self, layer):
        return self.bound.get(id(layer))

    def next_key(self):
        """A fresh key for one random sub-layer call (None outside training)."""
        if self.key is None:
            return None
        self._count += 1
        return jax.random.fold_in(self.key, self._count)

    def next_init_key(self):
        self._count += 1
        from lamina.utils import random as _random

        if isinstance(self.init_key, _random.HostKey):
            return _random.HostKey((*self.init_key.words[:3], self._count))
        return jax.random.fold_in(self.init_key, self._count)

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


class AuxCollector:
    """Collects the ``add_loss``/activity terms of Keras-style layers run inside a forward pass
    (their pure ``apply`` returns only outputs and state)."""

    def __init__(self):
        self.total = 0.0

    def __enter__(self):
        if not hasattr(_LOCAL, "collectors"):
            _LOCAL.collectors = []
        _LOCAL.collectors.append(self)
        return self

    def __exit__(self, *exc):
        _LOCAL.collectors.pop()
        return False


def report_aux(value, required: bool = True) -> None:
    """Adds ``value`` to the innermost :class:`AuxCollector`.

    Args:
        value: the term.
        required: whether losing it would change a result (training); when False and nothing
            collects, the term is dropped (inference, shape inference).

    Raises:
        NotImplementedError: ``required`` and no forward pass collects such terms here (a
            Keras-style layer calling ``add_loss`` directly inside a ``Sequential``).
    """
    collectors = getattr(_LOCAL, "collectors", None)
    if collectors:
        collectors[-1].total = collectors[-1].total + value
        return
    if not required:
        return
    raise NotImplementedError(
        "add_loss() (or an activity regularizer inside a custom layer) in a layer placed "
        "directly in a Sequential model is not supported yet: its term would be left out of "
        "the loss. Build the model with the functional API (keras.Model(inputs, outputs)) or "
        "as a subclassed Model, where these terms join the loss as in Keras."
    )


def current_scope() -> Scope | None:
    stack = _stack()
    return stack[-1] if stack else None


def find_binding(layer):
    """The innermost scope's binding of ``layer``; else the arrays the model being run or
    built offers for it (:mod:`lamina.layers.borrowed`: a layer reading another layer's
    variables, tied weights); else None."""
    for scope in reversed(_stack()):
        entry = scope.lookup(layer)
        if entry is not None:
            return entry
    if getattr(_LOCAL, "offers", None):
        from lamina.layers.borrowed import offered

        return offered(layer)
    return None
