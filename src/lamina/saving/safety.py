"""Safe file handling for saving and loading: atomic writes, format sniffing, archive checks.

Every error raised here is a ``ValueError`` whose message names the file, so a user with many
checkpoints knows which one is bad.  Nothing here unpickles or runs code from a file.

Example:

>>> import os, tempfile
>>> from lamina.saving import safety
>>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
>>> with safety.atomic_write(path) as tmp:
...     with open(tmp, "w") as f:
...         _ = f.write("hello")
>>> open(path).read()
'hello'
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import struct
import tempfile
import zipfile
import zlib

#: Largest file ``load_model``/``load_weights`` will open (bytes).
MAX_FILE_BYTES = 8 << 30
#: Largest uncompressed size of one member of a ``.keras`` archive (bytes).
MAX_MEMBER_BYTES = 8 << 30
#: Largest uncompressed size of ``config.json``/``metadata.json`` (bytes).
MAX_JSON_BYTES = 64 << 20
#: A member may expand at most this many times its compressed size (above 1 MiB).
MAX_EXPANSION = 100
#: Members a ``.keras`` archive may hold (Keras writes three, plus assets).
MAX_MEMBERS = 10_000
#: Largest central directory (the archive's list of members) parsed: 10,000 members with
#: names of up to about 1.6 KB each.
MAX_DIRECTORY_BYTES = 16 << 20
#: Bytes inflated at a time when a member is read.
CHUNK_BYTES = 1 << 20

#: Layer classes that carry Python code and are refused when ``safe_mode=True``.
UNSAFE_LAYER_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class FileFormatError(ValueError):
    """A model or weights file that cannot be read safely; the message names the file."""


def fail(path, message: str) -> FileFormatError:
    """Returns a :class:`FileFormatError` whose message starts with the file's name."""
    return FileFormatError(f"Cannot load {os.fspath(path)!r}: {message}")


@contextlib.contextmanager
def atomic_write(path, suffix: str = ".tmp"):
    """Yields a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary file lives in the same folder (so ``os.replace`` is a rename on one file
    system) and is fsynced first.  If the block raises, or the process dies, ``path`` keeps its
    old content; a leftover temporary file is named ``.<name>.<random>.tmp``.

    Args:
        path: the final file name.
        suffix: suffix of the temporary file.

    Yields:
        The temporary file's path, to be written by the caller.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=folder)
    os.close(fd)
    # mkstemp makes a private 0600 file; a saved model gets the usual 0666 & ~umask (as Keras).
    with contextlib.suppress(OSError):
        os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way to read it)
    os.umask(mask)
    return mask


def sniff(path) -> str:
    """Returns ``"zip"`` or ``"hdf5"`` from the file's first bytes (not its extension).

    Raises:
        FileFormatError: missing, empty, too large, or neither a zip nor an HDF5 file.
    """
    p = os.fspath(path)
    if os.path.isdir(p):
        raise fail(p, "it is a folder, not a .keras, .weights.h5 or .h5 file.")
    if not os.path.exists(p):
        raise fail(p, "no such file.")
    size = os.path.getsize(p)
    if size == 0:
        raise fail(p, "the file is empty (0 bytes); it was probably not written completely.")
    if size > MAX_FILE_BYTES:
        raise fail(p, f"the file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit.")
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head == HDF5_MAGIC:
        return "hdf5"
    raise fail(
        p,
        "it is neither a .keras (zip) archive nor an HDF5 (.h5) file (first bytes "
        f"{head!r}). The file may be corrupt, truncated or of another format.",
    )


def open_zip(path) -> zipfile.ZipFile:
    """Opens a ``.keras`` archive and checks every member name and size before any read.

    Raises:
        FileFormatError: not a valid zip (corrupt or truncated), a central directory too
            large to parse, a member name that is absolute or climbs out with ``..``, a name
            given twice, too many members, or members too large.
    """
    p = os.fspath(path)
    _check_directory(p)
    try:
        zf = zipfile.ZipFile(p, "r")
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise fail(
            p, f"not a valid .keras (zip) archive; it may be truncated or corrupt ({e})."
        ) from None
    try:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise fail(p, f"the archive has {len(infos)} members, over the {MAX_MEMBERS} limit.")
        # The expansion check below trusts each member's declared compressed size; honest
        # members' compressed bytes are distinct bytes of the file, so together they fit in it.
        stored, size = sum(info.compress_size for info in infos), os.path.getsize(p)
        if stored > size:
            raise fail(
                p,
                f"its directory declares {stored} compressed bytes of members, more than the "
                f"file's {size} bytes: the sizes are false (a crafted or corrupt archive).",
            )
        seen: set[str] = set()
        for info in infos:
            check_member_name(p, info.filename)
            if info.filename in seen:  # readers disagree on which copy counts (first or last)
                raise fail(
                    p,
                    f"the archive holds member {info.filename!r} more than once; a .keras "
                    "archive names each member once (a crafted or corrupt archive).",
                )
            seen.add(info.filename)
            if info.file_size > MAX_MEMBER_BYTES:
                raise fail(
                    p,
                    f"member {info.filename!r} declares {info.file_size} bytes, over the "
                    f"{MAX_MEMBER_BYTES}-byte limit.",
                )
            if info.file_size > (1 << 20) and info.file_size > MAX_EXPANSION * max(
                info.compress_size, 1
            ):
                raise fail(
                    p,
                    f"member {info.filename!r} expands {info.compress_size} stored bytes "
                    f"to {info.file_size}: refusing a possible decompression bomb.",
                )
    except BaseException:
        zf.close()
        raise
    return zf


def _directory_size(path: str) -> tuple[int, int] | None:
    """``(members, bytes)`` the archive's end record declares for its central directory (the
    Zip64 record's when there is one), read from the file's tail alone, where ``zipfile``
    looks for them; ``None`` when no end record is found (``zipfile`` then reports the damage).
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - (22 + 0xFFFF + 20 + 56)))  # end record, comment, Zip64 records
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    members, nbytes = struct.unpack("<H L", tail[at + 10 : at + 16])
    # Zip64: a 20-byte locator, and before it the 56-byte record with the real sizes.
    if at >= 76 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        record = tail[at - 76 : at - 20]
        if record[:4] == b"PK\x06\x06":
            members, nbytes = struct.unpack("<QQ", record[32:48])
    return members, nbytes


