"""The Keras 3 ``.keras`` archive: a zip of ``metadata.json``, ``config.json`` and
``model.weights.h5``, laid out exactly as ``keras.src.saving.saving_lib`` writes it.

``config.json`` holds the serialized ``Sequential`` with its ``build_config`` and
``compile_config`` (see :mod:`lamina.saving.keras_compile`); ``model.weights.h5`` holds the
layer weights and the optimizer state (see :mod:`lamina.saving.weights_h5`), so a loaded
compiled model continues training where it stopped.  ``assets/`` holds layer assets (lookup
vocabularies, see :mod:`lamina.saving.keras_assets`).  Files written here load in Keras 3
(``keras.models.load_model``) and vice versa.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving import keras_archive
>>> model = Sequential([Input((3,)), Dense(2)])
>>> model.compile(optimizer="adam", loss="mse")
>>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
>>> keras_archive.save(model, path)
>>> again = keras_archive.load(path)
>>> bool(np.allclose(again.get_weights()[0], model.get_weights()[0]))
True
"""

from __future__ import annotations

import datetime
import io
import json
import os
import sys
import tempfile
import zipfile

import h5py

from lamina.saving import (
    config_checks,
    h5_sandbox,
    h5_tree,
    keras_assets,
    safety,
    unbuilt,
    weights_h5,
)

# Names that moved keep their import path here (``name as name`` re-exports them).
from lamina.saving.keras_compile import _clean_optimizer_config as _clean_optimizer_config
from lamina.saving.keras_compile import _deserialize_per_output as _deserialize_per_output
from lamina.saving.keras_compile import _metric_list as _metric_list
from lamina.saving.keras_compile import _per_output as _per_output
from lamina.saving.keras_compile import compile_config as compile_config
from lamina.saving.keras_compile import compile_from_config as compile_from_config
from lamina.saving.keras_compile import model_compile_config as model_compile_config
from lamina.saving.keras_compile import restore_compile

# The config.json entry, written and rebuilt, lives in keras_model_config (names kept here).
from lamina.saving.keras_model_config import _jsonable as _jsonable
from lamina.saving.keras_model_config import model_config as model_config
from lamina.saving.keras_model_config import model_from_config as model_from_config
from lamina.saving.safety import fail
from lamina.utils.serialization import object_sharing_scope

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
#: The Keras file-format version these archives follow.
KERAS_FORMAT_VERSION = "3.5.0"


