"""Reads untrusted HDF5 files in a child process, so a damaged file cannot hang or crash Lamina.

Some damaged HDF5 files make libhdf5 loop forever (h5py holds the GIL: no signal or thread can
interrupt it) or crash.  :func:`read_file` reads the whole file in a fresh ``python -I`` child
that imports only h5py and NumPy, under a timeout, and returns a :class:`Group` tree of NumPy
data that the loaders walk like a read-only ``h5py.File``.  The child writes one ``.npy`` per
array and a JSON index into a private temporary folder; the parent loads them with
``allow_pickle=False``.  Soft and external links are not followed (an external link would make
the reader open another file of the machine).

``LAMINA_H5_TIMEOUT`` sets the seconds a read may take (default 60, plus 1 s per 32 MiB);
``LAMINA_H5_SANDBOX=0`` reads in this process with the same code (debugging; no protection).
This file is also the child's script: its top level imports only the standard library and NumPy.

Example:

>>> import os, tempfile, h5py
>>> from lamina.saving import h5_sandbox
>>> path = os.path.join(tempfile.mkdtemp(), "w.h5")
>>> with h5py.File(path, "w") as f:
...     f.attrs["note"] = "hi"
...     _ = f.create_dataset("layers/dense/vars/0", data=[1.0, 2.0])
>>> tree = h5_sandbox.read_file(path)
>>> tree.attrs["note"], tree["layers/dense/vars/0"].tolist()
('hi', [1.0, 2.0])
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

DEFAULT_TIMEOUT = 60.0
BYTES_PER_SECOND = 32 << 20  # a big file reads slowly, not forever: 1 s more per 32 MiB
MAX_BYTES = 8 << 30  # dataset bytes read in all (a damaged shape can declare terabytes)
MAX_OBJECTS = 100_000  # a hard-link cycle would otherwise expand without end
MAX_DEPTH = 64
# Puts the parent's h5py/NumPy folders first on sys.path (``-I`` drops PYTHONPATH and the user
# site, where they may live), then runs this file as the child.
_BOOT = (
    "import json, runpy, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


class OpenError(OSError):
    """h5py cannot open the file at all; callers word it as "not a readable HDF5 file"."""


class _Limit(Exception):
    """Too many objects or nesting levels: ends the whole walk."""


# ------------------------------------------------------------------ child side: file -> index
def _error(e: BaseException) -> dict:
    return {"error": [type(e).__name__, str(e)[:500]]}


def _entry(value, store) -> dict:
    """An attribute's or dataset's value as an index entry; arrays go to ``store``."""
    if isinstance(value, str):
        return {"s": value}
    if type(value).__name__ == "Empty":  # h5py.Empty: a null dataspace
        return {"none": True}
    arr = np.asarray(value)
    if arr.dtype == object:  # variable-length strings; other objects have no pickle-free form
        kinds = {type(x) for x in arr.flat}
        if not (kinds <= {str} or kinds <= {bytes}):
            raise TypeError(f"unsupported variable-length data {sorted(map(str, kinds))}")
        arr = arr.astype(str if str in kinds else bytes)
    if arr.dtype.metadata and arr.dtype.names is None:  # h5py's string tags: .npy can't keep them
        arr = arr.astype(arr.dtype.str)
    return {"a": store(arr)}


def collect(source, store, max_bytes: int = MAX_BYTES) -> dict:
    """Reads the whole HDF5 file ``source`` into a JSON-able index; ``store(array) -> int``.

    Damage is recorded, not raised: an unreadable item becomes ``{"error": [type, message]}``,
    so the parent fails only when a loader needs that item (as lazy h5py reads did).
    """
    import h5py  # not at the top: the parent imports this module without needing h5py

    used = {"objects": 0, "bytes": 0}

    def guard(fn, *args):
        try:
            return fn(*args)
        except _Limit:
            raise
        except Exception as e:  # noqa: BLE001 - h5py reports damage with any exception type
            return _error(e)

    def dataset(ds):
        nbytes = int(np.prod(ds.shape or (), dtype=np.float64) * ds.dtype.itemsize)
        if used["bytes"] + nbytes > max_bytes:
            raise MemoryError(f"it declares {nbytes} bytes, over the {max_bytes}-byte limit")
        used["bytes"] += nbytes
        return _entry(ds[()], store)

    def item(g, name, depth):
        used["objects"] += 1
        if used["objects"] > MAX_OBJECTS or depth > MAX_DEPTH:
            raise _Limit(f"over {MAX_OBJECTS} objects or {MAX_DEPTH} levels of groups")
        if not isinstance(g.get(name, getlink=True), h5py.HardLink):
            return None  # a soft or external link: not followed
        obj = g[name]
        if isinstance(obj, h5py.Group):
            return {"group": group(obj, depth + 1)}
        return {"dataset": guard(dataset, obj)} if isinstance(obj, h5py.Dataset) else None

    def group(g, depth):
        node = {"attrs": {}, "items": {}}
        try:  # a group whose attribute or link list is unreadable is damaged as a whole
            for name in g.attrs:
                node["attrs"][name] = guard(lambda n: _entry(g.attrs[n], store), name)
            names = list(g)
        except Exception as e:  # noqa: BLE001
            return {**node, **_error(e)}
        for name in names:
            entry = guard(item, g, name, depth)
            if entry is not None:
                node["items"][name] = entry
        return node

    try:
        f = h5py.File(source, "r")
    except Exception as e:  # noqa: BLE001
        return {"open_error": _error(e)["error"]}
    try:
        return {"root": group(f, 0)}
    except _Limit as e:
        return {"error": ["ValueError", str(e)]}
    finally:
        try:
            f.close()
        except Exception:  # noqa: BLE001 - closing a damaged file may fail; all is read
            pass


def _child_main(source: str, out: str) -> None:
    """The child: reads ``source``, writes ``out/a<k>.npy`` and then ``out/index.json``."""
    keys = itertools.count()

    def store(arr):
        k = next(keys)
        np.save(os.path.join(out, f"a{k}.npy"), arr, allow_pickle=False)
        return k

    index = collect(source, store)
    with open(os.path.join(out, "index.part"), "w") as f:
        json.dump(index, f)
    os.replace(os.path.join(out, "index.part"), os.path.join(out, "index.json"))


# ------------------------------------------------------------------ parent side: index -> tree
def _fail(path, message):
    # Imported here: this file is also the child's script, which must not import Lamina.
    from lamina.saving.safety import fail

    return fail(path, message)


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
        self.attrs, self._items = Attrs(), {}
        self.attrs.path = path

    def _lookup(self, key: str):
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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _tree(index: dict, load, path, label: str) -> Group:
    """Builds the :class:`Group` tree from an index; ``load(k)`` returns stored array ``k``."""
    if "open_error" in index:
        raise OpenError(": ".join(index["open_error"]))
    if "error" in index:
        raise _fail(path, f"reading {label} failed ({': '.join(index['error'])}).")

    def value(kind, name, entry):
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
                out._items[k] = value("dataset", child, entry.get("dataset", entry))
        return out

    return group(index["root"], "/", None)


# ------------------------------------------------------------------ the sandbox
def timeout_for(nbytes: int) -> float:
    """Seconds a read of ``nbytes`` may take: ``LAMINA_H5_TIMEOUT`` (default 60) plus size."""
    raw = os.environ.get("LAMINA_H5_TIMEOUT", "").strip()
    try:
        base = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(f"LAMINA_H5_TIMEOUT must be a number of seconds, not {raw!r}.") from None
    return base + nbytes / BYTES_PER_SECOND


def _child_argv(source: str, out: str) -> list[str]:
    paths = {os.path.dirname(os.path.dirname(np.__file__))}
    spec = importlib.util.find_spec("h5py")  # found without importing h5py in the parent
    if spec is not None and spec.origin:
        paths.add(os.path.dirname(os.path.dirname(spec.origin)))
    boot = [sys.executable, "-I", "-c", _BOOT, json.dumps(sorted(paths))]
    return [*boot, os.path.abspath(__file__), source, out]


def _run_child(source: str, out: str, timeout: float) -> tuple[int, str]:
    """Runs the child on ``source``; returns (exit code, stderr) or raises ``TimeoutExpired``."""
    proc = subprocess.Popen(
        _child_argv(source, out),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:  # timed out or interrupted: never leave a child spinning
            proc.kill()
            proc.communicate()
    return proc.returncode, err.decode("utf-8", "replace")


def read_file(filename, path=None, label: str = "the file", data: bytes | None = None) -> Group:
    """Reads a whole HDF5 file (in the sandbox unless ``LAMINA_H5_SANDBOX=0``).

    Args:
        filename: the HDF5 file (ignored when ``data`` is given).
        path: the name shown in error messages (default ``filename``).
        label: what is read, for messages: "reading {label} took longer than ...".
        data: the file's bytes, when it is held in memory (a ``.keras`` archive's weights).

    Raises:
        OpenError: h5py cannot open it (not HDF5, or a damaged superblock).
        FileFormatError: the read timed out or crashed, or the file has too many objects.
    """
    path = os.fspath(filename if path is None else path)
    with tempfile.TemporaryDirectory(prefix="lamina_h5_") as tmp:  # private: mode 0700
        if data is not None:
            filename = os.path.join(tmp, "input.h5")
            with open(filename, "wb") as f:
                f.write(data)
        filename = os.fspath(filename)
        off = os.environ.get("LAMINA_H5_SANDBOX", "").strip().lower() in ("0", "false", "off")
        if off or not sys.executable:  # asked, or embedded Python: no interpreter to start
            arrays = []
            index = collect(filename, lambda a: arrays.append(a) or len(arrays) - 1)
            return _tree(index, arrays.__getitem__, path, label)
        limit = timeout_for(os.path.getsize(filename))
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        try:
            code, err = _run_child(filename, out, limit)
        except subprocess.TimeoutExpired:
            raise _fail(
                path,
                f"reading {label} took longer than {limit:.3g} s; it is probably corrupt or "
                "truncated (set LAMINA_H5_TIMEOUT to allow more seconds for a huge file).",
            ) from None
        if code < 0:
            sig = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            raise _fail(path, f"the HDF5 library crashed ({sig}) reading {label}; it is corrupt.")
        if code != 0 or not os.path.exists(os.path.join(out, "index.json")):
            last = (err.strip().splitlines() or ["no message"])[-1]
            raise _fail(path, f"reading {label} failed in the HDF5 reader (exit {code}: {last}).")
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        # Loaded eagerly (the folder goes on return), never unpickled: plain arrays only.
        return _tree(index, lambda k: np.load(f"{out}/a{k}.npy", allow_pickle=False), path, label)


if __name__ == "__main__":
    _child_main(*sys.argv[1:3])
