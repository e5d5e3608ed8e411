"""Reads untrusted HDF5 files in a child process, so a damaged file cannot hang or crash Lamina.

Some damaged HDF5 files make libhdf5 loop forever (h5py holds the GIL: no signal or thread can
interrupt it) or crash.  :func:`read_file` reads the whole file in a fresh ``python -I`` child
that imports only h5py and NumPy, under a timeout, and returns a :class:`Group` tree of NumPy
data that the loaders walk like a read-only ``h5py.File``.  The child writes one ``.npy`` per
array and a JSON index into a private temporary folder; the parent loads them with
``allow_pickle=False``.

Only data stored inside the file itself is read.  Before any byte of a dataset is read, the
reader refuses (the whole file, naming the item) external storage and virtual datasets (their
bytes come from any other file of the machine: ``/etc/passwd``, a FIFO that stalls the read),
filters other than HDF5's standard ones (a plugin filter is a shared library loaded on read),
object and region references, and a declared size over the budget (``LAMINA_MAX_WEIGHT_BYTES``,
see :func:`weight_budget`).  External links are refused too; soft links
(which can only name a path in the same file) are not followed.

``LAMINA_H5_TIMEOUT`` sets the seconds a read may take (default 60, plus 1 s per 32 MiB);
``LAMINA_H5_SANDBOX=0`` reads in this process with the same code (debugging; no protection
against a hang or crash, the same refusals).
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
# Dataset bytes read in all (default of LAMINA_MAX_WEIGHT_BYTES): the largest file Lamina opens
# (safety.MAX_FILE_BYTES), so a real file always fits and a shape bomb cannot go beyond it.
MAX_BYTES = 8 << 30
MAX_OBJECTS = 100_000  # a hard-link cycle would otherwise expand without end
MAX_DEPTH = 64
# Puts the parent's h5py/NumPy folders first on sys.path (``-I`` drops PYTHONPATH and the user
# site, where they may live), then runs this file as the child.
_BOOT = (
    "import json, runpy, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def weight_budget() -> int:
    """Bytes of weights a file may declare: ``LAMINA_MAX_WEIGHT_BYTES``, default 8 GiB.

    One budget for what a loaded file can make Lamina allocate: the datasets the HDF5 reader
    reads, and the weights a model config declares (checked before they are allocated).

    Raises:
        ValueError: the variable is set but not a positive number of bytes.
    """
    raw = os.environ.get("LAMINA_MAX_WEIGHT_BYTES", "").strip()
    if not raw:
        return MAX_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(
            f"LAMINA_MAX_WEIGHT_BYTES must be a positive number of bytes (e.g. 8e9), not {raw!r}."
        )
    return value


def __getattr__(name):
    """``h5_sandbox.Group`` / ``Attrs``: the tree classes, which live in ``h5_tree`` (this file
    is also the child's script and may not import Lamina at its top)."""
    if name in ("Group", "Attrs"):
        from lamina.saving import h5_tree

        return getattr(h5_tree, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class OpenError(OSError):
    """h5py cannot open the file at all; callers word it as "not a readable HDF5 file"."""


class _Limit(Exception):
    """Too many objects or nesting levels: ends the whole walk."""


class _Refused(Exception):
    """A feature that would read outside the file (or run a plugin): ends the whole walk."""


#: HDF5's standard filters (h5py writes these); any other is a plugin, loaded as code on read.
ALLOWED_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 6: "scaleoffset"}
ALLOWED_FILTERS[32000] = "lzf"  # h5py's own filter, compiled into h5py
#: A dataset declaring more than this many times its stored bytes (and over 64 MiB) is a bomb.
MAX_EXPANSION = 1000


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


def _has_reference(h5py, dtype) -> bool:
    """Whether ``dtype`` holds object or region references, at any depth."""
    if h5py.check_dtype(ref=dtype) is not None:
        return True
    if dtype.fields:
        return any(_has_reference(h5py, f[0]) for f in dtype.fields.values())
    base = h5py.check_dtype(vlen=dtype)
    if base is not None and not isinstance(base, type):
        return _has_reference(h5py, np.dtype(base))
    return dtype.subdtype is not None and _has_reference(h5py, dtype.subdtype[0])


def audit_dataset(ds, name: str, max_bytes: int = MAX_BYTES) -> int:
    """Refuses a dataset whose bytes are not plainly inside the file; returns its declared bytes.

    Reads only the dataset's header (its creation properties and type), never its data.

    Raises:
        _Refused: external storage, a virtual dataset, a layout other than compact, contiguous
            or chunked, a non-standard filter, references, or a declared size over
            ``max_bytes`` (or a shape bomb: declaring over 1000 times its stored bytes).
    """
    import h5py
    from h5py import h5d

    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        raise _Refused(
            f"Not allowed: H5 file with virtual Dataset {name!r} (its data would be read from "
            "other files)."
        )
    n_external = dcpl.get_external_count()
    if n_external:
        where = [dcpl.get_external(i)[0] for i in range(n_external)]
        where = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in where]
        raise _Refused(
            f"Not allowed: H5 file with external Dataset {name!r} (its bytes would be read from "
            f"{where}, outside the file)."
        )
    if layout not in (h5d.COMPACT, h5d.CONTIGUOUS, h5d.CHUNKED):  # compact: in the header
        raise _Refused(f"Not allowed: H5 dataset {name!r} with storage layout {layout}.")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise _Refused(
                f"Not allowed: H5 dataset {name!r} uses filter {code}, which is not one of "
                f"HDF5's standard filters ({', '.join(ALLOWED_FILTERS.values())}); a plugin "
                "filter is code loaded from the machine."
            )
    if _has_reference(h5py, ds.dtype):
        raise _Refused(
            f"Not allowed: H5 dataset {name!r} holds object or region references, not numbers."
        )
    nbytes = int(np.prod(ds.shape or (), dtype=np.float64) * ds.dtype.itemsize)
    if nbytes > max_bytes:
        raise _Refused(
            f"H5 dataset {name!r} declares {nbytes} bytes, over the {max_bytes}-byte budget "
            "(set LAMINA_MAX_WEIGHT_BYTES to allow more)."
        )
    stored = ds.id.get_storage_size()
    if nbytes > (64 << 20) and nbytes > MAX_EXPANSION * stored:
        raise _Refused(
            f"Not allowed: H5 dataset {name!r} declares {nbytes} bytes but stores only "
            f"{stored}; refusing a possible decompression or shape bomb."
        )
    return nbytes


