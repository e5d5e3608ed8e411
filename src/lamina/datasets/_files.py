"""Where Keras caches its data sets, and reading those files safely, with no network.

``keras.datasets.*.load_data`` downloads into ``$KERAS_HOME/datasets`` (``~/.keras/datasets``
by default; ``/tmp/.keras`` when the home folder is not writable).  Lamina never downloads: it
reads the file Keras would have cached there, or, when it is missing, returns stand-in data
(:mod:`lamina.datasets._standin`) with a one-time ``UserWarning`` naming the file to place.

``.npz`` files are read with ``allow_pickle=False``.  IMDB and Reuters store ragged sequences
as object arrays, which NumPy can only save as a pickle stream; those members are read, as
Keras 3 reads them, by an unpickler that refuses every global except the three NumPy needs to
rebuild an array (``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``), so a
tampered file cannot run code.  The CIFAR batches (pickled dicts of arrays) are read the same
way.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import warnings
import zipfile

import numpy as np

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)
_WARNED: set[str] = set()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to deserialize `{module}.{name}` while loading a Keras dataset. The "
            "file may be corrupted or malicious."
        )


def keras_home() -> str:
    """Keras's cache root: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` if ``~`` is
    read-only), read at call time."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _writable(path: str) -> bool:
    """Whether ``path`` is writable, or could be created (its nearest existing parent is)."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK)


def cache_dirs(cache_subdir: str = "datasets", cache_dir: str | None = None) -> list[str]:
    """The folder Keras's ``get_file`` uses for ``cache_subdir`` (a one-item list): under
    ``cache_dir`` (default :func:`keras_home`), or under ``/tmp/.keras`` when that is not
    writable, exactly as Keras chooses."""
    base = os.path.expanduser(cache_dir if cache_dir is not None else keras_home())
    fallback = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return [os.path.join(base if _writable(base) else fallback, cache_subdir)]


def check_fname(fname) -> str:
    """Keras's rule for ``path=``/``fname``: a file name, not a path."""
    fname = os.fspath(fname)
    if os.sep in fname:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's "
            f"parent directory, use the `cache_dir` argument. Received: fname={fname}"
        )
    return fname


def find(fname, cache_subdir: str = "datasets") -> str | None:
    """The cached file ``fname`` if one of Keras's cache folders holds it, else ``None``."""
    fname = check_fname(fname)
    for folder in cache_dirs(cache_subdir):
        candidate = os.path.join(folder, fname)
        if os.path.exists(candidate):
            return candidate
    return None


def expected_path(fname, cache_subdir: str = "datasets") -> str:
    """Where the user should place ``fname`` for Lamina (and Keras) to find it."""
    return os.path.join(cache_dirs(cache_subdir)[0], check_fname(fname))


def warn_standin(dataset: str, place: str, origin: str) -> None:
    """Warns once per data set that stand-in data replaces the real one."""
    if dataset in _WARNED:
        return
    _WARNED.add(dataset)
    warnings.warn(
        f"keras.datasets.{dataset}: the real data set is not available offline, so Lamina "
        f"returns deterministic stand-in data of the same shapes, dtypes and value ranges "
        f"(learnable, but not the real {dataset}; do not report its accuracy). To use the real "
        f"data, download {origin} and place it at {place} (the file Keras itself caches; "
        f"KERAS_HOME moves the folder).",
        UserWarning,
        stacklevel=3,
    )


def _read_member(raw: bytes):
    fp = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError:  # an object array: skip the header, then the restricted unpickler
        fp.seek(0)
        version = np.lib.format.read_magic(fp)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fp)
        elif version[0] in (2, 3):
            np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"Unsupported `.npy` file version: {version}.") from None
        return _RestrictedUnpickler(fp).load()


def load_npz(path: str) -> dict:
    """Every array of an ``.npz`` file, object arrays included, without running code."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    arrays[member[: -len(".npy")]] = _read_member(archive.read(member))
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, EOFError) as e:
        raise ValueError(
            f"Could not read the data set file {path}: {e}. Delete it (or download it again) "
            "to use stand-in data."
        ) from None
    return arrays


def load_pickled_batch(data: bytes, label_key: str = "labels"):
    """A CIFAR batch (pickled dict of NumPy arrays) as ``(data (n, 3, 32, 32), labels)``."""
    d = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    images = np.asarray(d["data"], dtype=np.uint8)
    return images.reshape(images.shape[0], 3, 32, 32), d[label_key]
