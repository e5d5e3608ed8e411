"""Nested structures (``lamina.tree``, as ``keras.tree``): flatten, pack and map over them.

The containers are Keras's (optree's): ``list``, ``tuple``, ``dict``, namedtuples,
``collections.OrderedDict``, ``collections.defaultdict`` and ``collections.deque``, matched by
exact type (a subclass of ``list`` is a leaf).  Everything else is a leaf, **``None``
included**, as in Keras.  Dicts are visited in sorted-key order (insertion order for an
``OrderedDict``), and rebuilt dicts keep the key order of the structure they came from.

Pure Python, no extra dependency; parity with ``keras.tree`` is tested.

>>> from lamina import tree
>>> tree.flatten({"b": [1, None], "a": (2,)})
[2, 1, None]
>>> tree.map_structure(lambda v: v * 10, {"x": [1, 2], "y": 3})
{'x': [10, 20], 'y': 30}
>>> tree.pack_sequence_as([0, (0, 0)], ["a", "b", "c"])
['a', ('b', 'c')]
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Callable

__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "traverse",
]


class MAP_TO_NONE:  # noqa: N801 - Keras's name
    """Return this class from a :func:`traverse` function to put ``None`` in the output."""


_MISMATCH = "Structures don't have the same nested structure."


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields") and type(x) is not tuple


def _sorted_keys(d: dict) -> list:
    if type(d) is collections.OrderedDict:
        return list(d)
    try:
        return sorted(d)
    except TypeError:  # unsortable keys: insertion order, as optree
        return list(d)


def _node(x):
    """``(children, keys, rebuild)`` for a container, ``None`` for a leaf."""
    t = type(x)
    if t is list or t is tuple or t is collections.deque:
        keys = list(range(len(x)))
        if t is collections.deque:
            return list(x), keys, lambda c, x=x: collections.deque(c, maxlen=x.maxlen)
        return list(x), keys, t
    if _is_namedtuple(x):
        return list(x), list(range(len(x))), lambda c, t=t: t(*c)
    if t is dict or t is collections.OrderedDict or t is collections.defaultdict:
        keys = _sorted_keys(x)

        def rebuild(children, x=x, keys=keys):
            by_key = dict(zip(keys, children, strict=True))
            ordered = [(k, by_key[k]) for k in x]  # the structure's own key order
            if type(x) is collections.defaultdict:
                return collections.defaultdict(x.default_factory, ordered)
            return type(x)(ordered)

        return [x[k] for k in keys], keys, rebuild
    return None


def _same_node(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return set(a) == set(b)
    return len(a) == len(b)


def is_nested(structure) -> bool:
    """Whether ``structure`` is a container (``None`` and other values are leaves).

    >>> is_nested([1]), is_nested(None), is_nested({})
    (True, False, True)
    """
    return _node(structure) is not None


def _flatten(x, out: list, is_leaf: Callable | None = None) -> None:
    node = None if is_leaf is not None and is_leaf(x) else _node(x)
    if node is None:
        out.append(x)
        return
    for child in node[0]:
        _flatten(child, out, is_leaf)


def flatten(structure) -> list:
    """The leaves of ``structure`` in order (dicts by sorted key); a leaf gives ``[leaf]``.

    >>> flatten([1, (2, None)])
    [1, 2, None]
    """
    out: list = []
    _flatten(structure, out)
    return out


def flatten_with_path(structure) -> list:
    """``[(path, leaf), ...]``: ``path`` is the tuple of indices and keys down to the leaf.

    >>> flatten_with_path({"a": [5, 6]})
    [(('a', 0), 5), (('a', 1), 6)]
    """
    out: list = []

    def walk(x, path):
        node = _node(x)
        if node is None:
            out.append((path, x))
            return
        for key, child in zip(node[1], node[0], strict=True):
            walk(child, (*path, key))

    walk(structure, ())
    return out


def _pack(structure, leaves):
    node = _node(structure)
    if node is None:
        return next(leaves)
    return node[2]([_pack(c, leaves) for c in node[0]])


def pack_sequence_as(structure, flat_sequence):
    """Rebuilds ``structure`` with the leaves of ``flat_sequence`` in order.

    Raises:
        ValueError: if ``flat_sequence`` holds a different number of leaves.

    >>> pack_sequence_as({"b": 0, "a": 0}, [1, 2])
    {'b': 2, 'a': 1}
    """
    n = len(flatten(structure)) if is_nested(structure) else 1
    flat = list(flat_sequence)
    if len(flat) != n:
        raise ValueError(
            f"pack_sequence_as: the structure has {n} leaves but flat_sequence has "
            f"{len(flat)} elements. Received: structure={structure!r}."
        )
    return _pack(structure, iter(flat))


def _map(func, structures, leaf_check):
    first = structures[0]
    node = _node(first)
    if node is None:
        leaf_check(structures)
        return func(*structures)
    for other in structures[1:]:
        if not _same_node(first, other):
            raise ValueError(
                f"{_MISMATCH} Expected {type(first).__name__} matching {first!r}, "
                f"received {type(other).__name__}: {other!r}."
            )
    children = [node[0]]
    for other in structures[1:]:
        if isinstance(first, dict):
            children.append([other[k] for k in node[1]])
        else:
            children.append(list(other))
    return node[2]([_map(func, args, leaf_check) for args in zip(*children, strict=True)])


def map_structure(func: Callable, *structures, none_is_leaf: bool = True):
    """Applies ``func`` leaf-wise to one or more structures of the same shape.

    Args:
        func: a function of as many leaves as there are structures.
        *structures: the structures (same nesting, same dict keys).
        none_is_leaf: Keras's switch; ``False`` keeps ``None`` leaves as ``None``.

    Raises:
        ValueError: if the structures differ.

    >>> map_structure(lambda a, b: a + b, [1, (2,)], [10, (20,)])
    [11, (22,)]
    """
    if not structures:
        raise ValueError("Must provide at least one structure")

    def check(leaves):
        if len(leaves) > 1 and any(_node(s) is not None for s in leaves):
            raise ValueError(_MISMATCH)

    if not none_is_leaf:
        inner = func

        def func(*leaves):
            return None if leaves[0] is None else inner(*leaves)

    return _map(func, structures, check)


def map_structure_up_to(shallow_structure, func: Callable, *structures):
    """Maps ``func`` over ``structures`` down to the depth of ``shallow_structure`` only.

    >>> map_structure_up_to([0, 0], len, [[1, 2], (3,)])
    [2, 1]
    """
    if not structures:
        raise ValueError("Must provide at least one structure")

    def check(leaves):
        if leaves[0] is None:  # Keras (optree): a None in the shallow structure is refused
            raise ValueError(_MISMATCH)

    return _map(lambda _shallow, *args: func(*args), (shallow_structure, *structures), check)


def assert_same_structure(a, b, check_types=None) -> None:
    """Raises ``ValueError`` unless ``a`` and ``b`` nest the same way (types included).

    >>> assert_same_structure([1, (2,)], [3, (4,)])
    """
    if check_types is not None:
        warnings.warn(
            "The `check_types` argument is deprecated and no longer has any effect, please remove.",
            DeprecationWarning,
            stacklevel=2,
        )

    def check(leaves):
        if any(_node(s) is not None for s in leaves):
            raise ValueError(_MISMATCH)

    _map(lambda *_: None, (a, b), check)


def assert_same_paths(a, b) -> None:
    """Raises ``ValueError`` unless ``a`` and ``b`` have the same leaf paths (container types
    may differ: a list matches a tuple).

    >>> assert_same_paths([1, 2], (3, 4))
    """
    a_paths = {p for p, _ in flatten_with_path(a)}
    b_paths = {p for p, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def traverse(func: Callable, structure, top_down: bool = True):
    """Calls ``func`` on every node and leaf; a non-``None`` result replaces that subtree.

    Top-down, ``func`` sees the original nodes and returning ``None`` means "recurse into
    it"; bottom-up it sees the already traversed node.  Return :class:`MAP_TO_NONE` to put a
    ``None`` in the output.

    >>> traverse(lambda x: x * 2 if isinstance(x, int) else None, [1, [2]])
    [2, [4]]
    """

    def children():
        node = _node(structure)
        if node is None:
            return structure
        return node[2]([traverse(func, c, top_down=top_down) for c in node[0]])

    if top_down:
        ret = func(structure)
        if ret is None:
            return children()
    else:
        done = children()
        ret = func(done)
        if ret is None:
            return done
    if ret is MAP_TO_NONE:
        return None
    return ret


def lists_to_tuples(structure):
    """The same structure with every ``list`` turned into a ``tuple``.

    >>> lists_to_tuples([1, [2, {"a": [3]}]])
    (1, (2, {'a': (3,)}))
    """
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def _is_shape(x) -> bool:
    return isinstance(x, list | tuple) and all(isinstance(e, int | type(None)) for e in x)


def _map_shapes(func, x):
    if _is_shape(x):
        return func(x)
    node = _node(x)
    if node is None:
        return func(x)
    return node[2]([_map_shapes(func, c) for c in node[0]])


def map_shape_structure(func: Callable, structure):
    """Maps ``func`` over the shapes (tuples/lists of ints and ``None``) in ``structure``.

    >>> map_shape_structure(lambda s: s[1:], {"a": (None, 3), "b": [(None, 4, 5)]})
    {'a': (3,), 'b': [(4, 5)]}
    """
    return _map_shapes(func, structure)
