"""``lamina.saving.KerasFileEditor`` (Keras 3's ``keras.saving.KerasFileEditor``).

Opens a ``.keras`` archive or a ``.weights.h5`` file and lets a user inspect and edit the
weights without building the model: rename, delete or add a layer's weights, then save a
``.weights.h5`` file that ``model.load_weights`` (Lamina's or Keras's) reads.  The file is read
through Lamina's safe readers (the zip checks of :mod:`lamina.saving.safety`, the HDF5 sandbox
of :mod:`lamina.saving.h5_sandbox`): links, external storage and oversized datasets are refused
with a ``ValueError`` naming the file, and nothing in the file is ever run.

Where Lamina differs from Keras 3.15's editor (each a Keras bug that loses data or refuses a
valid call): a bare object name is found when it occurs once (Keras miscounts occurrences in
files with several top-level groups and asks for a full path), renaming onto an existing name
raises instead of silently replacing that object, ``compare`` counts each mismatch once, and
sub-objects next to a ``vars`` group (a nested model's layers) are kept.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> import lamina
>>> folder = tempfile.mkdtemp()
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(4),
...                            lamina.layers.Dense(2)])
>>> old = os.path.join(folder, "old.weights.h5")
>>> model.save_weights(old)
>>> editor = lamina.saving.KerasFileEditor(old)  # doctest: +ELLIPSIS
Keras model file '...old.weights.h5'
>>> editor.delete_object("layers/dense_1")
>>> editor.add_object("layers/dense_1", {"0": np.ones((4, 5), "float32"),
...                                      "1": np.zeros(5, "float32")})
>>> editor.save(os.path.join(folder, "new.weights.h5"))
>>> wider = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(4),
...                            lamina.layers.Dense(5)])
>>> wider.load_weights(os.path.join(folder, "new.weights.h5"))
>>> wider.layers[1].get_weights()[0].shape
(4, 5)
"""

from __future__ import annotations

import io
import os
import tempfile

import h5py

from lamina.saving import file_editor_tree as _tree
from lamina.saving import keras_archive, legacy_h5, safety, weights_h5
from lamina.saving.safety import fail

__all__ = ["KerasFileEditor"]


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError(
            "Argument `weights` should be a dict where keys are weight names (usually '0', "
            "'1', etc.) and values are NumPy arrays. "
            f"Received: type(weights)={type(weights)}"
        )


def _count(d: dict, name: str) -> int:
    """How many dicts of the tree hold the key ``name``."""
    return (name in d) + sum(_count(v, name) for v in d.values() if isinstance(v, dict))


