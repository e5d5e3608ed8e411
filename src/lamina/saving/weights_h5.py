"""Keras 3's weights layout (``model.weights.h5`` inside ``.keras``, and ``*.weights.h5``).

The HDF5 tree Keras 3 writes for a ``Sequential`` model::

    layers/<snake_class>[_<n>]/vars/0, 1, ...   # layer weights, trainable first ("name" attr)
    layers/lstm/cell/vars/0, 1, 2                # recurrent layers keep weights on the cell
    optimizer/vars/0, 1, ...                     # iteration, learning_rate, slots (Keras order)
    vars                                         # the model's own (empty) group

Groups are named after the layer *class* (``dense``, ``dense_1``...), not the layer's name,
exactly as ``keras.src.saving.saving_lib`` does, so files move both ways.

This module also holds the small accessors used by every format to read and write one layer's
arrays and the optimizer's variables on a ``Sequential``.

Example:

>>> import io, h5py
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving import weights_h5
>>> model = Sequential([Input((3,)), Dense(2)])
>>> buf = io.BytesIO()
>>> with h5py.File(buf, "w") as f:
...     weights_h5.write(f, model)
...     sorted(f["layers/dense/vars"])
['0', '1']
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from lamina import optimizers as _optimizers
from lamina._naming import snake_case
from lamina.layers import lora
from lamina.optimizers.multi_saving import multi_groups
from lamina.saving import h5_tree, safety
from lamina.saving.safety import fail

#: Layers whose Keras weights live on a nested object, not on the layer itself.
NESTED = {
    "LSTM": ("cell",),
    "GRU": ("cell",),
    "SimpleRNN": ("cell",),
    "RNN": ("cell",),
    "ConvLSTM1D": ("cell",),
    "ConvLSTM2D": ("cell",),
    "ConvLSTM3D": ("cell",),
    "TimeDistributed": ("layer",),
}


to_snake_case = snake_case


def _sub_paths(layer) -> list[tuple[str, ...]]:
    """Where a layer's variables live below its group, one entry per variable holder."""
    cls = type(layer).__name__
    if cls == "Bidirectional":
        return [
            ("forward_layer", *NESTED.get(type(layer.forward_layer).__name__, ())),
            ("backward_layer", *NESTED.get(type(layer.backward_layer).__name__, ())),
        ]
    return [NESTED.get(cls, ())]


def _split(arrays, n_groups):
    k = len(arrays) // n_groups
    return [arrays[j * k : (j + 1) * k] for j in range(n_groups)]


# ------------------------------------------------------------------ model accessors
def layer_arrays(model, i: int) -> list[np.ndarray]:
    """Layer ``i``'s weights as NumPy arrays, in Keras order (trainable, then the others)."""
    view = model.saving_view()
    ts = jax.device_get(view.train_state)
    p_names, s_names = view.weight_order[i]
    return [np.asarray(ts.params[i][k]) for k in p_names] + [
        np.asarray(ts.state[i][k]) for k in s_names
    ]


