"""A model nested in another that takes strings: ``Sequential([StringLookup(...), Embedding(...)])``
called on a string ``Input`` of a functional model.

Strings never enter a compiled program (:mod:`lamina.models.host_prefix`), so such a node is
split in two: a *host half* runs the nested model's own host prefix (its lookups) on the host,
with the outer model's other string layers, and gives out the prefix's arrays (token ids, one-hot
rows) under fresh *proxy* tensors; the *engine half* is the same model called on the proxies,
whose ``apply`` already starts after its prefix (a model with a string ``Input`` has an engine
network that skips it).  The nested model keeps its weights, its config and its place in the
outer graph: only the two halves' run order changes.

>>> import numpy as np
>>> import lamina
>>> from lamina import layers
>>> inner = lamina.Sequential([layers.StringLookup(vocabulary=["a", "b"]), layers.Embedding(3, 2)])
>>> text = lamina.Input(shape=(1,), dtype="string")
>>> model = lamina.Model(text, layers.Flatten()(inner(text)))
>>> model.predict(np.array([["a"], ["z"]]), verbose=0).shape
(2, 2)
"""

from __future__ import annotations

import numpy as np

from lamina.layers.symbolic import KerasTensor, Node


def takes_strings(layer, adopt=False) -> bool:
    """Whether ``layer`` is a model with string inputs of its own (a host prefix).

    ``adopt``: a ``Sequential`` declared without an ``Input`` whose first layer is a host layer
    (placed first in a stack on a string ``Input``) takes a string ``Input`` of its shape.
    """
    if not getattr(layer, "_is_model", False):
        return False
    if adopt:
        adopt_strings(layer)
    find = getattr(layer, "_host_prefix", None)
    return find is not None and find() is not None


def adopt_strings(model, shape=None) -> None:
    """Gives a ``Sequential`` declared without an ``Input`` whose first layer is a host layer a
    string ``Input`` of ``shape`` (default: the shape it was built for), as Keras builds it on
    the string tensor it is first called on."""
    from lamina.layers.core import InputLayer
    from lamina.models.host_prefix import is_host_layer

    stack = model.__dict__.get("_stack")
    shape = model.__dict__.get("_input_shape") if shape is None else (None, *shape[1:])
    given = model.__dict__.get("_input_layer")
    if (
        not stack
        or not is_host_layer(stack[0])
        or shape is None
        or model.__dict__.get("_train_state") is not None
        or getattr(given, "_input_dtype", None) is not None  # declared by the user: kept
    ):
        return
    model.__dict__["_input_layer"] = InputLayer(batch_shape=tuple(shape), dtype="string")
    model._input_shape = tuple(shape)
    model._invalidate()


def run_prefix(model, x):
    """The nested ``model``'s host prefix on the strings ``x`` (its compiled part's input)."""
    out = model._host_prefix().run(x, f"the input of model {model.name!r}")
    return list(out) if isinstance(out, tuple) else np.asarray(out)


class _HostHalf:
    """The host half's layer: runs the nested model's host prefix (see the module docstring)."""

    def __init__(self, model):
        self.model = model
        self.name = model.name
        self.invert = False

    def host_apply(self, x):
        return run_prefix(self.model, x)


def _proxies(model) -> list:
    """Fresh tensors standing for the nested model's prefix outputs (the engine's inputs)."""
    prefix = model._host_prefix()
    inputs = getattr(prefix, "engine_inputs", None)
    if inputs is not None:  # a functional model: its numeric inputs, then its boundary
        return [KerasTensor(t.shape, t.dtype) for t in inputs]
    # A Sequential: the output of its last host layer (``dtype=None``: kept as it comes).
    shape = tuple(model._input_shape)
    if prefix.n:
        shape = tuple(model._output_shape_of(shape)[prefix.n - 1])
    proxy = KerasTensor(shape)
    proxy.dtype = None  # conform_input keeps the prefix's dtype (ids stay integers)
    return [proxy]


def split(node):
    """``(host node, engine node)`` for a node calling a model on strings."""
    model = node.layer
    proxies = _proxies(model)
    host = Node(
        _HostHalf(model), node.args, node.kwargs, proxies if len(proxies) > 1 else proxies[0]
    )
    arg = proxies[0] if len(proxies) == 1 else list(proxies)
    kwargs = {k: v for k, v in node.kwargs.items() if k not in ("mask",)}
    engine = Node(model, (arg, *node.args[1:]), kwargs, node.outputs)
    return host, engine
