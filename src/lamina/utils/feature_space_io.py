"""The data and file side of :class:`lamina.utils.FeatureSpace`: reading ``adapt`` data in
Keras's batches, converting each feature's values, and the ``.keras`` archive.

Batches follow what Keras's ``FeatureSpace.adapt`` sees through ``tf.data``: a dict (or a
``DataFrame``) is sliced into rows; scalar rows are grouped 32 at a time, and every batch is
shaped ``(batch, 1)``.  An iterable yields one batch per dict.

The archive is Keras's layout: ``config.json`` (the FeatureSpace config, each ``Feature`` and
``Cross`` in Keras's serialized form), ``metadata.json``, ``model.weights.h5`` (an adapted
``Normalization``'s mean, variance and count at ``features/feature[_<k>]/preprocessor/vars``)
and ``assets/features/feature[_<k>]/preprocessor/vocabulary.txt`` for lookups.  Lamina also
keeps lookup vocabularies in the config; a file without them reads the assets.

>>> batches = adapt_batches({"x": list(range(40))}, {"x": "int32"})
>>> [b.shape for b in batches["x"]]
[(32, 1), (8, 1)]
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from lamina.layers.encoding import as_host_strings

KERAS_MODULE = "keras.src.layers.preprocessing.feature_space"
#: Rows per batch when adapting on a dict of arrays (tf.data's ``batch(32)`` in Keras).
ADAPT_BATCH = 32


# ------------------------------------------------------------------ configs
def wrap(obj, class_name: str) -> dict:
    """``obj`` (a Feature or Cross) in Keras's serialized form."""
    return {"module": KERAS_MODULE, "class_name": class_name, "config": obj.get_config(),
            "registered_name": class_name}  # fmt: skip


def unwrap(config: dict, class_name: str) -> dict:
    """The inner config of a serialized Feature/Cross (or ``config`` itself when bare)."""
    if "class_name" not in config:
        return dict(config)
    if config["class_name"] != class_name:
        raise ValueError(
            f"Expected a serialized {class_name}; received class_name={config['class_name']!r}."
        )
    return dict(config.get("config") or {})


def deserialize_preprocessor(config: dict):
    """A preprocessing layer from its serialized form, looked up in Lamina's layer registry
    (never imported from the module the config names).  Keras's ``TFDIdentity`` is
    ``Identity``."""
    from lamina import layers

    if config.get("class_name") == "TFDIdentity":
        config = {**config, "module": "keras.layers", "class_name": "Identity",
                  "registered_name": None}  # fmt: skip
    return layers.deserialize(config)


# ------------------------------------------------------------------ preprocessors
def has_input_vocabulary(layer) -> bool:
    """A ``TextVectorization`` made with its vocabulary (Keras does not adapt those)."""
    if type(layer).__name__ != "TextVectorization":
        return False
    return bool(layer.get_vocabulary(include_special_tokens=False))


def is_adaptable(layer) -> bool:
    """Whether ``adapt`` runs on ``layer``: not a ``Normalization`` given ``mean``, nor a
    ``Discretization`` given ``bin_boundaries`` (whose ``adapt`` always fails in Keras)."""
    if not hasattr(layer, "adapt"):
        return False
    if getattr(layer, "input_mean", None) is not None:
        return False
    kind = type(layer).__name__
    return not (kind == "Discretization" and layer.num_bins is None)


def sync_adapted_weights(layer) -> None:
    """Pushes a re-adapted ``Normalization``'s statistics into weights it already built
    (``adapt`` after a first call otherwise leaves the old ones in place)."""
    adapted = getattr(layer, "_adapted", None)
    if type(layer).__name__ == "Normalization" and adapted is not None and layer.built:
        layer.set_weights(list(adapted[1:]))


def output_dtype(layer, spec) -> str:
    """What ``layer`` gives for the feature ``spec``: ``"int32"``, ``"float32"`` or
    ``"string"`` (decided from the layer's kind, as symbolic tensors do not say)."""
    kind = type(layer).__name__
    if kind in ("Identity", "TFDIdentity"):
        dtype = str(spec.dtype)
        return "string" if dtype == "string" else ("int32" if "int" in dtype else "float32")
    if kind in ("Normalization", "Rescaling", "CategoryEncoding"):
        return "float32"
    if getattr(layer, "invert", False):
        return "string" if kind == "StringLookup" else "int32"
    return "int32" if getattr(layer, "output_mode", None) == "int" else "float32"


