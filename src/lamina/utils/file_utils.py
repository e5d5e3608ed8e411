"""Keras's ``keras.utils.get_file``, offline: it finds files, it never downloads.

The file is looked up where Keras caches it (``cache_dir``/``cache_subdir``/``fname``, with
``cache_dir`` defaulting to ``$KERAS_HOME`` or ``~/.keras``), or taken from a ``file://``
origin or a local path; archives are extracted safely (no paths leaving the target folder).
Anything that would need the network raises an error naming the file to place.

>>> import os, tempfile
>>> from lamina.utils import get_file
>>> src = os.path.join(tempfile.mkdtemp(), "notes.txt")
>>> _ = open(src, "w").write("hello")
>>> path = get_file("notes.txt", origin="file://" + src, cache_dir=tempfile.mkdtemp())
>>> open(path).read()
'hello'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.parse
import urllib.request
import zipfile

__all__ = ["get_file", "validate_file"]


def _hash(path, algorithm, chunk_size=65535):
    hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()  # noqa: S324
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535) -> bool:
    """Whether the file's sha256 (64 hex digits) or md5 hash is ``file_hash`` (Keras's)."""
    if algorithm == "auto":
        algorithm = "sha256" if len(str(file_hash)) == 64 else "md5"
    return _hash(fpath, algorithm, chunk_size) == str(file_hash)


_valid = validate_file


def _safe_extract(archive, target, archive_format) -> bool:
    formats = (
        ["tar", "zip"] if archive_format == "auto" else [archive_format] if archive_format else []
    )
    root = os.path.realpath(target)

    def inside(name):
        return os.path.realpath(os.path.join(root, name)).startswith(root + os.sep)

    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if inside(m.name) and not m.issym()
                           and not m.islnk()]  # fmt: skip
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(target, members=members, filter="data")
                else:  # older Pythons: the members were checked above
                    tar.extractall(target, members=members)  # noqa: S202
            return True
        if kind == "zip" and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(target, members=[n for n in z.namelist() if inside(n)])
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):  # fmt: skip
    """Returns the local path of a file Keras would download (``keras.utils.get_file``).

    Args:
        fname: the file's name in the cache (default: the last part of ``origin``).
        origin: where the file comes from: a ``file://`` URL or a local path is copied into
            the cache; an ``http(s)`` URL is only used for its name (no download).
        untar: deprecated; same as ``extract=True`` with a tar archive.
        md5_hash: deprecated; same as ``file_hash`` with ``hash_algorithm="md5"``.
        file_hash: the expected sha256 or md5 of the file, checked when given.
        cache_subdir: the folder under ``cache_dir`` (or an absolute folder).
        hash_algorithm: ``"auto"``, ``"sha256"`` or ``"md5"``.
        extract: extract the archive and return the folder.
        archive_format: ``"auto"``, ``"tar"``, ``"zip"`` or ``None``.
        cache_dir: the cache root (default: ``$KERAS_HOME`` or ``~/.keras``).
        force_download: download again: impossible offline, so an error.

    Returns:
        The path of the file (or of the extraction folder with ``extract=True``).

    Raises:
        ValueError: without ``origin``, with a path as ``fname``, for a file that fails its
            hash check, or when the file would have to be downloaded (the message names the
            path to place it at).
    """
    from lamina.datasets import _files

    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = _files.cache_dirs(cache_subdir, cache_dir)[0]
    provided = fname
    fname = os.fspath(fname) if fname else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Can't parse the file name from the origin provided: '{origin}'.Please specify "
                "the `fname` argument."
            )
    else:
        _files.check_fname(fname)
    if extract or untar:
        if provided and "." in fname:
            target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[: fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            target = os.path.join(datadir, f"{fname}_archive")
    else:
        target = os.path.join(datadir, fname)
    scheme = urllib.parse.urlsplit(origin).scheme
    local = urllib.request.url2pathname(urllib.parse.urlsplit(origin).path) if scheme == "file" \
        else origin if scheme == "" else None  # fmt: skip
    have = os.path.exists(target) and not force_download
    if have and file_hash is not None and not _valid(target, file_hash, hash_algorithm):
        have = False
    if not have:
        if local is None or not os.path.exists(local):
            raise ValueError(
                f"get_file: {fname!r} is not in the cache and Lamina never downloads. Download "
                f"{origin} yourself and place it at {target} (KERAS_HOME or cache_dir moves the "
                "folder)."
            )
        os.makedirs(datadir, exist_ok=True)
        shutil.copyfile(local, target)
        if file_hash is not None and not _valid(target, file_hash, hash_algorithm):
            os.remove(target)
            raise ValueError(
                f"Incomplete or corrupted file detected. The {hash_algorithm} file hash does not "
                f"match the provided value of {file_hash}."
            )
    if extract or untar:
        if not _safe_extract(target, extraction_dir, "tar" if untar else archive_format):
            import warnings

            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return target