def set_layer_arrays(model, i: int, arrays, path, skip_mismatch: bool = False) -> bool:
    """Sets layer ``i``'s weights; returns False (with a warning) when skipping a mismatch."""
    view = model.saving_view()
    layer = view.layers[i]
    ts = view.train_state
    p_names, s_names = view.weight_order[i]
    homes = [k for k in (*p_names, *s_names) if (i, k) not in view.copies]
    if len(arrays) == len(homes) < len(p_names) + len(s_names):
        # The file holds a shared layer once (Keras 3): its other places are filled from it.
        p_names = tuple(k for k in p_names if (i, k) not in view.copies)
        s_names = tuple(k for k in s_names if (i, k) not in view.copies)
    current = [ts.params[i][k] for k in p_names] + [ts.state[i][k] for k in s_names]
    names = [*p_names, *s_names]
    problem = None
    if len(arrays) != len(current):
        problem = (
            f"the file has {len(arrays)} weight(s) for it, the layer has {len(current)} ({names})"
        )
    else:
        for n, a, c in zip(names, arrays, current):
            if tuple(np.shape(a)) != tuple(c.shape):
                problem = f"weight {n!r} has shape {tuple(c.shape)} but the file's has {tuple(np.shape(a))}"
                break
    if problem:
        msg = f"layer {layer.name!r} ({type(layer).__name__}): {problem}."
        if skip_mismatch:
            warnings.warn(f"Skipping loading weights of {msg} (file {str(path)!r})", stacklevel=3)
            return False
        raise fail(path, msg + " Pass skip_mismatch=True to skip such layers.")
    check = getattr(layer, "_check_file_arrays", None)  # e.g. an int4 layer's g_idx range
    if check is not None:
        try:
            check(dict(zip(names, arrays)))
        except ValueError as e:
            raise fail(path, str(e)) from None
    new = [jnp.asarray(np.asarray(a), dtype=c.dtype) for a, c in zip(arrays, current)]
    params = list(ts.params)
    state = list(ts.state)
    params[i] = {**params[i], **dict(zip(p_names, new[: len(p_names)]))}
    state[i] = {**state[i], **dict(zip(s_names, new[len(p_names) :]))}
    view.set_weights_state(tuple(params), tuple(state))
    return True


def leaf_order(model, keras_paths: bool = False):
    """(variable paths per leaf, Keras order as leaf indices) of the trained params.

    The paths are ``<model>/<layer>/<key>``, as the files name the optimizer's slots; with
    ``keras_paths``, each weight's ``path`` as Keras gives it (``optimizer.variables``).
    """
    from lamina.layers.variable_paths import weight_path
    from lamina.training.state import split_trainable

    view = model.saving_view()
    trained, _ = split_trainable(view.train_state.params, view.trainable_mask())
    leaves = jax.tree_util.tree_flatten_with_path(trained)[0]
    where = {}
    names = []
    for pos, (path, _) in enumerate(leaves):
        i, key = path[0].idx, path[1].key
        where[(i, key)] = pos
        layer = view.layers[i]
        names.append(weight_path(layer, key) if keras_paths else f"{view.name}/{layer.name}/{key}")
    copies = view.copies  # a shared layer's later places: Keras has one variable
    order = [
        where[(i, k)]
        for i, (p_names, _) in enumerate(view.weight_order)
        for k in p_names
        if (i, k) in where and (i, k) not in copies
    ]
    return names, order


def optimizer_variables(model, keras_paths: bool = False) -> list[tuple[str, np.ndarray]]:
    """The optimizer's state as Keras's ``optimizer.variables``; ``[]`` when not compiled.
    ``keras_paths``: slots named from the weights' Keras paths (see :func:`leaf_order`)."""
    view = model.saving_view()
    opt_state = view.optimizer_state()
    if opt_state is None:
        return []
    names, order = leaf_order(model, keras_paths)
    pairs = _optimizers.slot_variables(view.optimizer, opt_state, names, order)
    return [(n, np.asarray(jax.device_get(v))) for n, v in pairs]


def set_optimizer_variables(model, values, path) -> bool:
    """Loads Keras-ordered optimizer variables; warns and returns False when they don't fit."""
    view = model.saving_view()
    opt = view.optimizer
    if opt is None or not values:
        return False
    opt_state = view.optimizer_state()
    _, order = leaf_order(model)
    try:
        new = _optimizers.set_slot_variables(opt, opt_state, values, order)
    except (ValueError, TypeError) as e:
        warnings.warn(
            f"Not loading the optimizer state from {str(path)!r} (it does not match this "
            f"model's {type(opt).__name__}: {e}); the optimizer starts fresh.",
            stacklevel=3,
        )
        return False
    view.set_optimizer_state(new)
    return True


