"""Keras 2 / tf.keras HDF5 files (``model.save('m.h5')``), read and written.

Layout (as ``keras.src.legacy.saving.legacy_h5_format``)::

    attrs: model_config (JSON), training_config (JSON), backend, keras_version
    model_weights/            attrs: layer_names, backend, keras_version
        <layer name>/         attrs: weight_names, e.g. ["sequential/dense/kernel", ...]
            <weight name>     one dataset per weight name (a path)
    optimizer_weights/        attrs: weight_names, e.g. ["adam/iteration", ...]

A weights-only legacy file has ``layer_names`` and the layer groups at its root.

Example:

>>> import os, tempfile
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving import legacy_h5
>>> model = Sequential([Input((3,)), Dense(2, name="out")])
>>> path = os.path.join(tempfile.mkdtemp(), "m.h5")
>>> legacy_h5.save(model, path)
>>> legacy_h5.load(path).get_layer("out").name
'out'
"""

from __future__ import annotations

import json
import os
import warnings

import h5py
import numpy as np

from lamina.saving import h5_sandbox, h5_tree, keras_archive, safety, weights_h5
from lamina.saving.safety import fail


def _attr_list(group, name, path) -> list[str]:
    """Reads a list-of-strings attribute, including Keras's chunked ``name0``, ``name1``..."""
    if name in group.attrs:
        chunks = [name]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(f"{name}{len(chunks)}")
    raw = []
    for chunk in chunks:
        value = group.attrs[chunk]
        if value is None or np.ndim(value) > 1:  # a damaged file: not a 1-D list of names
            raise fail(path, f"attribute {chunk!r} of {group.name!r} is not a list of names.")
        raw.extend([value] if isinstance(value, str) else np.atleast_1d(value).tolist())
    return [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in raw]


def _attr_str(value):
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def _strings(values):
    return np.array([v.encode("utf8") for v in values]) if values else np.array([], dtype="S1")


# ------------------------------------------------------------------ write
def write_weights_group(group, model) -> None:
    """Writes every layer's weights under ``group`` in the legacy layout."""
    # No graph ops; a layer a Sequential repeats once (its weights are one group).
    group.attrs["layer_names"] = _strings(list(dict.fromkeys(la.name for la in model.layers)))
    group.attrs["backend"] = b"jax"
    group.attrs["keras_version"] = keras_archive.KERAS_FORMAT_VERSION.encode()
    view = model.saving_view()
    order, listed = view.weight_order, {id(la) for la in model.layers}
    entries = [(i, la) for i, la in enumerate(view.layers) if id(la) in listed]
    for i, layer in sorted(entries, key=lambda t: t[1].name):
        g = group.create_group(layer.name)
        names = [f"{model.name}/{layer.name}/{k}" for k in (*order[i][0], *order[i][1])]
        g.attrs["weight_names"] = _strings(names)
        for name, value in zip(names, weights_h5.layer_arrays(model, i)):
            g.create_dataset(name, data=value)
    # A subclassed model's own variables (Keras's ``top_level_model_weights``), by path.
    top = group.create_group("top_level_model_weights")
    own = _own_index(view)
    names = [] if own is None else [f"{model.name}/{k}" for k in (*order[own][0], *order[own][1])]
    top.attrs["weight_names"] = _strings(names)
    if own is not None:
        for name, value in zip(names, weights_h5.layer_arrays(model, own)):
            top.create_dataset(name, data=value)


def _own_index(view) -> int | None:
    """The index of the model's own variables among ``view.layers``, or None."""
    from lamina.models.own_variables import is_holder

    return next((i for i, la in enumerate(view.layers) if is_holder(la)), None)