def cardinality(layer) -> int | None:
    """The number of ids ``layer`` gives (for one-hot encoding), or None when unknown."""
    kind = type(layer).__name__
    if kind in ("IntegerLookup", "StringLookup"):
        return layer.vocabulary_size()
    if kind == "CategoryEncoding":
        return layer.num_tokens
    if kind == "Discretization":  # bins from given boundaries when num_bins is None
        return layer.num_bins or len(layer.bin_boundaries or []) + 1
    if kind in ("HashedCrossing", "Hashing"):
        return layer.num_bins
    return None


# ------------------------------------------------------------------ host calls
def host_call(layer, x) -> np.ndarray:
    """``layer(x)`` computed with NumPy for the standard preprocessing layers.

    An eager JAX call compiles each operation for each new batch size (seconds on a CPU);
    preprocessing is host work, so the built-in layers run on their NumPy paths (the same
    formulas as their ``apply``).  Other layers are simply called.
    """
    from lamina.layers.encoding import encode_categorical

    kind = type(layer).__name__
    if kind in ("Identity", "TFDIdentity"):
        return x
    if kind == "Rescaling":
        x = x.astype(np.float32)
        return (x * np.float32(layer.scale) + np.float32(layer.offset)).astype(np.float32)
    if kind == "Normalization" and not layer.invert and tuple(layer.axis) in ((-1,), (1,)):
        if layer.input_mean is not None:
            mean, var = layer.input_mean, layer.input_variance
        else:
            if not layer.built:
                layer.build((None, *x.shape[1:]))
            mean, var = layer.get_weights()[:2]
        mean, var = np.asarray(mean, np.float32), np.asarray(var, np.float32)
        scale = np.maximum(np.sqrt(var), np.float32(1e-7))
        return ((x.astype(np.float32) - mean) / scale).astype(np.float32)
    if kind == "Discretization" and layer.bin_boundaries is not None:
        bounds = np.asarray(layer.bin_boundaries, np.float32)
        idx = np.searchsorted(bounds, x.astype(np.float32), side="right").astype(np.int32)
        depth = len(layer.bin_boundaries) + 1
        return encode_categorical(idx, layer.output_mode, depth, xp=np)
    if kind == "CategoryEncoding":
        return encode_categorical(x.astype(np.int32), layer.output_mode, layer.num_tokens, xp=np)
    if hasattr(layer, "host_apply"):  # lookups, Hashing, HashedCrossing, TextVectorization
        return np.asarray(layer.host_apply(x))
    return np.asarray(layer(x))


# ------------------------------------------------------------------ values
def check_names(data, features, what: str) -> None:
    """Raises a ValueError naming the features ``data`` lacks or does not know."""
    missing = [n for n in features if n not in data]
    unknown = [n for n in data if n not in features]
    if missing or unknown:
        raise ValueError(
            f"{what[0].upper()}{what[1:]} should have one entry per feature, with the same "
            f"names. Unknown: {unknown}; missing: {missing}; expected: {list(features)}."
        )


def as_feature_array(name, value, dtype) -> np.ndarray:
    """``value`` as a NumPy array of the feature's dtype (strings as Python ``str``).

    Raises:
        TypeError: numbers for a string feature, text for a numeric one, or fractional
            values for an integer feature.
    """
    if hasattr(value, "to_numpy"):  # pandas Series
        value = value.to_numpy()
    arr = np.asarray(value)
    dtype = str(dtype)
    if dtype == "string":
        if arr.dtype.kind not in "OUS":
            raise TypeError(
                f"Feature {name!r} is a string feature but received {arr.dtype} values. Pass "
                "strings (e.g. df[col].astype(str)) or declare an integer/float feature."
            )
        return as_host_strings(arr)
    if arr.dtype.kind in "OUS":
        raise TypeError(
            f"Feature {name!r} is a {dtype} feature but received text ({arr.dtype}). Pass "
            "numbers, or declare it 'string_categorical' / 'string_hashed'."
        )
    if "int" in dtype:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise TypeError(
                    f"Feature {name!r} is an integer feature but received fractional values "
                    f"({arr.dtype}). Round them, or declare a float feature."
                )
        return arr.astype(np.int64)
    return arr.astype(np.float32)


