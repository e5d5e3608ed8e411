"""The nested weights dict of :class:`lamina.saving.KerasFileEditor`: read, compared, written.

A Keras 3 weights file (``model.weights.h5`` inside ``.keras``, or ``*.weights.h5``) becomes a
dict of dicts whose leaves are NumPy arrays: ``layers/dense/vars/0`` is
``weights["layers"]["dense"]["0"]``.  As ``keras.saving.KerasFileEditor`` does, the ``vars``
level disappears, empty groups are dropped, and each group's attributes (the layer's ``name``)
go to a separate ``{"/layers/dense": {"name": ...}}`` dict.  Unlike Keras's editor, the
sub-objects next to a ``vars`` group (a nested model's layers, a wrapper's inner layer) are
kept, so that editing and re-saving such a file loses no weights.

The tree read from a file is the HDF5 sandbox's (:mod:`lamina.saving.h5_sandbox`): no link,
external storage or oversized dataset is ever followed.

>>> import numpy as np
>>> from lamina.saving import h5_tree
>>> root = h5_tree.Group("/", "f.h5")
>>> root._items["layers"] = layers = h5_tree.Group("/layers", "f.h5", root)
>>> layers._items["dense"] = dense = h5_tree.Group("/layers/dense", "f.h5", root)
>>> dense._items["vars"] = v = h5_tree.Group("/layers/dense/vars", "f.h5", root)
>>> v._items["0"] = np.zeros((2, 3), "float32")
>>> weights, meta = extract(root, "f.h5")
>>> weights["layers"]["dense"]["0"].shape
(2, 3)
"""

from __future__ import annotations

import numpy as np

from lamina.saving.safety import fail


def _is_group(value) -> bool:
    return hasattr(value, "keys") and not isinstance(value, np.ndarray)


def _dataset_dtype_attr(group, key):
    try:
        attrs = group.dataset_attrs(key) if hasattr(group, "dataset_attrs") else group[key].attrs
        tag = attrs.get("dtype")
    except (KeyError, TypeError, ValueError):
        return None
    return tag.decode("utf-8", "replace") if isinstance(tag, bytes) else tag


def _leaf(group, key, where, path):
    """Dataset ``key`` of ``group`` as Keras's editor returns it (a 0-d one as a scalar)."""
    arr = np.asarray(group[key][()])
    if _dataset_dtype_attr(group, key) == "bfloat16" and arr.dtype.itemsize == 2:
        import ml_dtypes  # a JAX dependency

        arr = arr.view(ml_dtypes.bfloat16)  # Keras stores bfloat16 as opaque 2-byte values
    elif arr.dtype.kind not in "biuf":
        raise fail(path, f"weight {where!r} is not an array of numbers (dtype {arr.dtype}).")
    return arr[()] if arr.ndim == 0 else arr


def extract(group, path, inner: str = "", metadata=None):
    """Returns ``(weights_dict, object_metadata)`` of an HDF5 group (sandbox tree or h5py).

    Args:
        group: an :class:`lamina.saving.h5_tree.Group` (an untrusted file, read in the sandbox)
            or an ``h5py.Group`` Lamina wrote itself.
        path: the file's name, for error messages.
        inner: the group's path, ``"/layers/dense"`` style.
        metadata: the dict collecting the attributes of each object (filled in place).
    """
    metadata = {} if metadata is None else metadata
    attrs = {k: group.attrs[k] for k in group.attrs}
    if attrs:
        metadata[inner] = attrs
    out = {}
    for key in group.keys():
        where = f"{inner}/{key}"
        value = group[key]
        if not _is_group(value):
            out[key] = _leaf(group, key, where, path)
            continue
        sub = _object(value, path, where, metadata)
        if sub is not None:
            out[key] = sub
    return out, metadata


