"""Load errors name the file (issue 14, item 6): hostile configs and weights, each built here.

A config with ``strides=0``, ``pool_size=0``, a negative input dimension or an absurd
``units``; weights of string, compound or complex type; a group where a weight should be.  Each
must raise ``FileFormatError`` naming the file, and a config declaring gigabytes of weights must
fail before allocating them.
"""

import json
import time
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from lamina.models import Sequential, load_model
from lamina.saving import FileFormatError


def _dense_model():
    model = Sequential([Input((3,)), Dense(2, name="d")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _conv_model():
    return Sequential(
        [Input((6, 6, 1)), Conv2D(2, 3, name="c"), MaxPooling2D(2, name="p"), Flatten(), Dense(1)]
    )


def _rewrite_keras(good, path, edit_config=None, weights=None):
    """Copies the .keras archive ``good`` to ``path``, editing its config or weights."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json" and edit_config is not None:
                config = json.loads(data)
                edit_config(config["config"]["layers"])
                data = json.dumps(config)
            if name == "model.weights.h5" and weights is not None:
                data = weights
            dst.writestr(name, data)
    return path


def _layer(layers, cls):
    return next(spec for spec in layers if spec["class_name"] == cls)["config"]


def _refused(path, match, **kwargs):
    with pytest.raises(FileFormatError, match=match) as info:
        load_model(path, **kwargs)
    assert str(path) in str(info.value)


@pytest.fixture
def conv_file(tmp_path):
    path = tmp_path / "conv.keras"
    _conv_model().save(path)
    return path


@pytest.mark.parametrize(
    "cls,key,value,match",
    [
        # Refused when the layer is made, as Keras's standardize_tuple refuses them.
        ("Conv2D", "strides", [0, 0], r"Conv2D\(strides=\.\.\.\) must be made of integers >= 1"),
        ("MaxPooling2D", "pool_size", [0, 0], r"MaxPooling2D\(pool_size=.*integers >= 1"),
        ("MaxPooling2D", "strides", [0, 0], r"MaxPooling2D\(strides=.*integers >= 1"),
        ("Conv2D", "kernel_size", [9, 9], r"zero or negative for layer 'c'"),
        ("Conv2D", "filters", -2, r"filters"),
    ],
)
def test_bad_layer_config_names_the_file(conv_file, tmp_path, cls, key, value, match):
    def edit(layers):
        _layer(layers, cls)[key] = value

    _refused(_rewrite_keras(conv_file, tmp_path / "bad.keras", edit), match)


def test_negative_input_dimension_names_the_file(conv_file, tmp_path):
    def edit(layers):
        _layer(layers, "InputLayer")["batch_shape"] = [None, -6, 6, 1]

    _refused(_rewrite_keras(conv_file, tmp_path / "neg.keras", edit), r"\(None, -6, 6, 1\)")


@pytest.mark.parametrize("units", [10**12, 50_000_000])
def test_absurd_units_fail_fast_before_allocating(tmp_path, units):
    good = tmp_path / "good.keras"
    _dense_model().save(good)

    def edit(layers):
        _layer(layers, "Dense")["units"] = units

    path = _rewrite_keras(good, tmp_path / "big.keras", edit)
    assert path.stat().st_size < 30_000
    start = time.monotonic()
    _refused(path, r"declares \d+ bytes of weights .*largest layer is 'd' \(Dense\).*budget")
    assert time.monotonic() - start < 10


def test_absurd_units_in_a_legacy_h5(tmp_path):
    path = tmp_path / "big.h5"
    _dense_model().save(path)
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        _layer(config["config"]["layers"], "Dense")["units"] = 10**9
        f.attrs["model_config"] = json.dumps(config)
    _refused(path, r"bytes of weights .*budget")


def test_weight_budget_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "ok.keras"
    model = _dense_model()
    model.save(path)
    assert np.array_equal(load_model(path).get_weights()[0], model.get_weights()[0])
    monkeypatch.setenv("LAMINA_MAX_WEIGHT_BYTES", "16")  # the model declares 32 bytes
    _refused(path, r"declares 32 bytes .* 16-byte budget \(LAMINA_MAX_WEIGHT_BYTES\)")
    monkeypatch.setenv("LAMINA_MAX_WEIGHT_BYTES", "lots")
    with pytest.raises(ValueError, match="LAMINA_MAX_WEIGHT_BYTES must be a positive number"):
        load_model(path)


def _weights_with_kernel(path, make_kernel):
    with h5py.File(path, "w") as f:
        g = f.create_group("layers/dense/vars")
        make_kernel(g)
        g.create_dataset("1", data=np.zeros(2, "float32"))
        f.create_group("vars")
    return path


@pytest.mark.parametrize(
    "name,make,match",
    [
        ("str", lambda g: g.create_dataset("0", data=np.full((3, 2), b"ab")), "holds strings"),
        (
            "vlen",
            lambda g: g.create_dataset(
                "0", data=np.array([["a", "b"]] * 3, dtype=object), dtype=h5py.string_dtype()
            ),
            "holds strings",
        ),
        (
            "compound",
            lambda g: g.create_dataset("0", data=np.zeros((3, 2), [("a", "f4"), ("b", "i4")])),
            r"holds records \(a compound type\)",
        ),
        (
            "complex",
            lambda g: g.create_dataset("0", data=np.ones((3, 2), "complex64") * 1j),
            "holds complex numbers",
        ),
        (
            "group",
            lambda g: g.create_group("0").create_dataset("x", data=[1.0]),
            r"'0' in .* should be a dataset .* but is a group",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isalpha() else "",
)
def test_bad_weight_dtypes_name_the_file(tmp_path, name, make, match):
    path = _weights_with_kernel(tmp_path / f"{name}.weights.h5", make)
    model = _dense_model()
    before = model.get_weights()
    with pytest.raises(FileFormatError, match=match) as info:
        model.load_weights(path)
    assert str(path) in str(info.value)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_unexpected_errors_during_load_name_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    _dense_model().save(path)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("integer division or modulo by zero")

    monkeypatch.setattr(lamina.saving.keras_archive, "restore_compile", broken)
    _refused(path, r"could not be loaded \(ZeroDivisionError")
