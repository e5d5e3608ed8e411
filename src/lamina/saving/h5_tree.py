"""The parent's side of the HDF5 sandbox: the index the child wrote, as a tree of NumPy data.

:func:`lamina.saving.h5_sandbox.read_file` returns a :class:`Group` built here; the loaders walk
it like a read-only ``h5py.File``.  A damaged item raises ``FileFormatError`` naming the file
only when a loader needs it (as lazy h5py reads did).

>>> import numpy as np
>>> index = {"root": {"attrs": {"note": {"s": "hi"}}, "items": {
...     "w": {"dataset": {"a": 0, "attrs": {"flag": {"a": 1}}}}}}}
>>> arrays = [np.array([1.0, 2.0]), np.array(True)]
>>> tree = build_tree(index, arrays.__getitem__, "f.h5", "the file")
>>> tree.attrs["note"], tree["w"].tolist(), bool(tree.dataset_attrs("w")["flag"]), len(tree)
('hi', [1.0, 2.0], True, 1)
"""

from __future__ import annotations

import numpy as np

from lamina.saving.h5_sandbox import OpenError
from lamina.saving.safety import fail as _fail


class _Broken:
    """An item h5py could not read: a clean error, raised only when a loader needs it."""

    def __init__(self, kind: str, name: str, error):
        self.kind, self.name, self.error = kind, name, error

    def fail(self, path):
        etype, msg = self.error
        return _fail(path, f"{self.kind} {self.name!r} is damaged or unreadable ({etype}: {msg}).")


class Attrs(dict):
    """A group's attributes: str, NumPy scalars or arrays, or None (an empty attribute)."""

    path = None

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, _Broken):
            raise value.fail(self.path)
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default


class Group:
    """One HDF5 group in memory, used like a read-only ``h5py.Group`` by the loaders.

    ``group["a/b"]`` is a :class:`Group` or a NumPy array (a dataset); a damaged item raises
    ``FileFormatError`` naming the file, a missing one ``KeyError``.
    """

    def __init__(self, name: str, path, root=None):
        self.name, self.path, self._root = name, path, root or self
        self.attrs, self._items, self._dataset_attrs = Attrs(), {}, {}
        self.attrs.path = path

    def _lookup(self, key: str):
        if not isinstance(key, str):  # group[()] : read as if it were a dataset
            raise TypeError(f"{self.name!r} is a group, not a dataset: it holds no array")
        node = self._root if key.startswith("/") else self
        for part in [p for p in key.split("/") if p not in ("", ".")]:
            if isinstance(node, _Broken):
                raise node.fail(self.path)
            if not isinstance(node, Group):
                return None  # a dataset has no members
            node = node._items.get(part)
        return node

    def __getitem__(self, key: str):
        value = self._lookup(key)
        if value is None:
            raise KeyError(f"{key!r} is not in group {self.name!r}")
        if isinstance(value, _Broken):
            raise value.fail(self.path)
        return value

    def get(self, key: str, default=None):
        return default if self._lookup(key) is None else self[key]

    def __contains__(self, key: str) -> bool:
        return self._lookup(key) is not None

    def keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def dataset_attrs(self, key: str) -> Attrs:
        """The attributes of dataset ``key`` (a member of this group), as ``h5py``'s ``.attrs``."""
        if not isinstance(self[key], np.ndarray):
            raise KeyError(f"{key!r} in group {self.name!r} is not a dataset")
        return self._dataset_attrs.get(key, Attrs())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def build_tree(index: dict, load, path, label: str) -> Group:
    """Builds the :class:`Group` tree from the child's index; ``load(k)`` returns array ``k``.

    Raises:
        OpenError: h5py could not open the file.
        FileFormatError: the walk ended early (too many objects) or refused the file.
    """
    if "open_error" in index:
        raise OpenError(": ".join(index["open_error"]))
    if "error" in index:
        raise _fail(path, f"reading {label} failed ({': '.join(index['error'])}).")
    if "refused" in index:
        where = "" if label == "the file" else f" ({label})"
        raise _fail(path, f"{index['refused']}{where} Lamina reads only data stored in the file.")

    def value(kind, name, entry):
        if "skipped" in entry:  # outside the groups the loader asked for: checked, not read
            why = "Lamina did not read it: it is not among the weights this model loads"
            return _Broken(kind, name, ["NotRead", why])
        if "error" in entry or ("none" in entry and kind == "dataset"):
            return _Broken(kind, name, entry.get("error", ["TypeError", "it holds no data"]))
        if "a" in entry:
            arr = load(int(entry["a"]))
            return arr[()] if arr.ndim == 0 and kind == "attribute" else arr
        return entry.get("s")  # a string, or None for an empty attribute (h5py's Empty)

    def group(node, name, root):
        if "error" in node:  # its attribute or link list is unreadable: damaged as a whole
            raise _Broken("group", name, node["error"]).fail(path)
        out = Group(name, path, root)
        dict.update(out.attrs, {k: value("attribute", k, v) for k, v in node["attrs"].items()})
        for k, entry in node["items"].items():
            child = f"{name.rstrip('/')}/{k}"
            if "group" in entry:
                out._items[k] = group(entry["group"], child, out._root)
            else:
                entry = entry.get("dataset", entry)
                out._items[k] = value("dataset", child, entry)
                if entry.get("attrs"):
                    attrs = Attrs({n: value("attribute", n, v) for n, v in entry["attrs"].items()})
                    attrs.path = path
                    out._dataset_attrs[k] = attrs
        return out

    return group(index["root"], "/", None)


def merge(parts: list[Group], path, label: str = "the shards") -> Group:
    """One tree holding the groups and datasets of ``parts`` (the shards of one weights file).

    A group present in several parts is merged; a dataset written by two parts is an error (a
    shard map that points two files at one weight).

    >>> a = Group("/", "f.json"); a._items["vars"] = Group("/vars", "f.json", a)
    >>> b = Group("/", "f.json"); b._items["vars"] = Group("/vars", "f.json", b)
    >>> b["vars"]._items["0"] = np.zeros(2)
    >>> sorted(merge([a, b], "f.json")["vars"].keys())
    ['0']
    """
    root = Group("/", path)

    def into(dst: Group, src: Group) -> None:
        dst.attrs.update(dict.items(src.attrs))
        for key, value in src._items.items():
            have = dst._items.get(key)
            if isinstance(value, Group):
                if have is None:
                    have = dst._items[key] = Group(value.name, path, root)
                if not isinstance(have, Group):
                    raise _fail(path, f"{value.name!r} is both a dataset and a group in {label}.")
                into(have, value)
            elif have is not None:
                raise _fail(path, f"{dst.name.rstrip('/')}/{key} is written by two of {label}.")
            else:
                dst._items[key] = value
                if key in src._dataset_attrs:
                    dst._dataset_attrs[key] = src._dataset_attrs[key]

    for part in parts:
        into(root, part)
    return root
