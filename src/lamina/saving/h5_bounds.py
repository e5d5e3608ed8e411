"""Checks and bounds of the HDF5 sandbox child (standard library and NumPy only).

:func:`audit_dataset` refuses, from a dataset's header alone, data that is not plainly inside
the file (see :mod:`lamina.saving.h5_sandbox`).  The rest bounds what a read materialises.

A crafted HDF5 file can make a small read materialise far more than the file holds: datasets
never written (their fill value is materialised), hard links reading the same data again, and
variable-length strings: every element of a variable-length string dataset may point at the same large global-heap string
(20,000 elements and one 1 MiB string in a 1.7 MB file: 20 GB), and NumPy's fixed-width string
arrays multiply that again (the longest string times the element count, four bytes a character).
So the child (:mod:`lamina.saving.h5_sandbox`):

* charges everything it materialises to one bound, :func:`read_bound`, set by the file's real
  size rather than by what the file declares;
* reads variable-length strings in blocks that cannot overrun the reader's budget whatever the
  file claims (an element is at most the file's size: its bytes are stored once, in the file),
  charging every byte to that budget before the next block is read;
* refuses other variable-length data (sequences, records holding strings) before reading it:
  no loader needs it, and its size cannot be known without reading it;
* charges the fixed-width size of a string array before converting it;
* runs under an address-space limit tied to that budget, so what cannot be counted beforehand
  (an attribute is read whole) ends as a ``MemoryError``, reported as a clean error.

This module is loaded by file path in the child, which must not import Lamina's package.

>>> import numpy as np
>>> charged = []
>>> to_entry(np.array(["ab", "c"], dtype=object), lambda a: 7, lambda n, w: charged.append(n))
{'a': 7}
>>> charged  # two elements, two characters wide, four bytes a character
[16]
"""

from __future__ import annotations

import os
import sys

import numpy as np

#: HDF5's standard filters (h5py writes these); any other is a plugin, loaded as code on read.
ALLOWED_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 6: "scaleoffset"}
ALLOWED_FILTERS[32000] = "lzf"  # h5py's own filter, compiled into h5py
#: A dataset declaring more than this many times its stored bytes (and over 64 MiB) is a bomb.
MAX_EXPANSION = 1000
#: A read may materialise at most this many times the file's size in all (data, attributes,
#: strings).  Keras and Lamina never compress datasets, so a real file holds about what it
#: declares, and gzip-compressed weights stay far below 100 times; unwritten (fill-value)
#: datasets, repeated string references and hard links to the same data go beyond it.
FILE_EXPANSION = 100
#: The bound is never below this, so small real files always load.
MIN_READ_BYTES = 64 << 20
#: The child's address space may grow by this plus twice the bound (the data read so far, then
#: one item's conversion): what cannot be counted before a read (an attribute is read whole)
#: still ends as a MemoryError.
MEMORY_HEADROOM = 1 << 30
MEMORY_MESSAGE = (
    "reading it needs more memory than the HDF5 reader's limit, far more than the file "
    "holds; refusing a possible memory bomb"
)


class Refused(Exception):
    """A feature that would read outside the file (or run a plugin), or a read over its
    bound: ends the whole walk."""


def read_bound(file_bytes: int, budget: int) -> tuple[int, str]:
    """``(bytes, why)``: what a read of a ``file_bytes``-byte file may materialise in all,
    :data:`FILE_EXPANSION` times its size (at least :data:`MIN_READ_BYTES`), and at most the
    weight ``budget`` (if above :data:`MIN_READ_BYTES`); ``why`` words the bound for messages.
    """
    by_file = max(MIN_READ_BYTES, FILE_EXPANSION * int(file_bytes))
    bound = min(by_file, max(int(budget), MIN_READ_BYTES))
    if bound == by_file:
        return (
            bound,
            f"{FILE_EXPANSION} times the file's {file_bytes} bytes, at least {MIN_READ_BYTES}",
        )
    return bound, "set LAMINA_MAX_WEIGHT_BYTES to allow more"


def keras3_layout(f) -> bool:
    """Whether the open file is a Keras 3 weights file (as ``weights_h5.is_keras3_layout``)."""
    try:
        return any(k in f for k in ("layers", "vars", "_layer_checkpoint_dependencies"))
    except Exception:  # noqa: BLE001 - a damaged root: read all, as before
        return False


