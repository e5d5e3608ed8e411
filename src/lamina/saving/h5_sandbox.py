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

What a read materialises is bounded by the file's real size, not by what it declares: all the
data, attributes and strings read come to at most 100 times the file's size (64 MiB at least,
the weight budget at most: :func:`lamina.saving.h5_bounds.read_bound`), variable-length strings
are read in bounded blocks, and the child runs under a memory limit tied to that bound.
A loader that knows the groups it needs (a model's weights) passes them: in a Keras 3 weights
file, datasets elsewhere are checked but never read.

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
# Puts the parent's h5py/NumPy folders first on sys.path (``-I`` drops PYTHONPATH and the user
# site, where they may live), then runs this file as the child.
_BOOT = (
    "import json, runpy, sys; sys.path[:0] = json.loads(sys.argv[1]); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


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


h5_walk = _sibling("h5_walk")  # the walk itself: file -> index
h5_bounds = h5_walk.h5_bounds  # one copy in the child, which loads them by file path
# The walk's bounds (h5_walk): the weight budget's default, and the links and levels walked
# (read from here at each read, so a test or an embedder may lower them).
MAX_BYTES = h5_walk.MAX_BYTES
MAX_OBJECTS = h5_walk.MAX_OBJECTS
MAX_DEPTH = h5_walk.MAX_DEPTH


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


# What is refused before a read, and the bounded reads, live in h5_bounds (names kept here).
_Refused = h5_bounds.Refused
ALLOWED_FILTERS = h5_bounds.ALLOWED_FILTERS
MAX_EXPANSION = h5_bounds.MAX_EXPANSION
audit_dataset = h5_bounds.audit_dataset
_has_reference = h5_bounds.has_reference
_Limit = h5_walk._Limit


# ------------------------------------------------------------------ child side: file -> index
def collect(source, store, max_bytes: int = MAX_BYTES, groups=None, file_bytes=None) -> dict:
    """Reads the HDF5 file ``source`` into a JSON-able index (:func:`h5_walk.collect`), under
    this module's ``MAX_OBJECTS`` and ``MAX_DEPTH``."""
    return h5_walk.collect(
        source, store, max_bytes, groups, file_bytes, max_objects=MAX_OBJECTS, max_depth=MAX_DEPTH
    )


def _child_main(source: str, out: str) -> None:
    """The child: reads ``source``, writes ``out/a<k>.npy`` and then ``out/index.json``.

    ``out/request.json``, when the parent wrote one, gives the groups to read and the timeout.
    """
    keys = itertools.count()
    request = {}
    if os.path.exists(os.path.join(out, "request.json")):
        with open(os.path.join(out, "request.json")) as f:
            request = json.load(f)
    budget, file_bytes = weight_budget(), os.path.getsize(source)
    memory = h5_bounds.MEMORY_HEADROOM + 2 * h5_bounds.read_bound(file_bytes, budget)[0]
    h5_bounds.limit_resources(memory, float(request.get("timeout", DEFAULT_TIMEOUT)))

    def store(arr):
        k = next(keys)
        np.save(os.path.join(out, f"a{k}.npy"), arr, allow_pickle=False)
        return k

    index = collect(source, store, budget, request.get("groups"), file_bytes)
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
    # LAMINA_H5_PARENT lets the child notice a parent that died before it could ask the kernel
    # to kill it along with its parent (h5_bounds.die_with_parent).
    proc = subprocess.Popen(
        _child_argv(source, out),
        env={**os.environ, "HDF5_PLUGIN_PRELOAD": "::", "LAMINA_H5_PARENT": str(os.getpid())},
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


def read_file(filename, path=None, label: str = "the file", data: bytes | None = None,
              groups=None):  # fmt: skip
    """Reads a whole HDF5 file (in the sandbox unless ``LAMINA_H5_SANDBOX=0``).

    Args:
        filename: the HDF5 file (ignored when ``data`` is given).
        path: the name shown in error messages (default ``filename``).
        label: what is read, for messages: "reading {label} took longer than ...".
        data: the file's bytes, when it is held in memory.
        groups: the groups a loader will take datasets from (a model's weights), or None for
            all; applies to Keras 3 weights files only (see :func:`collect`).

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
            store = lambda a: arrays.append(a) or len(arrays) - 1  # noqa: E731
            index = collect(filename, store, budget, groups)
            return _tree(index, arrays.__getitem__, path, label)
        limit = timeout_for(os.path.getsize(filename))
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        with open(os.path.join(out, "request.json"), "w") as f:
            json.dump({"groups": None if groups is None else list(groups), "timeout": limit}, f)
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
            if "MemoryError" in last:
                raise fail(path, f"reading {label} failed ({h5_bounds.MEMORY_MESSAGE}).")
            raise fail(path, f"reading {label} failed in the HDF5 reader (exit {code}: {last}).")
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        # Loaded eagerly (the folder goes on return), never unpickled: plain arrays only.
        return _tree(index, lambda k: np.load(f"{out}/a{k}.npy", allow_pickle=False), path, label)


if __name__ == "__main__":
    _parent = os.environ.get("LAMINA_H5_PARENT", "")
    h5_bounds.die_with_parent(int(_parent) if _parent.isdigit() else None)
    _child_main(*sys.argv[1:3])