def _load_own(group, model, path, skip_mismatch) -> None:
    """Loads ``top_level_model_weights`` into the model's own variables, as Keras does."""
    view = model.saving_view()
    own = _own_index(view)
    top = group.get("top_level_model_weights")
    n_own = 0 if own is None else sum(map(len, view.weight_order[own]))
    arrays = []
    if isinstance(top, h5_tree.Group):
        for wname in _attr_list(top, "weight_names", path):
            if wname not in top:
                raise fail(path, f"top-level weight {wname!r} is missing.")
            arrays.append(safety.read_array(top, wname, path))
    if len(arrays) != n_own:
        msg = (
            f"the model has {n_own} variable(s) of its own (top-level weights); the file has "
            f"{len(arrays)}."
        )
        if not skip_mismatch:
            raise fail(path, msg + " Expected the file of this model class.")
        warnings.warn(f"{path!r}: {msg} Skipping them.", stacklevel=4)
        return
    if own is not None:
        weights_h5.set_layer_arrays(model, own, arrays, path, skip_mismatch)


def save(model, path, include_optimizer: bool = True) -> None:
    """Writes a legacy ``.h5`` model file atomically (loads in Keras 3 and tf.keras)."""
    view = model.saving_view()
    view.require_built("save")
    config = keras_archive.model_config(model, include_compile=False)
    config.pop("module", None)
    config.pop("registered_name", None)
    config.pop("build_config", None)
    with safety.atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["backend"] = "jax"
        f.attrs["keras_version"] = keras_archive.KERAS_FORMAT_VERSION
        f.attrs["model_config"] = json.dumps(config)
        cc = keras_archive.model_compile_config(model) if include_optimizer else None
        if cc is not None:
            cc = keras_archive._jsonable(cc)
            cc["optimizer_config"] = {
                "class_name": cc["optimizer"]["class_name"],
                "config": cc["optimizer"]["config"],
            }
            del cc["optimizer"]
            f.attrs["training_config"] = json.dumps(cc)
        write_weights_group(f.create_group("model_weights"), model)
        opt_vars = weights_h5.optimizer_variables(model) if include_optimizer else []
        if opt_vars:
            g = f.create_group("optimizer_weights")
            prefix = view.optimizer.name
            names = [f"{prefix}/{n}" for n, _ in opt_vars]
            g.attrs["weight_names"] = _strings(names)
            for name, (_, value) in zip(names, opt_vars):
                g.create_dataset(name, data=value)


def save_weights(model, path) -> None:
    """Writes a legacy weights-only ``.h5`` file (``layer_names`` at the root) atomically."""
    model.saving_view().require_built("save_weights")
    with safety.atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        write_weights_group(f, model)


# ------------------------------------------------------------------ read
def _file_layers(group, path):
    """``[(layer_name, [arrays])]`` in file order, from a legacy weights group."""
    out = []
    for name in _attr_list(group, "layer_names", path):
        g = group.get(name)
        if not isinstance(g, h5_tree.Group):
            raise fail(path, f"layer {name!r} is listed in layer_names but has no group.")
        arrays = []
        for wname in _attr_list(g, "weight_names", path):
            if wname not in g:
                raise fail(path, f"weight {wname!r} of layer {name!r} is missing.")
            arrays.append(safety.read_array(g, wname, path))
        out.append((name, arrays))
    return out