def _dict_like(data):
    if isinstance(data, dict):
        return data
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas DataFrame
        return {c: data[c].to_numpy() for c in data.columns}
    return None


def _bad_data(data) -> ValueError:
    return ValueError(
        "`adapt()` expects a dict of arrays/lists (one entry per feature), a pandas DataFrame, "
        "or an iterable of such dict batches (a list, a generator, a PyDataset). Received "
        f"instead: {type(data).__name__}"
    )


def _column(batch, name, dtype):
    if name not in batch:
        raise ValueError(
            f"The adapt() data has no entry {name!r}, which the FeatureSpace needs to adapt "
            f"its preprocessor. Entries: {sorted(batch)}."
        )
    return as_feature_array(name, batch[name], dtype)


def _as_batches(rows) -> list:
    """Keras's rule for a stream of elements (a list of arrays, or a 1-D array of scalars):
    scalars are grouped 32 at a time; every batch of rank 1 gets a trailing axis of size 1."""
    if isinstance(rows, np.ndarray) or (rows and rows[0].ndim == 0):
        stacked = rows if isinstance(rows, np.ndarray) else np.stack(rows)
        return [stacked[i : i + ADAPT_BATCH, None] for i in range(0, len(stacked), ADAPT_BATCH)]
    return [r[:, None] if r.ndim == 1 else r for r in rows]


def adapt_batches(data, dtypes: dict) -> dict:
    """``{feature: [batch, ...]}`` of the features in ``dtypes``, batched as Keras does.

    Raises:
        ValueError: ``data`` of another kind, empty, or lacking a feature.
    """
    columns = _dict_like(data)
    if columns is not None:  # tf.data.Dataset.from_tensor_slices: one element per row
        out = {}
        for name, dtype in dtypes.items():
            col = _column(columns, name, dtype)
            if col.ndim == 0:
                raise ValueError(f"The adapt() entry {name!r} is a scalar; pass one value per row.")
            rows = col if col.ndim == 1 else [col[i] for i in range(len(col))]
            out[name] = _as_batches(rows)
        return out
    if (
        isinstance(data, str | bytes)
        or not hasattr(data, "__iter__")
        and not (hasattr(data, "__getitem__") and hasattr(data, "__len__"))
    ):
        raise _bad_data(data)
    from lamina.layers.lookup import iter_batches

    rows: dict = {name: [] for name in dtypes}
    seen = 0
    for batch in iter_batches(data):
        seen += 1
        batch = _dict_like(batch)
        if batch is None:
            raise _bad_data(data)
        for name, dtype in dtypes.items():
            rows[name].append(_column(batch, name, dtype))
    if not seen:
        raise ValueError("`adapt()` received no data (an empty iterable).")
    return {name: _as_batches(r) for name, r in rows.items()}


# ------------------------------------------------------------------ archive
def _saving_paths(fs) -> list:
    """``[(Keras saving path, preprocessor)]``: ``features/feature``, ``features/feature_1``..."""
    return [
        (f"features/feature{'' if k == 0 else f'_{k}'}/preprocessor", f.preprocessor)
        for k, f in enumerate(fs.features.values())
    ]


def _weights_of(layer) -> list:
    if type(layer).__name__ != "Normalization" or getattr(layer, "_adapted", None) is None:
        return []
    if not layer.built:
        layer.build((None, 1))
    return [np.asarray(w) for w in layer.get_weights()]


