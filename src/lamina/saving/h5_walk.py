"""The walk of an untrusted HDF5 file into a JSON-able index of NumPy arrays.

This is what the sandbox's child runs (:mod:`lamina.saving.h5_sandbox`): it opens the file
with h5py, audits every dataset before reading a byte of it (:mod:`lamina.saving.h5_bounds`),
counts every byte it materialises against one bound, and records damage instead of raising it,
so the parent fails only when a loader needs the damaged item.  Like ``h5_sandbox``, its top
level imports only the standard library (the child loads it by file path, without Lamina).

Example:

>>> import os, tempfile, h5py
>>> from lamina.saving import h5_walk
>>> path = os.path.join(tempfile.mkdtemp(), "w.h5")
>>> with h5py.File(path, "w") as f:
...     _ = f.create_dataset("d", data=[1.0, 2.0])
>>> arrays = []
>>> index = h5_walk.collect(path, lambda a: arrays.append(a) or len(arrays) - 1)
>>> sorted(index["root"]["items"]), arrays[0].tolist()
(['d'], [1.0, 2.0])
"""

from __future__ import annotations

import importlib.util
import os

# Dataset bytes read in all (default of LAMINA_MAX_WEIGHT_BYTES): the largest file Lamina opens
# (safety.MAX_FILE_BYTES), so a real file always fits and a shape bomb cannot go beyond it.
MAX_BYTES = 8 << 30
MAX_OBJECTS = 100_000  # a hard-link cycle would otherwise expand without end
MAX_DEPTH = 64


