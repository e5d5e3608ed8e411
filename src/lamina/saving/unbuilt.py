"""Saving a model before it is built, as Keras 3 does.

Keras saves a model that has no input shape yet (a ``Sequential`` of layers only, a
subclassed model never called; the customizing-saving guide saves
``Sequential([LayerWithCustomAssets(...)])`` so) with a warning: its config, and a weights
file of empty groups.  Loading such a file gives the unbuilt model back, compiled as saved.

>>> import io, h5py, warnings
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> model = Sequential([Dense(2)])
>>> with warnings.catch_warnings(record=True):
...     build_for_saving(model)
False
>>> buf = io.BytesIO()
>>> with h5py.File(buf, "w") as f:
...     write_unbuilt(f, model)
...     sorted(f)
['layers', 'vars']
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.saving import h5_tree


def build_for_saving(model) -> bool:
    """Builds ``model`` when its input shape is known; False (after Keras's warning) for a
    model that has none yet, which is saved without weights."""
    view = model.saving_view()
    if not view.built and view.input_shape is None and view.graph is None:
        warnings.warn(
            "You are saving a model that has not yet been built. It might not contain any "
            "weights yet. Consider building the model first by calling it on some data.",
            UserWarning,
            stacklevel=4,
        )
        return False
    view.require_built("save")
    return True


def write_unbuilt(h5, model, include_optimizer: bool = True) -> None:
    """Writes the weight groups Keras writes for a model saved before it was built: one empty
    ``vars`` group per layer of a ``Sequential`` (``layers/dense/vars``), and the model's own;
    a compiled model's optimizer, never built either, holds what Keras's unbuilt one does:
    its iteration count (0) and a constant learning rate."""
    for gpath, name in unbuilt_layer_groups(model):
        h5.require_group(gpath).attrs["name"] = name
    opt = model.saving_view().optimizer
    if include_optimizer and opt is not None:
        g = h5.create_group("optimizer/vars")
        g.attrs["name"] = opt.name
        g.create_dataset("0", data=np.asarray(0, np.int64))
        if not isinstance(opt.get_config().get("learning_rate"), dict):  # not a schedule
            g.create_dataset("1", data=np.asarray(opt.learning_rate, np.float32))
    h5.require_group("vars").attrs["name"] = model.name


def holds_arrays(h5, skip=()) -> bool:
    """Whether the open weights file holds any dataset outside the top-level groups ``skip``
    (a file saved from an unbuilt model holds none)."""
    stack = [(h5, k) for k in h5.keys() if k not in skip]
    while stack:
        group, key = stack.pop()
        entry = group.get(key)
        if not isinstance(entry, h5_tree.Group):
            return True
        stack.extend((entry, k) for k in entry.keys())
    return False


def unbuilt_layer_groups(model) -> list[tuple[str, str]]:
    """``[(group path, layer name)]`` of the empty ``vars`` groups Keras writes for a model
    saved before it was built: a ``Sequential``'s layers under ``layers/``; none for a
    subclassed model (its layers are found only by calling it)."""
    from lamina.saving.keras_paths import _entry_names, _is_subclassed

    if _is_subclassed(model):
        return []
    view = model.saving_view()
    names = _entry_names(view)
    return [(f"layers/{names[id(la)]}/vars", la.name) for la in view.applied_layers]
