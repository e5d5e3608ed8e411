"""The weights a custom layer reads from layers it does not hold (tied weights,
:mod:`lamina.layers.borrowed`) in Keras's lists and counts: the reader's ``weights`` list
them after its own, a model lists each weight once, and ``summary()`` counts them in the
reader's row (and in a nested model's) but once in the totals, as Keras does.

>>> import lamina as keras
>>> class Tied(keras.layers.Layer):
...     def __init__(self, dense):
...         super().__init__()
...         self.dense = dense
...     def call(self, x):
...         return keras.ops.matmul(x, keras.ops.transpose(self.dense.kernel))
>>> dense = keras.layers.Dense(2)
>>> model = keras.Sequential([keras.Input((3,)), dense, Tied(dense)])
>>> [len(layer.weights) for layer in model.layers], len(model.weights)
([2, 2], 2)
"""

from __future__ import annotations

import numpy as np


def borrowed_views(layer, held_names=None) -> list:
    """``[(path key, view)]``: the weights of the foreign sub-layers ``layer`` reads without
    holding them (``held_names``: the keys it holds), as its ``weights`` list them."""
    foreign = layer.__dict__.get("_foreign_paths")
    if not foreign:
        return []
    from lamina.layers.tracing import tracked_layers

    held = tuple(held_names or ())
    out = []
    for path, sub in tracked_layers(layer):
        if path in foreign and not any(k.startswith(path + "/") for k in held):
            out += [(f"{path}/{v._key}", v) for v in sub._weight_views()]
    return out


def unique_weights(views) -> list:
    """``views`` without repeats of one weight (a tied weight listed by the layer owning it
    and by a layer reading it): a model's ``weights`` list each once, as Keras's do."""
    seen, out = set(), []
    for v in views:
        key = (id(v._layer), v._key) if getattr(v, "_layer", None) is not None else id(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def borrowed_count(layer, names) -> int:
    """The number of scalars in the weights ``layer`` (a layer or a nested model, holding the
    arrays ``names``) reads from layers outside it: Keras's summary counts them in its row."""
    views = unique_weights(_read_from_outside(layer, tuple(names), 0))
    return int(sum(int(np.prod(v.shape)) for v in views))


def _read_from_outside(layer, names, depth) -> list:
    if not getattr(layer, "_is_model", False):
        return [v for _, v in borrowed_views(layer, names)]
    if depth > 16:
        return []
    inside = _held(layer, names, 0)
    out = []
    for sub in layer.__dict__.get("_layers") or ():
        sub_names = _under(names, sub.name)
        out += [
            v for v in _read_from_outside(sub, sub_names, depth + 1) if id(v._layer) not in inside
        ]
    return out


def _held(layer, names, depth) -> set:
    """``id`` of every layer whose arrays are among ``names`` (those of ``layer``: a model's
    layers, a custom layer's sub-layers, under their prefixes)."""
    if depth > 16:
        return set()
    if getattr(layer, "_is_model", False):
        out = set()
        for sub in layer.__dict__.get("_layers") or ():
            out |= _held(sub, _under(names, sub.name), depth + 1)
        return out
    out = {id(layer)}
    if getattr(layer, "_traced", False):
        from lamina.layers.tracing import tracked_layers

        for path, sub in tracked_layers(layer):
            sub_names = _under(names, path)
            if sub_names:
                out |= _held(sub, sub_names, depth + 1)
    return out


def _under(names, prefix: str) -> tuple:
    cut = len(prefix) + 1
    return tuple(k[cut:] for k in names if k.startswith(prefix + "/"))