def _check_directory(path: str) -> None:
    """Refuses an archive whose central directory is too large to parse, before ``zipfile``
    parses it: it builds an object per member (about 700 bytes of memory for 47 bytes of
    file), so a directory of millions of empty members would take gigabytes and minutes."""
    declared = _directory_size(path)
    if declared is None:
        return
    members, nbytes = declared
    if members > MAX_MEMBERS or nbytes > MAX_DIRECTORY_BYTES:
        raise fail(
            path,
            f"its central directory declares {members} members in {nbytes} bytes, over the "
            f"limits of {MAX_MEMBERS} members and {MAX_DIRECTORY_BYTES} bytes (a .keras archive "
            "holds a few members); refusing to parse it.",
        )


def check_member_name(path, name: str) -> None:
    """Refuses archive member names that could escape a folder (absolute, ``..``, drive)."""
    norm = posixpath.normpath(name.replace("\\", "/"))
    if (
        name.startswith(("/", "\\"))
        or norm.startswith("../")
        or norm == ".."
        or "/../" in f"/{norm}/"
        or (len(name) > 1 and name[1] == ":")
        or "\x00" in name
    ):
        raise fail(
            path,
            f"archive member name {name!r} points outside the archive "
            "(path traversal); refusing to read it.",
        )


def _member_chunks(zf: zipfile.ZipFile, path, name: str, limit: int):
    """Yields member ``name``'s bytes in chunks, counting what inflating really produces.

    Raises:
        FileFormatError: no such member, one declaring more than ``limit`` bytes, one that
            inflates past its declared size or ``limit``, or a corrupt one.
    """
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise fail(path, f"the archive has no {name!r}; members: {zf.namelist()}.") from None
    if info.file_size > limit:
        raise fail(
            path, f"member {name!r} declares {info.file_size} bytes, over the {limit}-byte limit."
        )
    cap, produced = min(info.file_size, limit), 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(CHUNK_BYTES):
                produced += len(chunk)
                if produced > cap:  # zipfile stops at the declared size; this is the guarantee
                    raise fail(
                        path,
                        f"member {name!r} inflates past {cap} bytes (it declares "
                        f"{info.file_size}); refusing a possible decompression bomb.",
                    )
                yield chunk
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as e:
        if isinstance(e, FileFormatError):
            raise
        detail = (
            f"{type(e).__name__}: {e}" if str(e) else f"{type(e).__name__}: its data ends early"
        )
        raise fail(path, f"member {name!r} is corrupt or truncated ({detail}).") from None


