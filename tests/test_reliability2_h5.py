"""Hostile HDF5 files (issue 14, item 1): data stored outside the file is refused before a read.

Each test builds its hostile file with h5py: a dataset whose bytes live in another file
(external storage, a virtual dataset), an external link, a filter that is not one of the
standard ones, reference-typed weights, a shape bomb.  Each load must raise a
``FileFormatError`` naming the file, and the target's bytes must never come back.  Keras refuses
the same files ("Not allowed: H5 file with external Dataset", "... virtual Dataset").
"""

import os
import time
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving import FileFormatError, h5_sandbox

SECRET = np.arange(6, dtype="float32") + 1234.5  # recognisable bytes for a (3, 2) kernel


def _model():
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _weights_file(path, kernel_factory):
    """A ``.weights.h5`` for ``_model()`` whose kernel dataset ``kernel_factory(group)`` makes."""
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        g.attrs["name"] = "dense"
        kernel_factory(g)
        g.create_dataset("1", data=np.zeros(2, "float32"))
        f.create_group("vars")
    return path


def _external(target, offset=0):
    def make(g):
        g.create_dataset("0", shape=(3, 2), dtype="float32", external=[(str(target), offset, 24)])

    return make


def _refused(path, match, loader=None):
    model = _model()
    loader = loader or (lambda p: model.load_weights(p))
    with pytest.raises(FileFormatError, match=match) as info:
        loader(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    # The secret never reaches the model's weights.
    assert not any(np.isin(SECRET, w).any() for w in model.get_weights())
    return message


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET.tobytes())
    return path


def test_external_storage_is_refused(tmp_path, secret):
    path = _weights_file(tmp_path / "ext.weights.h5", _external(secret))
    # The hostile file does what the issue says: h5py itself would read the secret.
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["layers/dense/vars/0"][()].ravel(), SECRET)
    msg = _refused(path, r"Not allowed: H5 file with external Dataset 'layers/dense/vars/0'")
    assert "1234.5" not in msg


def test_external_storage_refused_in_process_too(tmp_path, secret, monkeypatch):
    monkeypatch.setenv("LAMINA_H5_SANDBOX", "0")
    path = _weights_file(tmp_path / "ext.weights.h5", _external(secret))
    _refused(path, "external Dataset")


def test_virtual_dataset_is_refused(tmp_path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f["data"] = SECRET.reshape(3, 2)

    def make(g):
        layout = h5py.VirtualLayout(shape=(3, 2), dtype="float32")
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(3, 2))
        g.create_virtual_dataset("0", layout)

    path = _weights_file(tmp_path / "vds.weights.h5", make)
    with h5py.File(path, "r") as f:  # h5py would read the other file's data
        assert np.array_equal(f["layers/dense/vars/0"][()].ravel(), SECRET)
    _refused(path, r"Not allowed: H5 file with virtual Dataset 'layers/dense/vars/0'")


def test_fifo_as_external_storage_does_not_stall(tmp_path, monkeypatch):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("LAMINA_H5_TIMEOUT", "60")  # a stall would show as a 60 s timeout
    path = _weights_file(tmp_path / "fifo.weights.h5", _external(fifo))
    start = time.monotonic()
    _refused(path, "external Dataset")
    assert time.monotonic() - start < 20


def test_external_storage_inside_a_keras_archive(tmp_path, secret):
    model = _model()
    good = tmp_path / "good.keras"
    model.save(good)
    weights = _weights_file(tmp_path / "w.h5", _external(secret))
    path = tmp_path / "hostile.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = weights.read_bytes() if name == "model.weights.h5" else src.read(name)
            dst.writestr(name, data)
    _refused(path, "external Dataset", loader=lamina.models.load_model)


def test_external_storage_in_a_legacy_h5_model(tmp_path, secret):
    model = _model()
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        g = f["model_weights"][model.layers[0].name]
        name = [n.decode() for n in g.attrs["weight_names"]][0]
        del g[name]
        g.create_dataset(name, shape=(3, 2), dtype="float32", external=[(str(secret), 0, 24)])
    _refused(path, "external Dataset", loader=lamina.models.load_model)


