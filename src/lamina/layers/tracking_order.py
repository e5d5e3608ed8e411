"""The order in which a layer tracks its sub-layers, as Keras 3's ``Layer._tracker`` does.

Keras adds a sub-layer to ``layer._layers`` at the moment it is *tracked*: when it is assigned
as an attribute (``self.dense = Dense(8)``), when a list, tuple or dict holding it is assigned
(its entries in their order), or when it is appended (``append``/``insert``/``extend``) or set
(``d[k] = ...``) into such a container afterwards, which Keras wraps in tracking proxies.  A
layer already tracked keeps its first place; ``layer.weights`` lists the sub-layers' weights
in that order.  So a layer filling two lists in one loop::

    self.a, self.b = [], []
    for i in range(2):
        self.a.append(Dense(3))
        self.b.append(Dense(4))

lists ``a[0], b[0], a[1], b[1]``, which no walk over its attributes can recover.

Lamina keeps plain containers (they stay pytrees), so it records two times on one counter
instead: when each layer object first sets an attribute (its birth: ``Layer.__init__`` names
it first thing) and when each attribute holding a layer or a container was last assigned
(``Layer.__setattr__`` calls :func:`note`).  A sub-layer's tracking time is then its
attribute's assignment time, or, for an entry of a container born after the container was
assigned, its birth: such an entry was appended afterwards, and code appends a layer where it
makes it.  Entries with equal times keep their place in the attribute walk.  (A layer made
before the container was assigned but appended only later, after other attributes were set,
is placed at the container's assignment: Lamina cannot see that append.)

>>> from lamina.layers import Dense, Layer
>>> class Two(Layer):
...     def __init__(self):
...         super().__init__()
...         self.a, self.b = [], []
...         for i in range(2):
...             self.a.append(Dense(3))
...             self.b.append(Dense(4))
>>> layer = Two()
>>> walk = [("a/0", layer.a[0]), ("a/1", layer.a[1]), ("b/0", layer.b[0]), ("b/1", layer.b[1])]
>>> [path for path, _ in in_tracking_order(layer, walk)]
['a/0', 'b/0', 'a/1', 'b/1']
"""

from __future__ import annotations

import itertools

#: One clock for births and assignments, so the two compare.
_clock = itertools.count()

#: ``__dict__`` keys of the stamps: ints and a dict of ints, never walked for sub-layers.
BORN = "_lamina_born"
ASSIGNED = "_lamina_assigned"


def note(obj, name: str, value) -> None:
    """Records ``obj``'s birth (its first attribute) and when attribute ``name`` took
    ``value``, if that may hold sub-layers; called by ``Layer.__setattr__`` before setting.

    Re-assigning the object an attribute already holds (``self.blocks += [...]``, or
    ``self.a = self.a``) keeps its first time, as Keras keeps a tracked layer's first place.
    """
    found = obj.__dict__
    if BORN not in found:
        found[BORN] = next(_clock)
    if not _may_hold_layers(value) or found.get(name) is value:
        return
    # A fresh dict each time: a shallow copy of a layer (``copy.copy``) shares the old one.
    found[ASSIGNED] = {**found.get(ASSIGNED, {}), name: next(_clock)}


def _may_hold_layers(value) -> bool:
    from lamina.layers.base import Layer

    if isinstance(value, tuple):  # fixed at assignment: only one holding layers or containers
        return any(isinstance(v, Layer | list | dict) for v in value)
    return isinstance(value, Layer | list | dict)


def in_tracking_order(obj, walk) -> list:
    """``walk`` (``[(path, layer)]``: ``obj``'s sub-layers found attribute by attribute, in
    ``vars(obj)`` order) sorted into Keras's tracking order.

    Args:
        obj: the layer whose attributes were walked.
        walk: its sub-layers, each with its attribute path (``"blocks/0"``); a layer reached
            at several paths appears at each of them.

    Returns:
        ``[(path, layer)]``, one per layer (at its first path), earliest tracked first.
    """
    assigned = obj.__dict__.get(ASSIGNED, {})
    times, first = {}, {}
    bound = -1  # an attribute set without a stamp: assumed set after those walked before it
    for index, (path, layer) in enumerate(walk):
        attribute = path.split("/", 1)[0]
        at = assigned.get(attribute, bound)
        bound = max(bound, at)
        # A container's entry born after the container was assigned was appended at birth.
        when = max(at, layer.__dict__.get(BORN, -1)) if "/" in path else at
        key = id(layer)
        if key not in first:
            first[key] = (index, path, layer)
            times[key] = when
        else:  # tracked once, at the earliest
            times[key] = min(times[key], when)
    ranked = sorted(first, key=lambda k: (times[k], first[k][0]))
    return [first[k][1:] for k in ranked]