# ------------------------------------------------------------------ save / load
def save(model, path, include_optimizer: bool = True) -> None:
    """Writes ``model`` as a ``.keras`` archive at ``path`` atomically (old file kept on failure);
    a model with no input shape yet as Keras saves it (:mod:`lamina.saving.unbuilt`)."""
    built = unbuilt.build_for_saving(model)
    with object_sharing_scope():  # a layer met twice (tied weights) is one object in the file
        config = model_config(model, include_compile=include_optimizer)
    metadata = {
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": "lamina",
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        if built:
            weights_h5.write(h5, model, include_optimizer=include_optimizer)
        else:
            unbuilt.write_unbuilt(h5, model, include_optimizer)
    with safety.atomic_write(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(METADATA, json.dumps(metadata))
        zf.writestr(CONFIG, json.dumps(config))
        zf.writestr(WEIGHTS, buf.getvalue())
        keras_assets.write(zf, model)


# The compression methods Python's zipfile inflates (Keras writes ZIP_DEFLATED members).
_READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def check_members(zf, path) -> None:
    """Refuses an archive with an encrypted member or one compressed by a method Python cannot
    inflate, before any member is read (Keras never writes either; zipfile would fail midway).

    Raises:
        FileFormatError: naming the file and the member.
    """
    for info in zf.infolist():
        if info.flag_bits & 1 or info.compress_type not in _READABLE_METHODS:
            how = "is encrypted" if info.flag_bits & 1 else f"uses compression {info.compress_type}"
            raise fail(
                path,
                f"archive member {info.filename!r} {how}, which a .keras archive never does "
                "(Keras writes plain deflated members); re-save the model with Keras or Lamina.",
            )


def read_config(path) -> tuple[dict, dict]:
    """Returns ``(config, metadata)`` of a ``.keras`` archive, after the safety checks."""
    with safety.open_zip(path) as zf:
        check_members(zf, path)
        return _read_json(zf, path, CONFIG), _read_json(zf, path, METADATA, required=False)


def too_many_digits(what: str) -> str:
    """The message for JSON text holding an integer longer than Python reads from text.

    Python refuses to convert integers of more digits than ``sys.get_int_max_str_digits()``
    (4300 by default: a guard against quadratic-time parsing); no model config holds such a
    number, so a file that does is crafted or corrupt.

    >>> too_many_digits("config.json").startswith("config.json holds an integer of over")
    True
    """
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
    return (
        f"{what} holds an integer of over {limit} digits; no model config has such a number, "
        "so the file is crafted or corrupt (nothing was read from it)."
    )


def _read_json(zf, path, name, required=True):
    if not required and name not in zf.namelist():
        return {}
    raw = safety.read_member(zf, path, name, limit=safety.MAX_JSON_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(path, f"{name} is not valid JSON ({e}).") from None
    except ValueError:  # Python's cap on the digits of an int read from text (CVE-2020-10735)
        raise fail(path, too_many_digits(name)) from None
    except RecursionError:
        raise fail(
            path, f"{name} nests lists or objects too deeply to be a model config."
        ) from None


def open_weights(zf, path, groups=None) -> h5_tree.Group:
    """Reads ``model.weights.h5`` from an open archive (in the HDF5 sandbox).

    The member is streamed into a private temporary file (never whole in memory), counting the
    bytes inflating really produces.  ``groups``: the groups the loader will read (a model's
    weights, :func:`lamina.saving.weights_h5.wanted_groups`); None reads the whole file.
    """
    check_members(zf, path)
    with tempfile.TemporaryDirectory(prefix="lamina_weights_") as tmp:  # private: mode 0700
        local = os.path.join(tmp, WEIGHTS)
        with open(local, "xb") as out:
            safety.copy_member(zf, path, WEIGHTS, out)
        try:  # the tree is read eagerly: the temporary file may go on return
            return h5_sandbox.read_file(local, path, label=WEIGHTS, groups=groups)
        except OSError as e:
            raise fail(
                path, f"{WEIGHTS} inside the archive is not a readable HDF5 file ({e})."
            ) from None


def _stored_weight_bytes(zf, path) -> int | None:
    """What the archive can hold for weights, for the budget checked before a model is built:
    the weights member's declared size, but never more than the archive's real size (a
    directory can declare anything; the file's bytes are real)."""
    if WEIGHTS not in zf.namelist():
        return None
    return min(zf.getinfo(WEIGHTS).file_size, os.path.getsize(path))


def load(path, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Loads a ``.keras`` archive written by Keras 3 or Lamina into a ``Sequential``.

    Args:
        path: the archive.
        custom_objects: ``{class_name: class}`` for custom layers, losses or metrics.
        compile: restore the compile settings and optimizer state when the file has them.
        safe_mode: refuse files containing Python code (``Lambda`` layers).

    Raises:
        ValueError: the file is corrupt, truncated, unsafe or not a Sequential model; the
            message names the file.
    """
    path = os.fspath(path)
    with safety.open_zip(path) as zf:
        check_members(zf, path)
        config = _read_json(zf, path, CONFIG)
        if isinstance(config, dict) and config.get("class_name") == "FeatureSpace":
            from lamina.utils import feature_space_io  # a FeatureSpace, not a model

            config_checks.check_nesting(path, config)
            return feature_space_io.load(zf, path, config, custom_objects, safe_mode)
        stored = _stored_weight_bytes(zf, path)
        model = model_from_config(
            config, path, custom_objects, safe_mode, stored,
            before_build=lambda m: keras_assets.read(zf, path, m),
        )  # fmt: skip
        cc = config.get("compile_config") if isinstance(config, dict) else None
        if compile and cc:
            restore_compile(model, cc, path, custom_objects)
        if WEIGHTS not in zf.namelist():
            if any(n.endswith(".npz") for n in zf.namelist()):
                raise fail(
                    path,
                    "its weights are in .npz form, which Lamina does not read; "
                    "save with Keras's default weights_format='h5'.",
                )
            raise fail(path, f"the archive has no {WEIGHTS}; members: {zf.namelist()}.")
        if not model.built:  # saved before it was built: fine while there is nothing to place
            with open_weights(zf, path) as h5:
                if not unbuilt.holds_arrays(h5, skip=("optimizer",)):
                    return model
            raise fail(
                path, "the model has no input shape in its config, so its weights cannot be placed."
            )
        with open_weights(zf, path, weights_h5.wanted_groups(model)) as h5:
            try:
                weights_h5.read(h5, model, path, load_optimizer=compile)
            except (KeyError, OSError) as e:
                raise fail(path, f"{WEIGHTS} is damaged ({e}).") from None
    return model
