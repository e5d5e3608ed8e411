"""``lamina.tree`` against ``keras.tree`` (optree semantics, ``None`` is a leaf)."""

import collections

import pytest

from lamina import tree

Point = collections.namedtuple("Point", ["x", "y"])

STRUCTURES = [
    1,
    None,
    "text",
    [],
    (),
    {},
    [1],
    [None],
    (1, None, [2, 3]),
    {"b": 1, "a": [2, None], "c": {"z": 3, "y": (4,)}},
    [Point(1, [2, 3]), {"k": None}],
    collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.defaultdict(list, {"q": [1, 2], "p": 3}),
    collections.deque([1, [2, 3]]),
    [[[]], ((),), {"e": []}],
]


def _ids(values):
    return [repr(v)[:30] for v in values]


@pytest.mark.parametrize("s", STRUCTURES, ids=_ids(STRUCTURES))
def test_flatten_is_nested_and_pack_match_keras(keras, s):
    assert tree.is_nested(s) == keras.tree.is_nested(s)
    flat = tree.flatten(s)
    assert flat == keras.tree.flatten(s)
    assert tree.flatten_with_path(s) == keras.tree.flatten_with_path(s)
    marks = [f"v{i}" for i in range(len(flat))]
    ours, ref = tree.pack_sequence_as(s, marks), keras.tree.pack_sequence_as(s, marks)
    assert ours == ref and type(ours) is type(ref)
    if isinstance(ref, dict):
        assert list(ours) == list(ref)  # the structure's key order


@pytest.mark.parametrize("s", STRUCTURES, ids=_ids(STRUCTURES))
def test_map_structure_matches_keras(keras, s):
    def f(v):
        return ("seen", v)

    ours, ref = tree.map_structure(f, s), keras.tree.map_structure(f, s)
    assert ours == ref and type(ours) is type(ref)
    assert tree.map_structure(f, s, none_is_leaf=False) == keras.tree.map_structure(
        f, s, none_is_leaf=False
    )
    assert tree.lists_to_tuples(s) == keras.tree.lists_to_tuples(s)


def test_map_structure_many_structures_and_mismatches(keras):
    a, b = {"x": [1, 2], "y": 3}, {"x": [10, 20], "y": 30}
    assert tree.map_structure(lambda u, v: u + v, a, b) == keras.tree.map_structure(
        lambda u, v: u + v, a, b
    )
    for bad in ([1, (2,)], [1, 2, 3], {"x": [1, 2], "z": 3}):
        with pytest.raises(ValueError):
            keras.tree.map_structure(lambda *v: v, [1, [2]], bad)
        with pytest.raises(ValueError):
            tree.map_structure(lambda *v: v, [1, [2]], bad)
    with pytest.raises(ValueError, match="same nested structure"):
        tree.map_structure(lambda *v: v, [1, 2], [1, [2]])
    with pytest.raises(ValueError, match="at least one structure"):
        tree.map_structure(len)


def test_assert_same_structure_and_paths(keras):
    cases = [([1, (2,)], [3, (4,)]), ([1, 2], (1, 2)), ([1, [2]], [1, 2]), ({"a": 1}, {"b": 1})]
    for a, b in cases:
        for fn in ("assert_same_structure", "assert_same_paths"):
            try:
                getattr(keras.tree, fn)(a, b)
                ref_ok = True
            except ValueError:
                ref_ok = False
            if ref_ok:
                getattr(tree, fn)(a, b)
            else:
                with pytest.raises(ValueError):
                    getattr(tree, fn)(a, b)
    with pytest.warns(DeprecationWarning, match="check_types"):
        tree.assert_same_structure([1], [2], check_types=True)


def test_map_structure_up_to_matches_keras(keras):
    shallow, deep = [0, {"a": 0}], [[1, 2], {"a": (3, 4)}]
    assert tree.map_structure_up_to(shallow, len, deep) == keras.tree.map_structure_up_to(
        shallow, len, deep
    )
    with pytest.raises(ValueError):
        tree.map_structure_up_to([0, [0]], len, [[1], 2])


def test_traverse_matches_keras(keras):
    s = [1, [2, {"a": 3, "b": [4]}], None]

    def double(x):
        return x * 2 if isinstance(x, int) else None

    for top_down in (True, False):
        assert tree.traverse(double, s, top_down=top_down) == keras.tree.traverse(
            double, s, top_down=top_down
        )

    def drop_lists(x):
        return tree.MAP_TO_NONE if isinstance(x, list) and len(x) == 1 else None

    def drop_lists_ref(x):
        return keras.tree.MAP_TO_NONE if isinstance(x, list) and len(x) == 1 else None

    assert tree.traverse(drop_lists, s) == keras.tree.traverse(drop_lists_ref, s)


def test_map_shape_structure_matches_keras(keras):
    s = {"a": (None, 3), "b": [(None, 4, 5), ()], "c": [2, 3]}
    assert tree.map_shape_structure(len, s) == keras.tree.map_shape_structure(len, s)


def test_pack_sequence_as_wrong_length():
    with pytest.raises(ValueError, match="has 2 leaves but flat_sequence has 3"):
        tree.pack_sequence_as([0, 0], [1, 2, 3])


def test_lamina_tree_attribute():
    import lamina

    assert lamina.tree is tree