def test_external_link_in_any_group_is_refused(tmp_path, secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = SECRET

    def make(g):
        g.create_dataset("0", data=np.ones((3, 2), "float32"))
        g.file["unrelated"] = h5py.ExternalLink(str(other), "/x")

    path = _weights_file(tmp_path / "link.weights.h5", make)
    _refused(path, r"Not allowed: H5 file with ExternalLink '/?unrelated'")


def test_unknown_filter_is_refused(tmp_path):
    def make(g):  # 32001 is Blosc: a plugin filter, loaded as a shared library on read
        g.create_dataset(
            "0",
            shape=(3, 2),
            dtype="float32",
            chunks=(3, 2),
            compression=32001,
            allow_unknown_filter=True,
        )

    path = _weights_file(tmp_path / "filter.weights.h5", make)
    _refused(path, r"filter 32001")


def test_standard_filters_are_allowed(tmp_path):
    model = _model()
    kernel = np.arange(6, dtype="float32").reshape(3, 2)

    def make(g):
        g.create_dataset("0", data=kernel, compression="gzip", shuffle=True, fletcher32=True)

    path = _weights_file(tmp_path / "gzip.weights.h5", make)
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], kernel)
    lzf = _weights_file(
        tmp_path / "lzf.weights.h5",
        lambda g: g.create_dataset("0", data=kernel + 1, compression="lzf"),
    )
    model.load_weights(lzf)
    np.testing.assert_array_equal(model.get_weights()[0], kernel + 1)


def test_reference_weights_are_refused(tmp_path):
    def make(g):
        g.create_dataset("target", data=SECRET)
        g.create_dataset("0", data=[g["target"].ref] * 6, dtype=h5py.ref_dtype)

    path = _weights_file(tmp_path / "ref.weights.h5", make)
    _refused(path, r"Not allowed: H5 dataset .*0. holds object or region references")


def test_region_reference_weights_are_refused(tmp_path):
    def make(g):
        target = g.create_dataset("target", data=SECRET)
        g.create_dataset("0", data=[target.regionref[0:2]] * 6, dtype=h5py.regionref_dtype)

    path = _weights_file(tmp_path / "regref.weights.h5", make)
    _refused(path, r"Not allowed: H5 dataset .*0. holds object or region references")


def test_shape_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_MAX_WEIGHT_BYTES", str(1 << 20))

    def make(g):  # declares 4 MiB, stores nothing: a read would allocate it all
        g.create_dataset("0", shape=(1 << 20,), dtype="float32", chunks=(1024,))

    path = _weights_file(tmp_path / "bomb.weights.h5", make)
    _refused(path, r"LAMINA_MAX_WEIGHT_BYTES")


def test_backup_and_restore_refuses_external_storage(tmp_path, secret):
    model = _model()
    x = np.ones((4, 3), "float32")
    folder = tmp_path / "backup"
    cb = lamina.callbacks.BackupAndRestore(folder, delete_checkpoint=False)
    model.fit(x, x[:, :2], epochs=1, verbose=0, callbacks=[cb])
    backup = folder / "backup.lamina.h5"
    with h5py.File(backup, "a") as f:
        old = f["leaves/0"]
        shape, dtype, attrs = old.shape, old.dtype, dict(old.attrs)
        del f["leaves/0"]
        d = f["leaves"].create_dataset(
            "0",
            shape=shape,
            dtype=dtype,
            external=[(str(secret), 0, int(np.prod(shape)) * dtype.itemsize)],
        )
        d.attrs.update(attrs)
    with pytest.raises(FileFormatError, match="external Dataset") as info:
        _model().fit(x, x[:, :2], epochs=2, verbose=0, callbacks=[cb])
    assert str(backup) in str(info.value)


def test_sandbox_keeps_dataset_attributes(tmp_path):
    path = tmp_path / "attrs.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("g/d", data=[1.0]).attrs["flag"] = True
    tree = h5_sandbox.read_file(path)
    assert bool(tree["g"].dataset_attrs("d")["flag"]) and len(tree["g"]) == 1