def load_weights_group(group, model, path, by_name=False, skip_mismatch=False) -> None:
    """Loads legacy-layout weights into ``model`` by layer order, or by layer name.

    ``group`` is a :class:`~lamina.saving.h5_tree.Group` (read by ``h5_sandbox``).
    """
    view = model.saving_view()
    view.require_built("load_weights")
    if not isinstance(group, h5_tree.Group) or not (
        "layer_names" in group.attrs or "layer_names0" in group.attrs
    ):
        raise fail(path, "no 'layer_names' attribute: not a Keras HDF5 weights file.")
    file_layers = _file_layers(group, path)
    _load_own(group, model, path, skip_mismatch)
    own = _own_index(view)
    model_idx = [
        i for i in range(len(view.layers)) if sum(map(len, view.weight_order[i])) and i != own
    ]
    if by_name:
        found = dict(file_layers)
        for i in model_idx:
            name = view.layers[i].name
            if name in found:
                weights_h5.set_layer_arrays(model, i, found[name], path, skip_mismatch)
        return
    with_weights = [(n, a) for n, a in file_layers if a]
    if len(with_weights) != len(model_idx):
        msg = (
            f"the file has {len(with_weights)} layer(s) with weights "
            f"({[n for n, _ in with_weights]}) but the model has {len(model_idx)} "
            f"({[view.layers[i].name for i in model_idx]})."
        )
        if not skip_mismatch:
            raise fail(path, msg + " Use by_name=True to match layers by name.")
        warnings.warn(f"{path!r}: {msg} Loading the common prefix.", stacklevel=3)
    for i, (_, arrays) in zip(model_idx, with_weights):
        weights_h5.set_layer_arrays(model, i, arrays, path, skip_mismatch)


def _json_attr(f, name, path):
    raw = _attr_str(f.attrs.get(name))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise fail(path, f"attribute {name!r} is not valid JSON ({e}).") from None
    except ValueError:  # an integer over Python's digit cap
        raise fail(path, keras_archive.too_many_digits(f"attribute {name!r}")) from None
    except RecursionError:
        raise fail(path, f"attribute {name!r} nests lists or objects too deeply.") from None
    if not isinstance(value, dict):
        raise fail(path, f"attribute {name!r} is not a JSON object.")
    return value


def read(path, groups=None) -> h5_tree.Group:
    """Reads an HDF5 file in the sandbox (a damaged file can hang or crash libhdf5).

    ``groups``: in a Keras 3 weights file, the only groups whose datasets are read (see
    :func:`lamina.saving.h5_sandbox.collect`); None reads the whole file.
    """
    try:
        return h5_sandbox.read_file(path, groups=groups)
    except OSError as e:
        raise fail(
            path, f"not a readable HDF5 file; it may be truncated or corrupt ({e})."
        ) from None


def load(path, custom_objects=None, compile: bool = True, safe_mode: bool = True, h5=None):
    """Loads a legacy ``.h5`` model (Keras 1/2, tf.keras, or Keras 3's legacy writer).

    The optimizer state is restored when it was written in Keras 3's variable order (by Keras
    3 or Lamina); Keras 2 optimizer states start fresh, with a warning, as in Keras 3.  ``h5``
    is the file as :func:`read` returns it, when the caller has read it already.
    """
    path = os.fspath(path)
    f = read(path) if h5 is None else h5
    with f:
        config = _json_attr(f, "model_config", path)
        if config is None:
            raise fail(
                path,
                "no model_config attribute: this HDF5 file holds weights only; "
                "build the model in code and call model.load_weights(path).",
            )
        model = keras_archive.model_from_config(
            config, path, custom_objects, safe_mode, stored_bytes=_file_bytes(path)
        )
        if not model.built:
            raise fail(path, "the model config has no input shape, so weights cannot be placed.")
        load_weights_group(f.get("model_weights", f), model, path)
        training = _json_attr(f, "training_config", path) if compile else None
        if training:
            keras_archive.restore_compile(model, training, path, custom_objects)
            if isinstance(f.get("optimizer_weights"), h5_tree.Group):
                _load_optimizer(f["optimizer_weights"], model, path)
    return model


def _file_bytes(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _load_optimizer(group, model, path) -> None:
    names = _attr_list(group, "weight_names", path)
    if not names or not names[0].split("/")[-1].startswith("iteration"):
        warnings.warn(
            f"{path!r}: the optimizer state was saved by Keras 2 in another variable "
            "layout; the optimizer starts fresh.",
            stacklevel=3,
        )
        return
    values = [safety.read_array(group, n, path) for n in names]
    weights_h5.set_optimizer_variables(model, values, path)
