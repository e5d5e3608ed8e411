"""Keras 3's sharded weights: ``save_weights("model.weights.json", max_shard_size=GB)``.

The weights are Keras 3's ``.weights.h5`` layout cut into files of at most ``max_shard_size``
gigabytes (``model_00000.weights.h5``, ``model_00001.weights.h5``, ... beside the index), and a
JSON index maps each variable group (``/layers/dense/vars``) to the file(s) holding it.  Files
move both ways between Lamina and Keras.

Loading treats the index as untrusted: it must be a regular file (not a FIFO or device) of at
most :data:`MAX_INDEX_BYTES`, it names at most :data:`MAX_SHARDS` files and only in its own
folder (a plain file name, no path, no link), each shard is read in the HDF5 sandbox, and the
weights of all shards together stay within the same byte budget as one file's.

>>> import os, tempfile
>>> import lamina
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
>>> folder = tempfile.mkdtemp()
>>> model.save_weights(os.path.join(folder, "model.weights.json"), max_shard_size=2.5e-8)  # 27 bytes
>>> sorted(os.listdir(folder))
['model.weights.json', 'model_00000.weights.h5', 'model_00001.weights.h5']
>>> model.load_weights(os.path.join(folder, "model.weights.json"))
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import warnings

import h5py
import numpy as np

from lamina.saving import h5_sandbox, h5_tree, legacy_h5, safety, weights_h5
from lamina.saving.safety import fail

#: The largest index file read (Keras's index for a 100-billion-weight model is ~1 MB).
MAX_INDEX_BYTES = 64 * 2**20
#: The most shard files one index may name.
MAX_SHARDS = 100_000
_SHARD_NAME = re.compile(r"[A-Za-z0-9_.\-]+\.h5\Z")


def is_index(path) -> bool:
    """Whether ``path`` names a sharded-weights index (``.json``), as Keras decides it."""
    return os.fspath(path).lower().endswith(".json")


def index_path(path) -> str:
    """The index file ``save_weights(path, max_shard_size=...)`` writes: Keras renames a
    ``.weights.h5`` name (any non-``.json`` suffix) to ``.json``, with a warning."""
    path = os.fspath(path)
    if is_index(path):
        return path
    root, _ = os.path.splitext(path)
    new = root + ".json"
    warnings.warn(
        f"Saving sharded weights requires `*.json` as the extension. The original path: "
        f"{path} will be renamed to {new}.",
        UserWarning,
        stacklevel=4,
    )
    return new


def _readable(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f}{unit}"
        nbytes /= 1024
    return f"{nbytes:.2f}GB"


def _whole_file(model) -> bytes:
    """The unsharded weights file, in memory, its groups in the order they were written."""
    buffer = io.BytesIO()
    config = h5py.get_config()
    old = config.track_order
    config.track_order = True  # groups iterate in the model's order, as Keras writes them
    try:
        with h5py.File(buffer, "w") as f:
            weights_h5.write(f, model)
    finally:
        config.track_order = old
    return buffer.getvalue()


def _groups(group, out) -> list:
    """``[(name, group)]`` of ``group`` and every group under it, in creation order."""
    out.append((group.name.lstrip("/"), group))
    for item in group.values():
        if isinstance(item, h5py.Group):
            _groups(item, out)
    return out


def write(model, path, max_shard_size) -> None:
    """Writes ``model``'s weights as shards of at most ``max_shard_size`` GB plus the index.

    Raises:
        ValueError: ``max_shard_size`` is not a positive number, or one weight is larger.
    """
    if isinstance(max_shard_size, bool) or not isinstance(max_shard_size, int | float):
        raise TypeError(
            f"max_shard_size must be a number of gigabytes (int or float). Received: "
            f"max_shard_size={max_shard_size!r}."
        )
    if not max_shard_size > 0:
        raise ValueError(f"max_shard_size must be positive. Received: {max_shard_size!r}.")
    limit = float(max_shard_size) * 1024**3
    model.saving_view().require_built("save_weights")
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    base = base[: -len(".json")].replace(".weights", "")
    with h5py.File(io.BytesIO(_whole_file(model)), "r") as whole:
        groups = _groups(whole, [])[1:]
        plan: list[list[tuple[str, str]]] = [[]]  # per shard: (group, dataset) in write order
        used, total = 0.0, 0.0
        weight_map: dict[str, object] = {}
        for gname, group in groups:
            for key, item in group.items():
                if not isinstance(item, h5py.Dataset):
                    continue
                nbytes = float(item.size * item.dtype.itemsize)
                total += nbytes
                if nbytes > limit:
                    raise ValueError(
                        f"The size of {gname}/{key} is {_readable(nbytes)} which exceeds the maximum "
                        f"shard size {_readable(limit)}. You can increase the `max_shard_size` "
                        "parameter to accommodate the size."
                    )
                used += nbytes
                if used > limit and plan[-1]:
                    plan.append([])
                    used = nbytes
                plan[-1].append((gname, key))
                shard = f"{base}_{len(plan) - 1:05}.weights.h5"
                entry = "/" + gname
                have = weight_map.get(entry)
                if have is None:
                    weight_map[entry] = shard
                else:  # Keras's index: a list from a group's second weight on
                    have = have if isinstance(have, list) else [have]
                    weight_map[entry] = have if shard in have else have + [shard]
        names = [f"{base}_{i:05}.weights.h5" for i in range(len(plan))]
        for i, (name, members) in enumerate(zip(names, plan)):
            with safety.atomic_write(os.path.join(folder, name)) as tmp, h5py.File(tmp, "w") as f:
                if i == 0:  # every group, with its attributes: the layout readers look for
                    for gname, group in groups:
                        f.require_group(gname).attrs.update(dict(group.attrs))
                    f.attrs.update(dict(whole.attrs))
                for gname, key in members:
                    g = f.require_group(gname)
                    g.attrs.update(dict(whole[gname].attrs))
                    g.create_dataset(key, data=whole[gname][key][()])
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with safety.atomic_write(path) as tmp, open(tmp, "w") as f:
        json.dump(index, f, indent=4)


def _shard_files(index_file: str) -> list[str]:
    """The shard files the index names, checked: in the index's folder, plain files."""
    if os.path.isdir(index_file):
        raise fail(index_file, "it is a folder, not a sharded-weights index (.json).")
    if not os.path.exists(index_file):
        raise fail(index_file, "no such file.")
    raw = _read_index(index_file)
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(index_file, f"it is not a JSON sharded-weights index ({e}).") from None
    except RecursionError:
        raise fail(
            index_file, "it nests lists or objects too deeply to be a sharded-weights index."
        ) from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise fail(index_file, "the index has no 'weight_map' object (Keras's sharded format).")
    names: dict[str, None] = {}  # ordered and O(1) to test: an index may list millions
    for entry, value in weight_map.items():
        for name in value if isinstance(value, list) else [value]:
            if not isinstance(name, str) or not _SHARD_NAME.match(name) or name.startswith("."):
                raise fail(
                    index_file,
                    f"the weight map sends {str(entry)[:200]!r} to {str(name)[:200]!r}: a shard "
                    "must be a plain '.h5' file name in the index's own folder (no path).",
                )
            names[name] = None
            if len(names) > MAX_SHARDS:
                raise fail(index_file, f"the index names over {MAX_SHARDS} shard files.")
    folder = os.path.dirname(os.path.abspath(index_file))
    files = []
    for name in names:
        full = os.path.join(folder, name)
        if os.path.islink(full):
            raise fail(index_file, f"shard {name!r} is a link; shards must be plain files.")
        if not os.path.isfile(full):
            raise fail(index_file, f"shard {name!r} is missing beside the index.")
        files.append(full)
    return files