def read_member(zf: zipfile.ZipFile, path, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Reads one member into memory, checking its declared and its real size against ``limit``."""
    return b"".join(_member_chunks(zf, path, name, limit))


def copy_member(zf: zipfile.ZipFile, path, name: str, out, limit: int = MAX_MEMBER_BYTES) -> int:
    """Streams one member into the open binary file ``out`` (never whole in memory), with the
    checks of :func:`read_member`; returns the bytes written."""
    total = 0
    for chunk in _member_chunks(zf, path, name, limit):
        out.write(chunk)
        total += len(chunk)
    return total


def check_safe_layers(path, config, safe_mode: bool, custom_objects=None) -> None:
    """Refuses configs holding Python code, whatever ``safe_mode`` says (Lamina never runs code
    from a file): a ``Lambda`` whose function was saved as bytecode, unless ``custom_objects``
    gives that function under the layer's name; TensorFlow op layers; any other ``__lambda__``.
    A ``Lambda`` naming a registered function loads, as in Keras.

    The whole config is walked, so a ``Lambda`` nested in a wrapper layer is found too.
    """
    from lamina.layers.lambda_layer import is_code, never_runs_message

    given = custom_objects if isinstance(custom_objects, dict) else {}
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("class_name")
            inner = node.get("config")
            if name == "Lambda" and isinstance(inner, dict):
                layer = inner.get("name")
                if is_code(inner.get("function"), inner.get("function_type")) and not callable(
                    given.get(layer) if isinstance(layer, str) else None
                ):
                    raise fail(path, never_runs_message(layer, safe_mode))
                # ``output_shape`` bytecode is not run either: the shape is traced instead.
                skip = ("function", "output_shape")
                stack.extend(v for k, v in inner.items() if k not in skip)
                continue
            if name in UNSAFE_LAYER_CLASSES or name == "__lambda__":
                raise fail(
                    path,
                    f"it contains a {name} object, which holds Python code that would run on "
                    "loading. Lamina never runs code from files: rebuild that part of the model "
                    "in Python and load only the weights (model.load_weights).",
                )
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _tagged_bfloat16(group, name) -> bool:
    """Whether dataset ``name`` carries Keras's ``dtype="bfloat16"`` attribute."""
    try:
        attrs = group.dataset_attrs(name) if hasattr(group, "dataset_attrs") else group[name].attrs
        tag = attrs.get("dtype")
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return (tag.decode("utf-8", "replace") if isinstance(tag, bytes) else tag) == "bfloat16"


def read_array(group, name, path):
    """``group[name]`` read as a real-number NumPy array (a weight), or ``FileFormatError``.

    h5py reports damaged data or datatypes with assorted exception types (``KeyError``,
    ``OSError``, ``RuntimeError``, ``TypeError``, ``ValueError``) that never name the file.
    A weight must be numbers: strings, compound records and complex numbers are refused (a
    complex weight would silently lose its imaginary part), and so is a group in its place.
    """
    import numpy as np

    try:
        value = group[name]
        if not isinstance(value, np.ndarray | np.generic):  # a group where a dataset should be
            raise fail(
                path,
                f"{name!r} in {getattr(group, 'name', '/')!r} should be a dataset (a weight "
                f"array) but is a {type(value).__name__.lower()}.",
            )
        arr = np.asarray(value[()])
    except FileFormatError:  # already names the file (an h5_sandbox item h5py could not read)
        raise
    except (KeyError, OSError, RuntimeError, TypeError, ValueError, AttributeError) as e:
        raise fail(
            path, f"dataset {name!r} is damaged or unreadable ({type(e).__name__}: {e})."
        ) from None
    if arr.dtype.kind == "V" and arr.dtype.itemsize == 2 and _tagged_bfloat16(group, name):
        import ml_dtypes  # a JAX dependency

        # Keras stores a bfloat16 weight as opaque 2-byte values tagged dtype="bfloat16".
        return arr.view(ml_dtypes.bfloat16)
    if arr.dtype.kind not in "biuf":
        kind = {"c": "complex numbers", "S": "strings", "U": "strings", "O": "objects"}.get(
            arr.dtype.kind, "records (a compound type)" if arr.dtype.names else "raw bytes"
        )
        where = f"{getattr(group, 'name', '/').rstrip('/')}/{name}".lstrip("/")
        raise fail(
            path,
            f"weight {where!r} holds {kind} (dtype {arr.dtype}); a weight must be real numbers "
            "(float or integer).",
        )
    return arr
