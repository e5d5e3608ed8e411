"""Keras's ``layer.losses`` after an eager call: each ``add_loss`` and activity-regularizer
term listed under the layer that made it.

A forward pass adds every such term into one scalar (the loss needs only the sum).  An eager
call (``model(x)``, ``layer(x)``) also opens a :class:`TermLog`, to which the places that
make a term report it with its layer (:func:`log_term`); :func:`record` then gives each layer
its own terms, as Keras's layers keep their ``_losses``.  ``losses_of`` lists a layer's own
terms, then its sub-layers' (Keras's ``_flatten_layers`` order), so ``model.losses`` has one
entry per term, as in Keras.

>>> import numpy as np
>>> from lamina.layers import Dense, Input
>>> from lamina.models import Model
>>> inputs = Input((2,))
>>> hidden = Dense(2, activity_regularizer="l2", kernel_initializer="ones")(inputs)
>>> model = Model(inputs, Dense(1, activity_regularizer="l1", kernel_initializer="ones")(hidden))
>>> _ = model(np.ones((1, 2), "float32"))
>>> [round(float(v), 4) for v in model.losses]  # one term per layer: 0.01*(4+4), 0.01*4
[0.08, 0.04]
"""

from __future__ import annotations

import collections
import threading

_LOCAL = threading.local()


class TermLog:
    """Collects ``(layer, term)`` pairs while a forward pass runs (the innermost log)."""

    def __init__(self):
        self.terms: list = []

    def __enter__(self):
        if not hasattr(_LOCAL, "logs"):
            _LOCAL.logs = []
        _LOCAL.logs.append(self)
        return self

    def __exit__(self, *exc):
        _LOCAL.logs.pop()
        return False


def log_term(layer, value) -> None:
    """Reports one loss term of ``layer`` to the innermost :class:`TermLog`, if any."""
    logs = getattr(_LOCAL, "logs", None)
    if logs:
        logs[-1].terms.append((layer, value))


def _children(obj) -> list:
    """The layers ``obj`` holds directly (Keras's ``layer._layers``)."""
    children = list(getattr(obj, "_layers", None) or [])
    if getattr(obj, "_traced", False) or getattr(obj, "_is_model", False):
        from lamina.layers.tracing import tracked_layers

        children += [sub for _, sub in tracked_layers(obj)]
    return children


def sublayers(layer) -> list:
    """``layer``'s sub-layers in Keras's ``_flatten_layers(include_self=False)`` order: a
    queue of its direct sub-layers; each taken from the front puts its own in front of the
    rest (``deque.extendleft``, so they come in reverse)."""
    out, seen = [], set()
    queue = collections.deque(_children(layer))
    while queue:
        sub = queue.popleft()
        if id(sub) in seen or sub is layer:
            continue
        seen.add(id(sub))
        out.append(sub)
        queue.extendleft(_children(sub))
    return out


def record(root, layers, values) -> None:
    """After an eager call of ``root``: each of ``root`` and its sub-layers keeps the terms it
    made in that call (``layers[i]`` made ``values[i]``), the others none (Keras clears the
    losses of every layer under the called one)."""
    for layer in (root, *sublayers(root)):
        layer.__dict__["_eager_losses"] = []
    for layer, value in zip(layers, values):
        layer.__dict__.setdefault("_eager_losses", []).append(value)


def losses_of(layer) -> list:
    """The terms ``layer`` and its sub-layers made in the last eager call, in Keras's order."""
    out = list(layer.__dict__.get("_eager_losses", []))
    for sub in sublayers(layer):
        out.extend(sub.__dict__.get("_eager_losses", []))
    return out
