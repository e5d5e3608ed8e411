"""Layer assets in a ``.keras`` archive (``assets/...``), as ``keras.src.saving.saving_lib``
stores them: lookup vocabularies (``StringLookup``, ``IntegerLookup``, ``TextVectorization``).

Keras calls ``layer.save_assets(folder)`` with one folder per layer, at the layer's saving path
(``assets/layers/string_lookup/vocabulary.txt`` for the first ``StringLookup`` of a
``Sequential`` or functional model; a nested model's layers under
``assets/layers/<model>/layers/...``; a subclassed model's at Keras's attribute paths, as
:func:`lamina.saving.keras_paths.keras_attribute_paths` gives them), zips the folders, and on loading calls
``layer.load_assets(folder)`` on the extracted folder.  Lamina does the same, with limits:

* only the files directly in a layer's own folder are read (``vocabulary.txt``); nothing is
  extracted outside a fresh temporary folder, member names are never joined into paths
  beyond one plain file name, and links are refused;
* each file is at most :data:`MAX_ASSET_BYTES` and all of them :data:`MAX_ASSETS_BYTES`
  (a ``FeatureSpace`` archive's lookups too: :func:`extract_folder` threads one total through
  all the layers an archive loads);
  a text file (a vocabulary) has at most :data:`MAX_ASSET_LINES` lines, since each line
  becomes a Python string and a table entry, tens of bytes of memory per byte of file;
* writing adds only the regular files a layer wrote into its own temporary folder.

Example:

>>> import io, zipfile
>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, IntegerLookup
>>> lookup = IntegerLookup()
>>> lookup.adapt(np.array([[7], [7], [3]]))
>>> model = Sequential([Input((1,)), lookup])
>>> buf = io.BytesIO()
>>> with zipfile.ZipFile(buf, "w") as zf:
...     write(zf, model)
...     zf.namelist()
['assets/layers/integer_lookup/vocabulary.txt']
"""

from __future__ import annotations

import os
import posixpath
import stat
import tempfile
import zipfile

from lamina.saving import safety
from lamina.saving.keras_paths import (
    _counted,
    _is_graph_model,
    _is_subclassed,
    _snake,
    keras_attribute_paths,
)
from lamina.saving.safety import fail

ASSETS = "assets"
#: Largest asset file read from an archive.
MAX_ASSET_BYTES = 128 << 20
#: Largest total of asset bytes read from one archive.
MAX_ASSETS_BYTES = 512 << 20
#: Most lines in one text asset (a vocabulary of 4 million tokens is far beyond real ones).
MAX_ASSET_LINES = 4_000_000
#: Most asset files one layer may write or read.
MAX_FILES_PER_LAYER = 64


def asset_layers(model) -> list[tuple[str, object]]:
    """``[(Keras saving path, layer)]`` of the layers with assets, in ``model.layers`` order
    (nested ``Sequential``/functional models walked)."""
    out: list[tuple[str, object]] = []
    _walk(model, "", out)
    return out


def _walk(model, prefix, out):
    if _is_subclassed(model):  # Keras's attribute paths (``lookup/``, ``layers/...``)
        entries = [(f"{prefix}{path}", layer) for path, layer in keras_attribute_paths(model)]
    else:
        used: dict = {}
        entries = [
            (f"{prefix}layers/{_counted(used, _snake(layer))}", layer)
            for layer in (
                model.saving_view().layers if hasattr(model, "saving_view") else model.layers
            )
        ]
    for base, layer in entries:
        if _is_graph_model(layer) or _is_subclassed(layer):
            _walk(layer, base + "/", out)
        elif hasattr(layer, "save_assets") or hasattr(layer, "load_assets"):
            out.append((base, layer))