class KerasFileEditor:
    """Inspects, edits and resaves the weights of a Keras 3 model file without its model.

    Useful to adapt an old weights file after architecture changes.  The weights are in
    :attr:`weights_dict`, nested as the file's groups (``weights_dict["layers"]["dense"]["0"]``
    is the kernel of the first ``Dense``); edits change that dict, :meth:`save` writes it.

    Args:
        filepath: a ``.keras`` archive or a ``.weights.h5`` file (Keras's or Lamina's).

    Attributes:
        filepath: the file opened.
        weights_dict: the weights, a dict of dicts of NumPy arrays.
        object_metadata: ``{"/layers/dense": {"name": "dense"}}``: each object's attributes.
        config: the model's config (a ``.keras`` archive), else None.
        metadata: ``metadata.json`` of a ``.keras`` archive (the Keras version, the date),
            else None.

    Raises:
        ValueError: the name ends in neither ``.keras`` nor ``.weights.h5``; the file is
            damaged, unsafe (HDF5 links, external storage) or oversized (message naming it).

    Example:

    >>> import os, tempfile
    >>> import lamina
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)]).save(path)
    >>> editor = lamina.saving.KerasFileEditor(path)  # doctest: +ELLIPSIS
    Keras model file '...m.keras'
    Saved with Keras ... - date: ...
    >>> editor.rename_object("layers/dense", "dense_1")
    >>> sorted(editor.weights_dict["layers"])
    ['dense_1']
    """

    def __init__(self, filepath):
        path = os.fspath(filepath)
        self.filepath = path
        self.metadata = None
        self.config = None
        self.model = None
        if path.endswith(".keras"):
            self.config, self.metadata = keras_archive.read_config(path)
            with safety.open_zip(path) as zf:
                if keras_archive.WEIGHTS not in zf.namelist():
                    raise fail(path, f"the archive has no {keras_archive.WEIGHTS}.")
                tree = keras_archive.open_weights(zf, path)
        elif path.endswith(".weights.h5"):
            tree = legacy_h5.read(path)
        else:
            raise ValueError(
                "Invalid filename: expected a `.keras` `.weights.h5` extension. "
                f"Received: filepath={path}"
            )
        self.weights_dict, self.object_metadata = _tree.extract(tree, path)
        print(f"Keras model file '{path}'")
        if self.metadata is not None:
            print(self._metadata_info())

    def _metadata_info(self) -> str:
        meta = self.metadata if isinstance(self.metadata, dict) else {}
        return (
            f"Saved with Keras {meta.get('keras_version', 'unknown')} - "
            f"date: {meta.get('date_saved', 'unknown')}"
        )

    # ------------------------------------------------------------------ inspecting
    def summary(self):
        """Prints the weight structure of the opened file (groups, shapes and dtypes)."""
        print("Weights structure")
        _tree.print_structure(self.weights_dict, print)

    def weights_summary(self):
        """Same as :meth:`summary` (the name Keras's error messages suggest)."""
        self.summary()

    def compare(self, reference_model):
        """Compares the opened file with a model: lists each weight that is missing on one
        side or has another shape.

        Args:
            reference_model: a built model (Lamina's, or any object with ``save_weights``
                writing Keras 3's ``.weights.h5`` layout, such as a Keras model).

        Returns:
            ``{"status": "success" | "error", "error_count": int, "match_count": int}``:
            the number of mismatches found and of weights of matching shape.
        """
        print("Running comparison")
        ref = self._reference_weights(reference_model)
        checked = set()
        errors, matches = _tree.compare(
            self.weights_dict, ref, "", ("saved file", "reference model"), checked, print
        )
        more, _ = _tree.compare(
            ref, self.weights_dict, "", ("reference model", "saved file"), checked, print
        )
        errors += more
        print("─────────────────────")
        if errors == 0:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {matches} matching weight{'' if matches == 1 else 's'}")
        else:
            print(
                f"Found {errors} error{'' if errors == 1 else 's'}: saved file is not "
                "compatible with the reference model"
            )
        return {
            "status": "success" if errors == 0 else "error",
            "error_count": errors,
            "match_count": matches,
        }

    @staticmethod
    def _reference_weights(model) -> dict:
        """What saving ``model``'s weights would write, as a weights dict."""
        if hasattr(model, "saving_view"):  # Lamina: written in memory, read back directly
            buf = io.BytesIO()
            with h5py.File(buf, "w") as h5:
                weights_h5.write(h5, model)
                return _tree.extract(h5, "<reference model>")[0]
        if not callable(getattr(model, "save_weights", None)):
            raise TypeError(
                "compare() expects a built model (with save_weights); received "
                f"{type(model).__name__}."
            )
        with tempfile.TemporaryDirectory(prefix="lamina_editor_") as tmp:
            path = os.path.join(tmp, "reference.weights.h5")
            model.save_weights(path)
            return _tree.extract(legacy_h5.read(path), path)[0]

    # ------------------------------------------------------------------ editing
    def _edit_object(self, edit, source_name, target_name=None):
        """Runs ``edit(parent_dict, key)`` on the object ``source_name`` (a path, or a name
        occurring once in the tree)."""
        if target_name is not None and "/" in target_name:
            raise ValueError(
                "Argument `target_name` should be a leaf name, not a full path name. "
                f"Received: target_name='{target_name}'"
            )
        if "/" in source_name:
            *parents, leaf = source_name.split("/")
            d = self.weights_dict
            for e in parents:
                if not isinstance(d.get(e), dict):
                    raise ValueError(f"Path '{source_name}' not found in model.")
                d = d[e]
            if leaf not in d:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit(d, leaf)
            return
        occurrences = _count(self.weights_dict, source_name)
        if occurrences > 1:
            raise ValueError(
                f"Name '{source_name}' occurs more than once in the model; "
                "try passing a complete path"
            )
        if occurrences == 0:
            raise ValueError(
                f"Source name '{source_name}' does not appear in the model. "
                "Use `editor.weights_summary()` to list all objects."
            )
        stack = [self.weights_dict]
        while stack:
            d = stack.pop()
            if source_name in d:
                edit(d, source_name)
                return
            stack.extend(v for v in d.values() if isinstance(v, dict))

    def rename_object(self, object_name, new_name):
        """Renames an object of the file (e.g. a layer's group).

        Args:
            object_name: name or path of the object (``"dense_2"`` or ``"layers/dense_2"``).
            new_name: the new name (a leaf name, without ``/``).

        Raises:
            ValueError: the object is not found or the name is ambiguous, ``new_name`` is a
                path, or ``new_name`` already exists next to the object (Keras's editor would
                silently replace that object).
        """

        def rename(d, key):
            if new_name in d and new_name != key:
                raise ValueError(
                    f"Cannot rename '{object_name}' to '{new_name}': an object named "
                    f"'{new_name}' already exists there ({sorted(d)}). Delete or rename it "
                    "first."
                )
            d[new_name] = d.pop(key)

        self._edit_object(rename, object_name, new_name)

    def delete_object(self, object_name):
        """Removes an object (e.g. a layer's weights) from the file.

        Args:
            object_name: name or path of the object (``"dense_2"`` or ``"layers/dense_2"``).
        """
        self._edit_object(lambda d, key: d.pop(key), object_name)

    def add_object(self, object_path, weights):
        """Adds a new object (e.g. a layer's weights) to the file.

        Args:
            object_path: full path of the object (``"layers/dense_2"``); its parent must exist.
            weights: ``{weight name: array}``, e.g. ``{"0": kernel, "1": bias}``.
        """
        _check_weights(weights)
        *parents, leaf = object_path.split("/")
        d = self.weights_dict
        for e in parents:
            if not isinstance(d.get(e), dict):
                raise ValueError(f"Path '{'/'.join(parents)}' not found in model.")
            d = d[e]
        d[leaf] = weights

    def delete_weight(self, object_name, weight_name):
        """Removes one weight from an object.

        Args:
            object_name: name or path of the object (``"dense_2"`` or ``"layers/dense_2"``).
            weight_name: the weight (e.g. ``"0"``).
        """

        def delete(d, key):
            if not isinstance(d[key], dict) or weight_name not in d[key]:
                found = list(d[key]) if isinstance(d[key], dict) else []
                raise ValueError(
                    f"Weight {weight_name} not found in object {object_name}. "
                    f"Weights found: {found}"
                )
            d[key].pop(weight_name)

        self._edit_object(delete, object_name)

    def add_weights(self, object_name, weights):
        """Adds weights to an existing object (replacing those of the same name).

        Args:
            object_name: name or path of the object (``"dense_2"`` or ``"layers/dense_2"``).
            weights: ``{weight name: array}``, e.g. ``{"1": bias}``.
        """
        _check_weights(weights)

        def add(d, key):
            if not isinstance(d[key], dict):
                raise ValueError(
                    f"'{object_name}' is a weight, not an object: add weights to its parent."
                )
            d[key].update(weights)

        self._edit_object(add, object_name)

    # ------------------------------------------------------------------ saving
    def save(self, filepath):
        """Writes the edited weights to a ``.weights.h5`` file (atomically).

        Args:
            filepath: the file to write; its name must end in ``.weights.h5``.
        """
        path = os.fspath(filepath)
        if not str(path).endswith(".weights.h5"):
            raise ValueError(
                "Invalid `filepath` argument: expected a `.weights.h5` extension. "
                f"Received: filepath={path}"
            )
        with safety.atomic_write(path) as tmp, h5py.File(tmp, "w") as h5:
            _tree.write(h5, self.weights_dict)

    def resave_weights(self, filepath):
        """Same as :meth:`save`."""
        self.save(filepath)
