"""Keras 2's module path ``keras.utils.layer_utils``: ``count_params``, ``print_summary`` and
``get_source_inputs``.

Keras 2 scripts import these from here (``from keras.utils.layer_utils import
count_params``); Keras 3 keeps them private or elsewhere (``model.summary()``,
``keras.utils.get_source_inputs``).

>>> import lamina
>>> from lamina.utils.layer_utils import count_params
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
>>> count_params(model.trainable_weights)
8
"""

from __future__ import annotations

import math

import numpy as np

from lamina.utils import general as _general


def count_params(weights) -> int:
    """The number of scalars in ``weights``, each weight counted once (Keras 2's
    ``count_params``, which counted a set of the variables).

    Args:
        weights: weights (``model.trainable_weights``, ``layer.weights``) or arrays.

    Returns:
        The total number of their entries, an ``int``.

    >>> import numpy as np
    >>> w = np.zeros((3, 2))
    >>> count_params([w, w, np.zeros(4)])
    10
    """
    seen: set[int] = set()
    total = 0
    for w in weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        total += math.prod(int(d) for d in np.shape(w))
    return int(total)


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """Prints ``model``'s summary table (Keras 2's ``print_summary``, ``model.summary()``).

    Args:
        model: a Sequential, functional or subclassed model.
        line_length: the table's width.
        positions: where each column ends (fractions of ``line_length``, or Keras 2's
            character offsets).
        print_fn: called with the text instead of ``print``.

    >>> import lamina
    >>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    >>> lines = []
    >>> print_summary(model, print_fn=lines.append)
    >>> "Total params: 8" in lines[0]
    True
    """
    from lamina.models.summary import print_summary as _print_summary

    _print_summary(model, line_length=line_length, positions=positions, print_fn=print_fn)


def get_source_inputs(tensor, layer=None, node_index=None):
    """The ``Input`` tensors ``tensor`` was computed from, in Keras's order.

    ``layer`` and ``node_index`` (Keras 2's recursion state) are accepted and not needed:
    the tensor's own history names its layer and node.

    >>> import lamina
    >>> a = lamina.Input((3,))
    >>> get_source_inputs(lamina.layers.Dense(2)(a))[0] is a
    True
    """
    return _general.get_source_inputs(tensor)


__all__ = ["count_params", "get_source_inputs", "print_summary"]
