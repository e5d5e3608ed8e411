"""tf.keras 2's checkpoint names: ``save_weights("training_1/cp.ckpt")``, ``ModelCheckpoint(
"cp-{epoch:04d}.ckpt", save_weights_only=True)`` and ``ModelCheckpoint("best_model")``.

TensorFlow's "Save and load models" tutorial wrote TensorFlow checkpoints and SavedModel
folders under such names; Keras 3 refuses them.  Lamina writes its own files (Keras 3's
weights file, the ``.keras`` archive) under the exact name, says so once, and reads them back
from the same name.  Real Keras reads the weights file once it has Keras 3's name.
"""

from __future__ import annotations

import os
import shutil
import warnings

import h5py
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _model(seed=0):
    lamina.utils.set_random_seed(seed)
    model = lamina.Sequential(
        [lamina.Input((6,)), lamina.layers.Dense(5, activation="relu"), lamina.layers.Dense(3)]
    )
    model.compile(
        optimizer="adam",
        loss=lamina.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_save_weights_under_a_checkpoint_prefix_round_trips_and_creates_the_folder(tmp_path):
    path = str(tmp_path / "training_1" / "cp.ckpt")
    model = _model()
    with pytest.warns(UserWarning, match="TensorFlow checkpoint.*under that exact name"):
        model.save_weights(path)
    assert os.listdir(tmp_path / "training_1") == ["cp.ckpt"]
    other = _model(seed=1)
    other.load_weights(path)
    _same(other.get_weights(), model.get_weights())


def test_the_checkpoint_file_is_keras_3s_weights_file(tmp_path, keras):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "checkpoints" / "my_checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_weights(path)
    named = str(tmp_path / "my_checkpoint.weights.h5")
    shutil.copy(path, named)
    with keras_ref():
        ref = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)]
        )
        ref.load_weights(named)
        got = [np.asarray(w) for w in ref.get_weights()]
    _same(got, model.get_weights())


def test_save_format_h5_writes_the_legacy_layout_under_any_name(tmp_path, keras):
    model = _model()
    path = str(tmp_path / "weights_file")
    model.save_weights(path, save_format="h5")
    with h5py.File(path, "r") as f:
        assert "layer_names" in f.attrs  # tf.keras 2's HDF5 weights layout
    other = _model(seed=3)
    other.load_weights(path)
    _same(other.get_weights(), model.get_weights())
    named = str(tmp_path / "legacy.h5")
    shutil.copy(path, named)
    with keras_ref():
        ref = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)]
        )
        ref.load_weights(named)
        got = [np.asarray(w) for w in ref.get_weights()]
    _same(got, model.get_weights())


def test_save_weights_refuses_a_keras_name_and_unknown_formats(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match=r"'\.keras' file holds a whole model: use model\.save"):
        model.save_weights(str(tmp_path / "w.keras"))
    with pytest.raises(ValueError, match="Unknown format.*'pb'"):
        model.save_weights(str(tmp_path / "w.ckpt"), save_format="pb")
    assert os.listdir(tmp_path) == []
    model.save_weights(str(tmp_path / "w.weights.h5"), options=object())  # tf's options: unused


def test_model_checkpoint_with_tf_checkpoint_names_saves_each_epoch_and_warns_once(tmp_path):
    x, y = _data()
    model = _model()
    template = str(tmp_path / "training_2" / "cp-{epoch:04d}.ckpt")
    with pytest.warns(UserWarning, match="TensorFlow checkpoint under this name") as caught:
        callback = lamina.callbacks.ModelCheckpoint(template, save_weights_only=True, verbose=0)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # the warning points at the user's line
    with warnings.catch_warnings(record=True) as during:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=8, callbacks=[callback], verbose=0)
    assert not [w for w in during if "exact name" in str(w.message)]
    assert sorted(os.listdir(tmp_path / "training_2")) == [
        "cp-0001.ckpt",
        "cp-0002.ckpt",
        "cp-0003.ckpt",
    ]
    restored = _model(seed=5)
    restored.load_weights(template.format(epoch=3))
    _same(restored.get_weights(), model.get_weights())
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_model_checkpoint_to_a_savedmodel_name_writes_a_loadable_archive(tmp_path):
    x, y = _data()
    model = _model()
    path = str(tmp_path / "best_model")
    with pytest.warns(UserWarning, match="SavedModel under this name.*keras \\(zip\\) archive"):
        callback = lamina.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[callback], verbose=0)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_refuses_mismatched_kinds(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`.*'\.keras' names a whole"):
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`.*save_weights_only=True"):
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "m.weights.h5"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras's own names: no warning
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "w.hdf5"), save_weights_only=True)
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "m.h5"), options=None)


def test_names_choose_the_layout(tmp_path):
    """``.weights.h5`` is Keras 3's layout even with ``save_format="h5"``; ``.h5`` the legacy one."""
    model = _model()
    for name, save_format, legacy in [
        ("a.weights.h5", None, False),
        ("b.weights.h5", "h5", False),
        ("c.h5", None, True),
        ("d.hdf5", None, True),
        ("e.ckpt", None, False),
        ("f.ckpt", "h5", True),
    ]:
        path = str(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save_weights(path, save_format=save_format)
        with h5py.File(path, "r") as f:
            assert ("layer_names" in f.attrs) is legacy, name
            assert ("layers" in f) is not legacy, name
