"""Saving and loading models (``lamina.saving``, as ``keras.saving``).

Formats, chosen by extension on save and detected from the content on load:

* ``.keras``: Keras 3's zip archive (config, weights and optimizer state);
* ``.weights.h5``: Keras 3's weights file;
* ``.h5`` / ``.hdf5``: the Keras 2 / tf.keras HDF5 format (model or weights only).

Files move both ways between Lamina and Keras.  Writes are atomic (a crash keeps the old file);
loading never runs code from the file and every error names the file.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving import save_model, load_model
>>> model = Sequential([Input((4,)), Dense(1)])
>>> model.compile(optimizer="adam", loss="mse")
>>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
>>> save_model(model, path)
>>> x = np.ones((2, 4), "float32")
>>> bool(np.allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0)))
True
"""

from __future__ import annotations

import functools
import json
import os
import struct
import warnings
import zipfile
import zlib

import h5py

from lamina.object_registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from lamina.saving import keras_archive, legacy_h5, safety, sharded_weights, weights_h5
from lamina.saving.file_editor import KerasFileEditor
from lamina.saving.safety import FileFormatError, fail
from lamina.utils.serialization import deserialize_keras_object, serialize_keras_object

__all__ = [
    "CustomObjectScope",
    "FileFormatError",
    "KerasFileEditor",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "load_model",
    "load_weights",
    "model_from_config",
    "model_from_json",
    "model_from_yaml",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]

_LEGACY_EXTS = (".h5", ".hdf5")


#: What h5py, zipfile and the decoders raise on a damaged file (h5py raises RuntimeError and
#: KeyError from deep inside HDF5 for corrupt headers; UnicodeDecodeError for garbled names).
_DAMAGE = (
    KeyError,
    IndexError,
    RuntimeError,
    OSError,
    EOFError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
)


#: What a loader may raise from deep inside on a hostile file (a config, a weight) without
#: naming it; other exception types (KeyboardInterrupt, a caller's own) pass through unchanged.
_UNNAMED = (ValueError, TypeError, AttributeError, ArithmeticError, MemoryError, LookupError)


def _damage_is_clean(load):
    """Turns the low-level errors of a damaged file into a ``FileFormatError`` naming it."""

    @functools.wraps(load)
    def wrapper(*args, **kwargs):
        pos = 1 if load.__name__ == "load_weights" else 0
        path = kwargs["filepath"] if "filepath" in kwargs else args[pos]
        try:
            return load(*args, **kwargs)
        except FileFormatError:
            raise
        except FileNotFoundError:
            raise
        except _DAMAGE as e:
            raise fail(
                path, f"the file is damaged or truncated ({type(e).__name__}: {e})."
            ) from None
        except _UNNAMED as e:
            # Every load error names the file; one that already does (a user error such as
            # by_name=True on a .keras file) keeps its type.
            if isinstance(e, ValueError | TypeError) and os.fspath(path) in str(e):
                raise
            raise fail(path, f"it could not be loaded ({type(e).__name__}: {e}).") from e

    return wrapper


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise ValueError(f"{os.fspath(path)!r} already exists; pass overwrite=True to replace it.")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True, **kwargs):
    """Saves ``model`` to ``filepath``: ``.keras`` archive, or legacy HDF5 for ``.h5``.

    A path without an extension gets the ``.keras`` archive under that exact name, with a
    warning.  ``save_format``/``zipped`` keyword arguments are accepted for compatibility.
    """
    path = os.fspath(filepath)
    kwargs.pop("zipped", None)
    save_format = kwargs.pop("save_format", None)
    if kwargs:
        raise TypeError(
            f"save_model() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}."
        )
    _check_overwrite(path, overwrite)
    lower = path.lower()
    if lower.endswith(".weights.h5"):
        raise ValueError(
            f"{path!r} names a weights file: use model.save_weights({path!r}), or "
            "save the whole model to a '.keras' file."
        )
    if save_format == "h5" or lower.endswith(_LEGACY_EXTS):
        legacy_h5.save(model, path, include_optimizer=include_optimizer)
        return
    if not lower.endswith(".keras"):
        warnings.warn(
            f"{path!r} has no .keras extension; writing the .keras (zip) archive "
            "under that exact name.",
            UserWarning,
            stacklevel=3,
        )
    keras_archive.save(model, path, include_optimizer=include_optimizer)