# ------------------------------------------------------------------ write / read
def write(h5, model, include_optimizer: bool = True) -> None:
    """Writes ``model``'s weights (and optimizer state) into an open ``h5py.File``."""
    from lamina.saving.keras_paths import model_groups

    view = model.saving_view()
    view.require_built("save_weights")
    if not getattr(model, "_is_model", False) or view.listed_layers == view.graph_layers():
        h5.create_group("layers")
    ts = jax.device_get(view.train_state)
    for i, (layer, groups) in enumerate(zip(view.layers, model_groups(model))):
        for gpath, keys in groups:
            parts = gpath.split("/")
            for depth in range(2, len(parts) - 1):  # outer objects' own (empty) groups
                outer = "/".join(parts[:depth]) + "/vars"
                if parts[depth - 1] != "layers" and outer not in h5:
                    h5.create_group(outer).attrs["name"] = layer.name
            g = h5.require_group(gpath)
            g.attrs["name"] = layer.name
            for j, (kind, key) in enumerate(keys):
                if isinstance(kind, tuple):  # a LoRA layer's merged kernel, as Keras saves it
                    value = lora.saved_value(kind, key, ts.params[i], ts.state[i])
                else:
                    value = (ts.params[i] if kind == "p" else ts.state[i])[key]
                g.create_dataset(str(j), data=np.asarray(value))
    if include_optimizer:
        opt_vars = optimizer_variables(model)
        if opt_vars:
            g = h5.create_group("optimizer/vars")
            g.attrs["name"] = view.optimizer.name
            for j, (_, a) in enumerate(opt_vars):
                g.create_dataset(str(j), data=a)
            inner = getattr(view.optimizer, "inner_optimizer", None)
            if inner is not None:  # Keras also stores a LossScaleOptimizer's inner one apart
                g = h5.create_group("optimizer/inner_optimizer/vars")
                g.attrs["name"] = inner.name
                for j, (_, a) in enumerate(opt_vars[4:]):
                    g.create_dataset(str(j), data=a)
            for gpath, name, arrays in multi_groups(view.optimizer, opt_vars):
                g = h5.create_group(gpath)  # a MultiOptimizer's inner ones, as Keras
                g.attrs["name"] = name
                for j, a in enumerate(arrays):
                    g.create_dataset(str(j), data=a)
    # The model's own group (where a subclassed model's own variables were written).
    h5.require_group("vars").attrs["name"] = model.name


def _read_vars(h5, gpath, path) -> list[np.ndarray] | None:
    group = h5.get(gpath)
    if group is None and "_layer_checkpoint_dependencies" in h5:  # Keras 2.13 files
        group = h5.get(gpath.replace("layers", "_layer_checkpoint_dependencies", 1))
    if group is None:
        return None
    if not isinstance(group, h5_tree.Group):
        raise fail(path, f"{gpath!r} should be a group of datasets; it is a dataset.")
    keys = list(group.keys())
    if sorted(keys, key=lambda s: (len(s), s)) != [str(j) for j in range(len(keys))]:
        raise fail(path, f"group {gpath!r} should hold datasets '0', '1', ...; found {keys}.")
    return [safety.read_array(group, str(j), path) for j in range(len(keys))]


def _flat_layout(h5, gpaths, n_expected, path):
    """The arrays of a layer Keras stores in several sub-groups (``MultiHeadAttention``'s
    ``query_dense/vars``, ...) when a file holds them all in the layer's own ``vars``, in
    weight order (earlier Lamina versions wrote attention layers so); else None."""
    flat = _flat_group(gpaths)
    if flat is None:
        return None
    arrays = _read_vars(h5, flat, path)
    return arrays if arrays is not None and len(arrays) == n_expected else None


def _flat_group(gpaths) -> str | None:
    """The one ``vars`` group of the older flat layout of a layer with several groups."""
    if len(gpaths) < 2:
        return None
    common = []
    for parts in zip(*(g.split("/")[:-1] for g in gpaths)):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    return "/".join([*common, "vars"]) if common else None