def write(zf: zipfile.ZipFile, model) -> None:
    """Adds each layer's assets to the open archive ``zf`` under ``assets/<layer path>/``."""
    for base, layer in asset_layers(model):
        save = getattr(layer, "save_assets", None)
        if save is None:
            continue
        with tempfile.TemporaryDirectory(prefix="lamina-assets-") as tmp:
            save(tmp)
            names = sorted(os.listdir(tmp))[: MAX_FILES_PER_LAYER + 1]
            if len(names) > MAX_FILES_PER_LAYER:
                raise ValueError(
                    f"layer {layer.name!r} wrote more than {MAX_FILES_PER_LAYER} asset files; "
                    "Lamina saves at most that many per layer."
                )
            for name in names:
                full = os.path.join(tmp, name)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue  # only plain files travel (never links, folders)
                with open(full, "rb") as f:
                    zf.writestr(f"{ASSETS}/{base}/{name}", f.read())


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def read(zf: zipfile.ZipFile, path, model) -> None:
    """Calls ``load_assets`` of each layer whose folder ``assets/<layer path>/`` the archive
    holds, with a temporary folder holding that folder's plain files.

    Raises:
        FileFormatError: an asset is a link, too large, or the layer refuses its content.
    """
    members = {info.filename: info for info in zf.infolist()}
    total = 0
    for base, layer in asset_layers(model):
        load = getattr(layer, "load_assets", None)
        prefix = f"{ASSETS}/{base}/"
        files = [
            n for n in members if n.startswith(prefix) and "/" not in n[len(prefix) :] and
            n != prefix
        ]  # fmt: skip
        if load is None or not files:
            continue
        with tempfile.TemporaryDirectory(prefix="lamina-assets-") as tmp:
            total = extract_folder(zf, path, prefix, files, tmp, total)
            try:
                load(tmp)
            except (OSError, ValueError, TypeError, UnicodeDecodeError) as e:
                raise fail(
                    path, f"the assets of layer {layer.name!r} ({prefix}) are unusable ({e})."
                ) from None


def extract_folder(zf: zipfile.ZipFile, path, prefix: str, names, tmp: str, total: int) -> int:
    """Writes the plain files ``names`` (members directly under ``prefix``) into the folder
    ``tmp``, with every limit of this module, and returns ``total`` plus their bytes.

    ``total`` is what the archive's other assets already used: the caller threads it through
    all the layers it loads, so :data:`MAX_ASSETS_BYTES` bounds them together (a
    ``FeatureSpace`` with 50 lookups as much as a model with one).

    Raises:
        FileFormatError: too many files, a link, an unsafe name, a file over
            :data:`MAX_ASSET_BYTES` or :data:`MAX_ASSET_LINES` lines, or a total over
            :data:`MAX_ASSETS_BYTES`.
    """
    names = list(names)
    if len(names) > MAX_FILES_PER_LAYER:
        raise fail(path, f"{prefix!r} holds {len(names)} files, over {MAX_FILES_PER_LAYER}.")
    for name in names:
        info = zf.getinfo(name)
        leaf = name[len(prefix) :]
        if _is_link(info):
            raise fail(path, f"asset {name!r} is a symbolic link; refusing to follow it.")
        if leaf in (".", "..") or posixpath.basename(leaf) != leaf or "\\" in leaf:
            raise fail(path, f"asset {name!r} has an unsafe file name.")
        if total + info.file_size > MAX_ASSETS_BYTES:  # declared sizes: refused before inflating
            raise fail(path, f"its assets exceed the {MAX_ASSETS_BYTES}-byte limit.")
        data = safety.read_member(zf, path, name, limit=MAX_ASSET_BYTES)
        if leaf.endswith(".txt") and data.count(b"\n") > MAX_ASSET_LINES:
            raise fail(
                path,
                f"asset {name!r} has more than {MAX_ASSET_LINES} lines (vocabulary "
                "entries); refusing to load a vocabulary that large.",
            )
        total += len(data)
        if total > MAX_ASSETS_BYTES:
            raise fail(path, f"its assets exceed the {MAX_ASSETS_BYTES}-byte limit.")
        with open(os.path.join(tmp, leaf), "xb") as f:
            f.write(data)
    return total