def save(fs, filepath) -> None:
    """Writes ``fs`` as a ``.keras`` archive (see the module docstring)."""
    import h5py

    from lamina.saving import keras_archive, safety

    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(
            "Invalid filepath extension for saving a FeatureSpace: add the `.keras` extension. "
            f"Received: filepath={path}"
        )
    config = {"module": "keras.utils", "class_name": "FeatureSpace",
              "config": keras_archive._jsonable(fs.get_config()), "registered_name": None,
              "build_config": fs.get_build_config()}  # fmt: skip
    metadata = {
        "keras_version": keras_archive.KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": "lamina",
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.create_group("vars")
        for base, layer in _saving_paths(fs):
            group = h5.create_group(f"{base}/vars")
            for i, w in enumerate(_weights_of(layer)):
                group.create_dataset(str(i), data=w)
    with safety.atomic_write(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(keras_archive.METADATA, json.dumps(metadata))
        zf.writestr(keras_archive.CONFIG, json.dumps(config))
        zf.writestr(keras_archive.WEIGHTS, buf.getvalue())
        for base, layer in _saving_paths(fs):
            if hasattr(layer, "save_assets"):
                with tempfile.TemporaryDirectory(prefix="lamina-assets-") as d:
                    layer.save_assets(d)
                    for leaf in sorted(os.listdir(d)):
                        full = os.path.join(d, leaf)
                        if os.path.isfile(full) and not os.path.islink(full):
                            with open(full, "rb") as f:
                                zf.writestr(f"assets/{base}/{leaf}", f.read())


def _read_assets(zf, path, base, layer, total: int = 0) -> int:
    """Loads ``assets/<base>/`` into a lookup whose config held no vocabulary (Keras files).

    Returns ``total`` plus the bytes read: the caller threads it through all the features, so
    the archive's assets are bounded together (``keras_assets.MAX_ASSETS_BYTES``), and each
    file by the per-file limits of :func:`lamina.saving.keras_assets.extract_folder`.
    """
    from lamina.saving import keras_assets
    from lamina.saving.safety import fail

    prefix = f"assets/{base}/"
    names = [n for n in zf.namelist() if n.startswith(prefix)]
    names = [n for n in names if n != prefix and "/" not in n[len(prefix) :]]
    if not names or not hasattr(layer, "load_assets") or layer.get_vocabulary(False):
        return total
    with tempfile.TemporaryDirectory(prefix="lamina-assets-") as d:
        total = keras_assets.extract_folder(zf, path, prefix, names, d, total)
        try:
            layer.load_assets(d)
        except (OSError, ValueError, TypeError, UnicodeDecodeError) as e:
            raise fail(path, f"the assets at {prefix!r} are unusable ({e}).") from None
    return total


def _read_weights(h5, path, base, layer) -> None:
    from lamina.saving import safety
    from lamina.saving.safety import fail

    group = h5
    for part in f"{base}/vars".split("/"):
        if part not in group:
            return
        group = group[part]
    keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    arrays = [safety.read_array(group, k, path) for k in keys]
    if not arrays:
        return
    try:
        layer.build((None, 1))
        layer.set_weights(arrays)
    except (ValueError, TypeError) as e:
        raise fail(path, f"the weights at {base!r} do not fit {layer.name!r} ({e}).") from None


def load(zf, path, config, custom_objects=None, safe_mode=True):
    """The FeatureSpace of an open ``.keras`` archive whose ``config.json`` is ``config``."""
    from lamina.object_registry import custom_object_scope
    from lamina.saving import keras_archive, safety
    from lamina.saving.safety import fail
    from lamina.utils.feature_space import FeatureSpace

    safety.check_safe_layers(path, config, safe_mode)
    try:
        with custom_object_scope(custom_objects or {}):
            fs = FeatureSpace.from_config(dict(config.get("config") or {}))
    except (ValueError, TypeError, KeyError) as e:
        raise fail(path, f"its FeatureSpace config could not be rebuilt: {e}") from None
    paths = _saving_paths(fs)
    total = 0  # asset bytes read so far, bounded across all the features together
    for base, layer in paths:
        total = _read_assets(zf, path, base, layer, total)
    if keras_archive.WEIGHTS in zf.namelist():
        with keras_archive.open_weights(zf, path) as h5:
            for base, layer in paths:
                _read_weights(h5, path, base, layer)
    fs.build_from_config(config.get("build_config") or {})
    return fs