def collect(source, store, max_bytes: int = MAX_BYTES) -> dict:
    """Reads the whole HDF5 file ``source`` into a JSON-able index; ``store(array) -> int``.

    Damage is recorded, not raised: an unreadable item becomes ``{"error": [type, message]}``,
    so the parent fails only when a loader needs that item (as lazy h5py reads did).  A refused
    feature (see :func:`audit_dataset`) ends the walk: the index is ``{"refused": message}``.
    """
    import h5py  # not at the top: the parent imports this module without needing h5py

    used = {"objects": 0, "bytes": 0}

    def guard(fn, *args):
        try:
            return fn(*args)
        except (_Limit, _Refused):
            raise
        except Exception as e:  # noqa: BLE001 - h5py reports damage with any exception type
            return _error(e)

    def dataset(ds, name):
        nbytes = audit_dataset(ds, name, max_bytes)  # before any byte of it is read
        if used["bytes"] + nbytes > max_bytes:
            raise _Refused(
                f"the datasets up to {name!r} declare {used['bytes'] + nbytes} bytes in all, "
                f"over the {max_bytes}-byte budget (set LAMINA_MAX_WEIGHT_BYTES to allow more)."
            )
        used["bytes"] += nbytes
        entry = _entry(ds[()], store)
        if len(ds.attrs):
            entry["attrs"] = {n: guard(lambda k: _entry(ds.attrs[k], store), n) for n in ds.attrs}
        return entry

    def item(g, name, depth):
        used["objects"] += 1
        if used["objects"] > MAX_OBJECTS or depth > MAX_DEPTH:
            raise _Limit(f"over {MAX_OBJECTS} objects or {MAX_DEPTH} levels of groups")
        link = g.get(name, getlink=True)
        full = f"{g.name.rstrip('/')}/{name}".lstrip("/")
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
            return {"group": group(obj, depth + 1)}
        return {"dataset": guard(dataset, obj, full)} if isinstance(obj, h5py.Dataset) else None

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
    except _Refused as e:
        return {"refused": str(e)}
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

    index = collect(source, store, weight_budget())
    with open(os.path.join(out, "index.part"), "w") as f:
        json.dump(index, f)
    os.replace(os.path.join(out, "index.part"), os.path.join(out, "index.json"))


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
    # HDF5_PLUGIN_PRELOAD="::" stops libhdf5 loading any filter plugin (defence in depth: the
    # reader refuses non-standard filters before reading anyway).
    proc = subprocess.Popen(
        _child_argv(source, out),
        env={**os.environ, "HDF5_PLUGIN_PRELOAD": "::"},
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


def read_file(filename, path=None, label: str = "the file", data: bytes | None = None):
    """Reads a whole HDF5 file (in the sandbox unless ``LAMINA_H5_SANDBOX=0``).

    Args:
        filename: the HDF5 file (ignored when ``data`` is given).
        path: the name shown in error messages (default ``filename``).
        label: what is read, for messages: "reading {label} took longer than ...".
        data: the file's bytes, when it is held in memory (a ``.keras`` archive's weights).

    Returns:
        The file as a :class:`lamina.saving.h5_tree.Group` tree.

    Raises:
        OpenError: h5py cannot open it (not HDF5, or a damaged superblock).
        FileFormatError: the read timed out or crashed, or the file has too many objects.
    """
    # Imported here: this file is also the child's script, which must not import Lamina.
    from lamina.saving.h5_tree import build_tree as _tree
    from lamina.saving.safety import fail

    path = os.fspath(filename if path is None else path)
    budget = weight_budget()  # a bad LAMINA_MAX_WEIGHT_BYTES fails here, not in the child
    with tempfile.TemporaryDirectory(prefix="lamina_h5_") as tmp:  # private: mode 0700
        if data is not None:
            filename = os.path.join(tmp, "input.h5")
            with open(filename, "wb") as f:
                f.write(data)
        filename = os.fspath(filename)
        off = os.environ.get("LAMINA_H5_SANDBOX", "").strip().lower() in ("0", "false", "off")
        if off or not sys.executable:  # asked, or embedded Python: no interpreter to start
            arrays = []
            index = collect(filename, lambda a: arrays.append(a) or len(arrays) - 1, budget)
            return _tree(index, arrays.__getitem__, path, label)
        limit = timeout_for(os.path.getsize(filename))
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        try:
            code, err = _run_child(filename, out, limit)
        except subprocess.TimeoutExpired:
            raise fail(
                path,
                f"reading {label} took longer than {limit:.3g} s; it is probably corrupt or "
                "truncated (set LAMINA_H5_TIMEOUT to allow more seconds for a huge file).",
            ) from None
        if code < 0:
            sig = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            raise fail(path, f"the HDF5 library crashed ({sig}) reading {label}; it is corrupt.")
        if code != 0 or not os.path.exists(os.path.join(out, "index.json")):
            last = (err.strip().splitlines() or ["no message"])[-1]
            raise fail(path, f"reading {label} failed in the HDF5 reader (exit {code}: {last}).")
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        # Loaded eagerly (the folder goes on return), never unpickled: plain arrays only.
        return _tree(index, lambda k: np.load(f"{out}/a{k}.npy", allow_pickle=False), path, label)


if __name__ == "__main__":
    _child_main(*sys.argv[1:3])