@_damage_is_clean
def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Loads a ``.keras`` or legacy ``.h5`` model saved by Lamina or Keras.

    The format comes from the file's first bytes, not its name.  With ``compile`` the compile
    settings and the optimizer state are restored, so training continues where it stopped.

    Raises:
        ValueError: missing, empty, truncated, corrupt, unsafe or oversized files, with the
            file's name in the message.
    """
    path = os.fspath(filepath)
    kind = safety.sniff(path)
    if kind == "zip":
        return keras_archive.load(path, custom_objects, compile, safe_mode)
    f = legacy_h5.read(path)  # the whole file, read in a child process (h5_sandbox)
    if weights_h5.is_keras3_layout(f) and "model_config" not in f.attrs:
        raise fail(
            path,
            "it holds weights only (a .weights.h5 file): build the model in "
            "code and call model.load_weights(path).",
        )
    return legacy_h5.load(path, custom_objects, compile, safe_mode, h5=f)


def save_weights(
    model, filepath, overwrite: bool = True, save_format=None, options=None, max_shard_size=None
) -> None:
    """Saves the weights (and optimizer state) of ``model`` to ``filepath``.

    The name picks the format: ``.weights.h5`` is Keras 3's weights file, ``.h5``/``.hdf5`` (or
    ``save_format="h5"``) the Keras 2 / tf.keras HDF5 layout.  Any other name is what tf.keras 2
    wrote a TensorFlow checkpoint under (``"training_1/cp.ckpt"`` in TensorFlow's "Save and
    load models" tutorial): Lamina writes the Keras 3 weights file under that exact name, with
    a warning, and :func:`load_weights` reads it back from the same name.

    Args:
        model: a built model.
        filepath: the file to write (missing folders are created).
        overwrite: replace an existing file (else a ``ValueError``).
        save_format: tf.keras 2's ``"h5"`` (the HDF5 layout whatever the name) or ``"tf"``
            (the name as given); None decides from the name.
        options: tf.keras 2's ``tf.train.CheckpointOptions``; accepted and unused (they set
            TensorFlow's I/O device).
        max_shard_size: Keras 3's sharded weights: the largest file in gigabytes; the name
            ends in ``.json`` (the index; see :mod:`lamina.saving.sharded_weights`).

    Raises:
        ValueError: the name ends in ``.keras`` (a whole-model archive: use ``model.save``),
            an unknown ``save_format``, or an existing file with ``overwrite=False``.

    >>> import os, tempfile, warnings
    >>> import lamina
    >>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "training_1", "cp.ckpt")
    >>> with warnings.catch_warnings(record=True):
    ...     model.save_weights(path)
    >>> model.load_weights(path)
    """
    del options
    path = os.fspath(filepath)
    if max_shard_size is not None:
        path = sharded_weights.index_path(path)
        _check_overwrite(path, overwrite)
        sharded_weights.write(model, path, max_shard_size)
        return
    if save_format not in (None, "h5", "tf", "keras"):
        raise ValueError(
            f"Unknown format. Received: `save_format`={save_format!r}. Was expecting one "
            "of {'tf', 'h5'}."
        )
    _check_overwrite(path, overwrite)
    lower = path.lower()
    if lower.endswith(".keras"):
        raise ValueError(
            f"save_weights({path!r}): a '.keras' file holds a whole model: use "
            f"model.save({path!r}), or a file name ending in '.weights.h5' for the weights."
        )
    keras3 = lower.endswith(".weights.h5")
    if not keras3 and (lower.endswith(_LEGACY_EXTS) or save_format == "h5"):
        legacy_h5.save_weights(model, path)
        return
    if not keras3:
        warnings.warn(
            f"save_weights({path!r}): tf.keras 2 wrote a TensorFlow checkpoint under a name "
            "without '.weights.h5'; Lamina writes the Keras 3 weights file (HDF5) under that "
            "exact name. load_weights() reads it from the same name.",
            UserWarning,
            stacklevel=3,
        )
    model.saving_view().require_built("save_weights")
    with safety.atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        weights_h5.write(f, model)


@_damage_is_clean
def load_weights(model, filepath, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """Loads weights from a ``.weights.h5``, legacy ``.h5``, ``.keras`` file or a sharded
    ``.weights.json`` index into ``model``.

    Args:
        by_name: legacy ``.h5`` only: match layers by name instead of by order.
        skip_mismatch: skip (with a warning) layers whose weight count or shapes differ.
    """
    path = os.fspath(filepath)
    if sharded_weights.is_index(path):
        if by_name:
            raise ValueError(f"{path!r}: by_name=True needs a legacy .h5 file.")
        sharded_weights.read(model, path, skip_mismatch=skip_mismatch)
        return
    kind = safety.sniff(path)
    if kind == "zip":
        if by_name:
            raise ValueError(f"{path!r}: by_name=True needs a legacy .h5 file.")
        groups = weights_h5.wanted_groups(model)  # only these are read from the file
        with safety.open_zip(path) as zf, keras_archive.open_weights(zf, path, groups) as f:
            weights_h5.read(f, model, path, skip_mismatch=skip_mismatch)
        return
    with legacy_h5.read(path, groups=weights_h5.wanted_groups(model)) as f:
        try:
            if weights_h5.is_keras3_layout(f):
                if by_name:
                    raise ValueError(
                        f"{path!r}: by_name=True needs a legacy .h5 file; Keras 3 .weights.h5 "
                        "files name groups by layer class, not layer name."
                    )
                weights_h5.read(f, model, path, skip_mismatch=skip_mismatch)
            else:
                group = f["model_weights"] if "model_weights" in f else f
                legacy_h5.load_weights_group(group, model, path, by_name, skip_mismatch)
        except (KeyError, OSError) as e:
            raise fail(path, f"its weights are damaged ({e}).") from None


def model_from_config(config, custom_objects=None):
    """Builds an uncompiled model from its serialized config (tf.keras 2's
    ``keras.models.model_from_config``): ``{"class_name": ..., "config": ...}``.

    Raises:
        TypeError: ``config`` is a list (Keras 2's message: a ``Sequential``'s bare layer
            list goes to ``Sequential.from_config``) or not a dict.
        ValueError: the config cannot be rebuilt.

    >>> import lamina
    >>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    >>> config = {"class_name": "Sequential", "config": model.get_config()}
    >>> model_from_config(config).output_shape
    (None, 2)
    """
    if isinstance(config, list):
        raise TypeError(
            "`model_from_config` expects a dictionary, not a list. Received: config="
            f"{str(config)[:200]}. Did you meant to use `Sequential.from_config(config)`?"
        )
    if not isinstance(config, dict):
        raise TypeError(
            f"`model_from_config` expects a dictionary with 'class_name' and 'config'. "
            f"Received: {type(config).__name__}."
        )
    try:
        return keras_archive.model_from_config(config, "<config>", custom_objects, safe_mode=True)
    except (AttributeError, IndexError, KeyError, RecursionError) as e:
        raise ValueError(
            f"model_from_config: the model config could not be rebuilt "
            f"({type(e).__name__}: {str(e)[:200]})."
        ) from None


def model_from_yaml(yaml_string, custom_objects=None):
    """tf.keras 2's ``model_from_yaml``, removed in 2.6: raises its ``RuntimeError``.

    Raises:
        RuntimeError: always (YAML model configs could run arbitrary code).

    >>> try:
    ...     model_from_yaml("class_name: Sequential")
    ... except RuntimeError as e:
    ...     print(str(e)[:43])
    Method `model_from_yaml()` has been removed
    """
    del yaml_string, custom_objects
    raise RuntimeError(
        "Method `model_from_yaml()` has been removed due to security risk of arbitrary code "
        "execution. Please use `Model.to_json()` and `model_from_json()` instead."
    )


def model_from_json(json_string, custom_objects=None):
    """Builds an uncompiled model from :meth:`Sequential.to_json` (or Keras's) output."""
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"model_from_json: not valid JSON ({e}).") from None
    except RecursionError:
        raise ValueError(
            "model_from_json: the JSON nests lists or objects too deeply to be a model config."
        ) from None
    try:
        return keras_archive.model_from_config(config, "<json>", custom_objects, safe_mode=True)
    except (AttributeError, IndexError, KeyError, RecursionError) as e:
        # A config of the wrong structure (a list where a dict belongs, a missing entry, a
        # nesting deeper than any model): a ValueError naming what failed, as from a file.
        raise ValueError(
            f"model_from_json: the model config could not be rebuilt "
            f"({type(e).__name__}: {str(e)[:200]})."
        ) from None