# ------------------------------------------------------------------ before any read
def has_reference(h5py, dtype) -> bool:
    """Whether ``dtype`` holds object or region references, at any depth."""
    if h5py.check_dtype(ref=dtype) is not None:
        return True
    if dtype.fields:
        return any(has_reference(h5py, f[0]) for f in dtype.fields.values())
    base = h5py.check_dtype(vlen=dtype)
    if base is not None and not isinstance(base, type):
        return has_reference(h5py, np.dtype(base))
    return dtype.subdtype is not None and has_reference(h5py, dtype.subdtype[0])


def audit_dataset(ds, name: str, max_bytes: int) -> int:
    """Refuses a dataset whose bytes are not plainly inside the file; returns its declared bytes.

    Reads only the dataset's header (its creation properties and type), never its data.

    Raises:
        Refused: external storage, a virtual dataset, a layout other than compact, contiguous
            or chunked, a non-standard filter, references, or a declared size over
            ``max_bytes`` (or a shape bomb: declaring over 1000 times its stored bytes).
    """
    import h5py
    from h5py import h5d

    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        raise Refused(
            f"Not allowed: H5 file with virtual Dataset {name!r} (its data would be read from "
            "other files)."
        )
    n_external = dcpl.get_external_count()
    if n_external:
        where = [dcpl.get_external(i)[0] for i in range(n_external)]
        where = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in where]
        raise Refused(
            f"Not allowed: H5 file with external Dataset {name!r} (its bytes would be read from "
            f"{where}, outside the file)."
        )
    if layout not in (h5d.COMPACT, h5d.CONTIGUOUS, h5d.CHUNKED):  # compact: in the header
        raise Refused(f"Not allowed: H5 dataset {name!r} with storage layout {layout}.")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise Refused(
                f"Not allowed: H5 dataset {name!r} uses filter {code}, which is not one of "
                f"HDF5's standard filters ({', '.join(ALLOWED_FILTERS.values())}); a plugin "
                "filter is code loaded from the machine."
            )
    if has_reference(h5py, ds.dtype):
        raise Refused(
            f"Not allowed: H5 dataset {name!r} holds object or region references, not numbers."
        )
    nbytes = int(np.prod(ds.shape or (), dtype=np.float64) * ds.dtype.itemsize)
    if nbytes > max_bytes:
        raise Refused(
            f"H5 dataset {name!r} declares {nbytes} bytes, over the {max_bytes}-byte budget "
            "(set LAMINA_MAX_WEIGHT_BYTES to allow more)."
        )
    stored = ds.id.get_storage_size()
    if nbytes > (64 << 20) and nbytes > MAX_EXPANSION * stored:
        raise Refused(
            f"Not allowed: H5 dataset {name!r} declares {nbytes} bytes but stores only "
            f"{stored}; refusing a possible decompression or shape bomb."
        )
    return nbytes


# ------------------------------------------------------------------ bounded reads


def has_objects(dtype) -> bool:
    """Whether ``dtype`` holds variable-length data (NumPy objects) at any depth."""
    if dtype.kind == "O":
        return True
    if dtype.fields:
        return any(has_objects(f[0]) for f in dtype.fields.values())
    return dtype.subdtype is not None and has_objects(dtype.subdtype[0])


def _is_vlen_string(dtype) -> bool:
    import h5py

    info = h5py.check_string_dtype(dtype)
    return dtype.kind == "O" and info is not None and info.length is None


