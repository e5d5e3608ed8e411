"""Keras's files of ``bfloat16`` models load.

Keras 3 stores a ``bfloat16`` variable as opaque 2-byte HDF5 values tagged with the attribute
``dtype="bfloat16"`` (``saving_lib.H5Entry``), which Lamina refused as "raw bytes".  Reference:
the same Keras model's weights and predictions.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("bf16")
    with keras_ref():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,), dtype="int32"),
                                  keras.layers.Embedding(10, 3, dtype="bfloat16"),
                                  keras.layers.Flatten(dtype="bfloat16"),
                                  keras.layers.Dense(2, dtype="bfloat16")])  # fmt: skip
        model.save(folder / "m.keras")
        model.save_weights(folder / "m.weights.h5")
        x = np.arange(8).reshape(2, 4) % 10
        expected = np.asarray(model.predict(x, verbose=0), "float32")
        weights = [np.asarray(w, "float32") for w in model.get_weights()]
    return folder, x, expected, weights


def _lamina_model():
    return lamina.Sequential([lamina.Input((4,), dtype="int32"),
                              lamina.layers.Embedding(10, 3, dtype="bfloat16"),
                              lamina.layers.Flatten(dtype="bfloat16"),
                              lamina.layers.Dense(2, dtype="bfloat16")])  # fmt: skip


def test_keras_bfloat16_model_file_loads(keras_files):
    folder, x, expected, weights = keras_files
    model = lamina.models.load_model(folder / "m.keras")
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(np.asarray(a, "float32"), b)
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0), "float32"), expected,
                               rtol=1e-2, atol=1e-2)  # fmt: skip


def test_keras_bfloat16_weights_file_loads(keras_files):
    folder, _, _, weights = keras_files
    model = _lamina_model()
    model.load_weights(folder / "m.weights.h5")
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(np.asarray(a, "float32"), b)


def test_untagged_or_wrongly_sized_raw_bytes_are_still_refused(keras_files, tmp_path):
    folder = keras_files[0]
    for i, (dtype, tag) in enumerate((("V2", None), ("V4", "bfloat16"))):
        bad = tmp_path / f"bad{i}.weights.h5"
        bad.write_bytes((folder / "m.weights.h5").read_bytes())
        with h5py.File(bad, "a") as f:
            group = f["layers/embedding/vars"]
            del group["0"]
            ds = group.create_dataset("0", data=np.zeros((10, 3), dtype))
            if tag:
                ds.attrs["dtype"] = tag
        with pytest.raises(ValueError, match="raw bytes"):
            _lamina_model().load_weights(bad)