def wanted_groups(model) -> list[str] | None:
    """The groups :func:`read` may take datasets from for ``model`` (so the HDF5 reader reads
    nothing else of a Keras 3 weights file); None when unknown (then all is read)."""
    from lamina.saving.keras_paths import model_groups

    try:
        per_layer = model_groups(model)
    except Exception:  # noqa: BLE001 - not built, or unusual: read all and let read() report
        return None
    out = {"optimizer/vars"}
    for groups in per_layer:
        gpaths = [g for g, keys in groups if keys]
        for g in gpaths:  # Keras 2.13 files keep layers under another name (see _read_vars)
            out.update((g, g.replace("layers", "_layer_checkpoint_dependencies", 1)))
        flat = _flat_group(gpaths)
        if flat is not None:
            out.add(flat)
    return sorted(out)


def is_keras3_layout(h5) -> bool:
    """True for Keras 3 weight files (``layers/...``), False for legacy ``layer_names`` ones."""
    return "layers" in h5 or "vars" in h5 or "_layer_checkpoint_dependencies" in h5


def read(h5, model, path, skip_mismatch: bool = False, load_optimizer: bool = True) -> None:
    """Loads weights (and the optimizer state when compiled) from a read HDF5 file.

    ``h5`` is a :class:`~lamina.saving.h5_tree.Group` (what ``h5_sandbox.read_file``
    returns).

    Raises:
        FileFormatError: a layer's weights are missing or do not match (unless
            ``skip_mismatch``), or the file is not in Keras 3's layout.
    """
    if not is_keras3_layout(h5):
        raise fail(path, "no 'layers' group: this is not a Keras 3 weights file.")
    from lamina.saving.keras_paths import model_groups

    view = model.saving_view()
    view.require_built("load_weights")
    for i, (layer, groups) in enumerate(zip(view.layers, model_groups(model))):
        groups = [(g, keys) for g, keys in groups if keys]
        gpaths = [g for g, _ in groups]
        parts = [_read_vars(h5, gpath, path) for gpath in gpaths]
        copies = view.copies
        n_expected = sum(
            (i, k) not in copies for k in (*view.weight_order[i][0], *view.weight_order[i][1])
        )
        if any(p is None for p in parts):
            if n_expected == 0:
                continue
            flat = _flat_layout(h5, gpaths, n_expected, path)
            if flat is not None:  # an older Lamina file: one group for the whole layer
                set_layer_arrays(model, i, flat, path, skip_mismatch)
                continue
            msg = f"no weights for layer {layer.name!r} ({type(layer).__name__}) at {gpaths}."
            if skip_mismatch:
                warnings.warn(f"Skipping {msg} (file {str(path)!r})", stacklevel=2)
                continue
            raise fail(path, msg + " The file was saved from a different model.")
        found, extra = {}, []
        for (_, keys), arrays in zip(groups, parts):
            if len(arrays) != len(keys):  # let set_layer_arrays report the count mismatch
                extra.append(len(arrays) - len(keys))
            for kind_key, a in zip(keys, arrays):
                found[kind_key] = a
        found = lora.from_saved(found, view.train_state.params[i])
        p_names, s_names = (
            tuple(k for k in names if (i, k) not in copies) for names in view.weight_order[i]
        )
        if not p_names and not s_names:
            continue  # a shared layer's later place: filled from its first
        ordered = [found.get(("p", k)) for k in p_names] + [found.get(("s", k)) for k in s_names]
        if extra:
            ordered = [a for p in parts for a in p]
        set_layer_arrays(model, i, ordered, path, skip_mismatch)
    if load_optimizer and "optimizer" in h5 and view.optimizer is not None:
        values = _read_vars(h5, "optimizer/vars", path) or []
        set_optimizer_variables(model, values, path)