def read_dataset(ds, charge, file_bytes: int, room: int):
    """``ds[()]``, with variable-length strings read in bounded blocks and charged as they come.

    Args:
        ds: the ``h5py.Dataset`` (already audited: its bytes are inside the file).
        charge: ``charge(nbytes, what)`` counts materialised bytes; it raises when over budget.
        file_bytes: the file's size, an upper bound of one string's length.
        room: the bytes the budget has left: a block of strings never materialises more, even
            if each of its elements were as long as the file.

    Raises:
        TypeError: variable-length data other than strings, refused before any of it is read.
    """
    if not has_objects(ds.dtype):
        return ds[()]
    if not _is_vlen_string(ds.dtype):
        raise TypeError(
            f"unsupported variable-length data (dtype {ds.dtype}); a weight must be numbers"
        )
    if ds.shape is None:  # a null dataspace: nothing stored
        return ds[()]
    if ds.shape == ():
        value = ds[()]  # one string: at most the file's size
        charge(len(value), "a string")
        return value
    per_block = max(1, int(room) // max(int(file_bytes), 1))
    out = np.empty(ds.shape, dtype=object)
    for index in _blocks(ds.shape, per_block):
        part = ds[index]
        flat = part.reshape(-1) if isinstance(part, np.ndarray) else [part]
        charge(sum(len(x) for x in flat) + 64 * len(flat), "strings")  # + object overhead
        out[index] = part
    return out


def _blocks(shape, per_block):
    """Index tuples covering ``shape`` in row-major blocks of at most ``per_block`` elements."""
    if not shape:
        yield ()
        return
    inner = int(np.prod(shape[1:], dtype=np.int64))
    if inner <= per_block:
        step = max(1, per_block // max(inner, 1))
        for i in range(0, shape[0], step):
            yield (slice(i, min(i + step, shape[0])),)
        return
    for i in range(shape[0]):
        for rest in _blocks(shape[1:], per_block):
            yield (i, *rest)


def read_attribute(attrs, name, charge):
    """``attrs[name]``, its materialised size charged (an attribute can only be read whole: the
    child's memory limit bounds that read, :func:`limit_resources`)."""
    value = attrs[name]
    if isinstance(value, str | bytes):
        charge(len(value), f"attribute {name!r}")
    elif isinstance(value, np.ndarray) and value.dtype == object:
        charge(sum(len(x) if isinstance(x, str | bytes) else 64 for x in value.flat), "strings")
    elif hasattr(value, "nbytes"):
        charge(value.nbytes, f"attribute {name!r}")
    return value


def to_entry(value, store, charge) -> dict:
    """An attribute's or dataset's value as an index entry; arrays go to ``store``.

    A string array is converted to NumPy's fixed width (``.npy`` keeps no objects); that size
    is charged first, since one long string makes every element that long.
    """
    if isinstance(value, str):
        return {"s": value}
    if type(value).__name__ == "Empty":  # h5py.Empty: a null dataspace
        return {"none": True}
    arr = np.asarray(value)
    if arr.dtype == object:  # variable-length strings; other objects have no pickle-free form
        kinds = {type(x) for x in arr.flat}
        if not (kinds <= {str} or kinds <= {bytes}):
            raise TypeError(f"unsupported variable-length data {sorted(map(str, kinds))}")
        width = max((len(x) for x in arr.flat), default=0) * (4 if str in kinds else 1)
        charge(arr.size * max(width, 1), "a string array")
        arr = arr.astype(str if str in kinds else bytes)
    if arr.dtype.metadata and arr.dtype.names is None:  # h5py's string tags: .npy can't keep them
        arr = arr.astype(arr.dtype.str)
    return {"a": store(arr)}


# ------------------------------------------------------------------ the child's own limits
def _vm_size() -> int:
    """This process's address-space size in bytes (Linux), else 0."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return 0


def limit_resources(memory_bytes: int, cpu_seconds: float) -> None:
    """Caps the child (best effort, POSIX): ``memory_bytes`` more address space than it uses
    now, ``cpu_seconds`` more CPU time (a fallback if its parent died and cannot time it out),
    and no core file (a killed multi-gigabyte child would write one)."""
    try:
        import resource
    except ImportError:  # Windows: the parent's timeout is the only bound
        return
    vm = _vm_size()  # Linux; elsewhere no address-space limit (macOS does not enforce one)
    wanted = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_AS, vm + int(memory_bytes) if vm else None),
    ]
    used = resource.getrusage(resource.RUSAGE_SELF)
    wanted.append((resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + cpu_seconds) + 5))
    for kind, soft in wanted:
        if soft is None:
            continue
        try:
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            # The soft limit only: a child reused for the next file may raise it again.
            resource.setrlimit(kind, (soft, hard))
        except (OSError, ValueError):
            pass


def die_with_parent(parent_pid: int | None) -> None:
    """Linux: asks the kernel to kill this child when its parent dies (a SIGKILLed parent
    cannot stop it), and exits now if the parent is already gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError, ValueError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # died before prctl took effect
        os._exit(1)