def _sibling(name: str):
    """The module ``name`` next to this file: imported normally in Lamina, loaded by file path
    in the child (which must not import Lamina's package)."""
    if __name__.startswith("lamina."):
        return importlib.import_module(f"lamina.saving.{name}")
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        f"_lamina_{name}", os.path.join(here, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


h5_bounds = _sibling("h5_bounds")
_Refused = h5_bounds.Refused
audit_dataset = h5_bounds.audit_dataset


class _Limit(Exception):
    """Too many objects or nesting levels: ends the whole walk."""


def _error(e: BaseException) -> dict:
    return {"error": [type(e).__name__, str(e)[:500]]}


def _entry(value, store, charge=lambda nbytes, what: None) -> dict:
    """An attribute's or dataset's value as an index entry (:func:`h5_bounds.to_entry`)."""
    return h5_bounds.to_entry(value, store, charge)


def collect(source, store, max_bytes: int = MAX_BYTES, groups=None, file_bytes=None,
            max_objects: int = MAX_OBJECTS, max_depth: int = MAX_DEPTH) -> dict:  # fmt: skip
    """Reads the HDF5 file ``source`` into a JSON-able index; ``store(array) -> int``.

    Damage is recorded, not raised: an unreadable item becomes ``{"error": [type, message]}``,
    so the parent fails only when a loader needs that item (as lazy h5py reads did).  A refused
    feature (see :func:`audit_dataset`) or a read over its bound ends the walk: the index is
    ``{"refused": message}``; running out of the child's memory, ``{"error": [...]}``.

    Args:
        source: the file.
        store: saves one array and returns its key.
        max_bytes: the weight budget: the most dataset bytes read, as declared.
        groups: when given and the file is in Keras 3's weights layout, the only groups
            whose datasets are read; the other datasets are audited, then indexed as
            skipped, and so are all attributes (that layout's loader reads none).
        file_bytes: the file's size (default: measured); a read materialises at most
            :func:`h5_bounds.read_bound` of it.
        max_objects, max_depth: the most links walked and levels of groups (a hard-link
            cycle would otherwise expand without end).
    """
    import h5py  # not at the top: the parent imports this module without needing h5py

    file_bytes = os.path.getsize(source) if file_bytes is None else int(file_bytes)
    bound, why = h5_bounds.read_bound(file_bytes, max_bytes)
    used = {"objects": 0, "bytes": 0, "read": 0}
    sel = {"wanted": None}  # set once the file is open

    def spend(nbytes, where):
        used["read"] += int(nbytes)
        if used["read"] > bound:
            raise _Refused(
                f"reading it up to {where!r} would materialise {used['read']} bytes, over the "
                f"{bound}-byte bound ({why}); refusing a possible decompression or memory bomb."
            )

    def guard(fn, *args):
        try:
            return fn(*args)
        except (_Limit, _Refused, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - h5py reports damage with any exception type
            if "memory allocation failed" in str(e):  # libhdf5's MemoryError: end the walk
                raise MemoryError(str(e)) from None
            return _error(e)

    def attrs(obj, where, dataset=False):
        if sel["wanted"] is not None:  # a Keras 3 weights read: only a dataset's dtype tag
            return {  # (Keras marks its bfloat16 weights dtype="bfloat16")
                name: guard(attr, obj, name, f"{where}@{name}")
                if dataset and name == "dtype"
                else {"skipped": True}
                for name in obj.attrs
            }
        return {name: guard(attr, obj, name, f"{where}@{name}") for name in obj.attrs}

    def charge_to(where):
        return lambda nbytes, _what: spend(nbytes, where)

    def attr(obj, name, where):
        charge = charge_to(where)
        return _entry(h5_bounds.read_attribute(obj.attrs, name, charge), store, charge)

    def dataset(ds, name, wanted):
        nbytes = audit_dataset(ds, name, max_bytes)  # before any byte of it is read
        if not wanted:
            return {"skipped": True}  # no loader needs it: checked, never read
        if used["bytes"] + nbytes > max_bytes:
            raise _Refused(
                f"the datasets up to {name!r} declare {used['bytes'] + nbytes} bytes in all, "
                f"over the {max_bytes}-byte budget (set LAMINA_MAX_WEIGHT_BYTES to allow more)."
            )
        used["bytes"] += nbytes
        spend(nbytes, name)  # what the read allocates, whatever the file stores
        charge = charge_to(name)
        room = bound - used["read"]  # a block of strings never materialises more than this
        entry = _entry(h5_bounds.read_dataset(ds, charge, file_bytes, room), store, charge)
        if len(ds.attrs):
            entry["attrs"] = attrs(ds, name, dataset=True)
        return entry

    def item(g, name, depth, where):
        used["objects"] += 1
        if used["objects"] > max_objects or depth > max_depth:
            raise _Limit(f"over {max_objects} objects or {max_depth} levels of groups")
        link = g.get(name, getlink=True)
        full = f"{where}/{name}".lstrip("/")
        if isinstance(link, h5py.SoftLink):
            return None  # names a path in this same file; not followed (a cycle, a duplicate)
        if not isinstance(link, h5py.HardLink):
            target = f" -> {link.filename}:{link.path}" if hasattr(link, "filename") else ""
            raise _Refused(
                f"Not allowed: H5 file with {type(link).__name__} {full!r}{target} (it would "
                "open another file)."
            )
        obj = g[name]
        if isinstance(obj, h5py.Group):
            return {"group": group(obj, depth + 1, full)}
        if not isinstance(obj, h5py.Dataset):
            return None
        wanted = sel["wanted"] is None or where in sel["wanted"]
        return {"dataset": guard(dataset, obj, full, wanted)}

    def group(g, depth, where):
        node = {"attrs": {}, "items": {}}
        try:  # a group whose attribute or link list is unreadable is damaged as a whole
            node["attrs"] = attrs(g, where or "/")
            names = list(g)
        except (_Limit, _Refused, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001
            return {**node, **_error(e)}
        for name in names:
            entry = guard(item, g, name, depth, where)
            if entry is not None:
                node["items"][name] = entry
        return node

    try:
        f = h5py.File(source, "r")
    except Exception as e:  # noqa: BLE001
        return {"open_error": _error(e)["error"]}
    try:
        if groups is not None and h5_bounds.keras3_layout(f):
            sel["wanted"] = set(groups)
        return {"root": group(f, 0, "")}
    except _Limit as e:
        return {"error": ["ValueError", str(e)]}
    except _Refused as e:
        return {"refused": str(e)}
    except MemoryError:
        return {"error": ["MemoryError", h5_bounds.MEMORY_MESSAGE]}
    finally:
        try:
            f.close()
        except Exception:  # noqa: BLE001 - closing a damaged file may fail; all is read
            pass