def _read_index(index_file: str) -> bytes:
    """The index's bytes, at most :data:`MAX_INDEX_BYTES`, read only from a regular file.

    The file is opened without blocking and checked once open (a FIFO would block the open,
    and a link to ``/dev/zero`` would never end), then read no further than the limit.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(index_file, flags)
    except OSError as e:
        raise fail(index_file, f"the index cannot be opened ({e.strerror or e}).") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise fail(
                index_file,
                "it is not a regular file (a device, FIFO or socket); a sharded-weights index "
                "is a JSON file.",
            )
        raw = f.read(MAX_INDEX_BYTES + 1)
    if len(raw) > MAX_INDEX_BYTES:
        raise fail(index_file, f"the index is over the {MAX_INDEX_BYTES}-byte limit.")
    return raw


def read(model, path, skip_mismatch: bool = False) -> None:
    """Loads the weights of a sharded index (Lamina's or Keras's) into ``model``."""
    path = os.fspath(path)
    wanted = weights_h5.wanted_groups(model)
    budget, used, parts = h5_sandbox.weight_budget(), 0, []
    for shard in _shard_files(path):
        if safety.sniff(shard) != "hdf5":
            raise fail(path, f"shard {os.path.basename(shard)!r} is not an HDF5 file.")
        tree = legacy_h5.read(shard, groups=wanted)
        used += _nbytes(tree)
        if used > budget:
            raise fail(
                path,
                f"its shards hold over {budget} bytes of weights (LAMINA_MAX_WEIGHT_BYTES).",
            )
        parts.append(tree)
    merged = h5_tree.merge(parts, path)
    if not weights_h5.is_keras3_layout(merged):
        raise fail(path, "its shards hold no Keras 3 weights layout ('layers' or 'vars').")
    try:
        weights_h5.read(merged, model, path, skip_mismatch=skip_mismatch)
    except (KeyError, OSError) as e:
        raise fail(path, f"its weights are damaged ({e}).") from None


def _nbytes(group) -> int:
    total = 0
    for key in group.keys():
        item = group.get(key)
        if isinstance(item, np.ndarray):
            total += item.nbytes
        elif item is not None and hasattr(item, "keys"):
            total += _nbytes(item)
    return total