def _object(group, path, where, metadata):
    """The weights dict of one object's group, or None for an object without weights.

    The object's own ``vars`` become its leaves; its other groups (a recurrent layer's
    ``cell``, a nested model's ``layers``) stay sub-objects, with the same rule applied.
    """
    if len(group) == 0:
        return None
    own = group["vars"] if "vars" in group else None
    if own is None or not _is_group(own):
        return extract(group, path, where, metadata)[0]
    sub = extract(own, path, where, metadata)[0]
    for child in group.keys():
        if child != "vars" and _is_group(group[child]):
            inner = _object(group[child], path, f"{where}/{child}", metadata)
            if inner:
                sub[child] = inner
    return sub or None


def write(h5, weights: dict, inner: str = "") -> None:
    """Writes a weights dict into an open ``h5py`` file as Keras's editor saves it.

    The arrays of each dict go to ``<its path>/vars/<name>`` (``vars`` at the root); empty dicts
    are skipped; bfloat16 arrays keep Keras's ``dtype`` attribute.
    """
    leaves = {}
    for name, value in weights.items():
        if isinstance(value, dict):
            if value:
                write(h5, value, f"{inner}/{name}" if inner else str(name))
        else:
            leaves[str(name)] = value
    if not leaves:
        return
    group = h5.require_group(f"{inner}/vars" if inner else "vars")
    for name, value in leaves.items():
        arr = np.asarray(value)
        if arr.dtype.name == "bfloat16":
            group.create_dataset(name, data=arr).attrs["dtype"] = "bfloat16"
        elif arr.dtype.kind in "biuf":
            group.create_dataset(name, data=arr)
        else:
            where = f"{inner}/{name}"
            raise TypeError(
                f"Weight {where!r} should be an array of numbers; received dtype {arr.dtype} "
                f"({type(value).__name__}). Pass NumPy arrays as weight values."
            )


def _shape(value):
    return tuple(np.shape(value))


def compare(target, ref, inner, names, checked, say) -> tuple[int, int]:
    """Compares the weights dict ``target`` with ``ref`` as Keras's editor does.

    ``names`` is ``(target_name, ref_name)`` for the messages; ``checked`` the paths already
    reported (a second pass with the roles swapped reports only what the first missed).
    Returns ``(errors, matches)``: each error is one message printed through ``say``.
    """
    target_name, ref_name = names
    errors = matches = 0
    for key, ref_val in ref.items():
        where = f"{inner}/{key}"
        if where in checked:
            continue
        if key not in target:
            errors += 1
            checked.add(where)
            if isinstance(ref_val, dict):
                say(f"...Object {where} present in {ref_name}, missing from {target_name}")
                say(f"    In {ref_name}, {where} contains the following keys: {list(ref_val)}")
            else:
                say(f"...Weight {where} present in {ref_name}, missing from {target_name}")
        elif isinstance(ref_val, dict) != isinstance(target[key], dict):
            errors += 1
            checked.add(where)
            kind = "an object" if isinstance(ref_val, dict) else "a weight"
            say(f"...{where} is {kind} in {ref_name}, not in {target_name}")
        elif isinstance(ref_val, dict):
            e, m = compare(target[key], ref_val, where, names, checked, say)
            errors, matches = errors + e, matches + m
        elif _shape(target[key]) != _shape(ref_val):
            errors += 1
            checked.add(where)
            say(
                f"...Weight shape mismatch for {where}\n"
                f"    In {ref_name}: shape={_shape(ref_val)}\n"
                f"    In {target_name}: shape={_shape(target[key])}"
            )
        else:
            matches += 1
    return errors, matches


def print_structure(weights: dict, say, prefix: str = "  ", first: list | None = None) -> None:
    """Prints the tree as Keras's ``KerasFileEditor.summary()`` (without the colours)."""
    first = [True] if first is None else first
    for idx, (key, value) in enumerate(weights.items()):
        last = idx == len(weights) - 1
        if first[0]:
            first[0] = False
            connector = "> "
        else:
            connector = "└─ " if last else "├─ "
        if isinstance(value, dict):
            say(f"{prefix}{connector}{key}")
            print_structure(value, say, prefix + ("    " if last else "│   "), first)
        elif hasattr(value, "shape"):
            say(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")
        else:
            say(f"{prefix}{connector}{key}: {value}")
