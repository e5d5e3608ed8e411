"""Functional models whose graph holds ops on symbolic tensors (``x + 3.0``, ``x[:, :1]``,
``ops.concatenate``) are saved and loaded as Keras 3 does: ``get_config`` equals Keras's for the
same graph, and ``.keras`` files move both ways with the same predictions. A file naming an op
Lamina does not know, or any other module, is refused without importing anything."""

import builtins
import importlib
import json
import os
import sys
import zipfile

import numpy as np
import pytest

import lamina
from lamina import ops as lops
from lamina._naming import reset_uids
from tests import _applications_ref as ref
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _graph(K, ops):
    """The same graph in Keras and Lamina: dunder ops, indexing and ``ops.*`` functions."""
    x = K.Input((4, 6), name="x")
    h = K.layers.Dense(6, name="proj")(x)
    hard = K.layers.ReLU(6.0, name="relu6")(h + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    b = -hard + x[:, :, :1] - 2.0 * x[:, 1:3:2, -1:]
    c = ops.concatenate([b, x], axis=-1)
    d = ops.mean(c, axis=1, keepdims=True)
    e = ops.squeeze(d, axis=1) ** 2 / 3.0 - 1.0
    f = ops.where((e > 0.1) & ~(e > 2.0), ops.exp(e), abs(e))
    parts = ops.split(c, 2, axis=-1)
    g = ops.sum(parts[1], axis=(1, 2), keepdims=False)
    t = ops.transpose(x, (0, 2, 1))[..., None, 0]
    m = ops.matmul(x, ops.transpose(x, (0, 2, 1))) @ ops.ones((4, 2))
    s = ops.stack([ops.max(x, axis=-1), ops.min(x, axis=-1)], axis=1)
    r = ops.reshape(ops.expand_dims(x, 1), (-1, 24))
    k = ops.one_hot(ops.cast(ops.argmax(x, axis=-1), "int32"), 6)
    z = ops.take(ops.cumsum(x, axis=1), [0, 2], axis=2)
    act = ops.softmax(ops.gelu(x, approximate=False), axis=1) + ops.sigmoid(ops.relu(x))
    u = ops.sqrt(ops.square(x) + 1.0) * ops.log(ops.clip(ops.abs(x), 0.1, 2.0))
    v = ops.maximum(ops.tanh(x), 0.25) // 0.1 % 3.0 + ops.minimum(x, 1 - x)
    return K.Model(x, [f, g, t, m, s, r, k, z, act, u, v])


def _both(keras):
    keras.backend.clear_session(free_memory=False)  # the same automatic names on both sides
    reset_uids()
    with keras_ref():
        km = _graph(keras, keras.ops)
    lm = _graph(lamina, lops)
    lm.set_weights(km.get_weights())
    return km, lm


def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(3, 4, 6)).astype("float32")


def _assert_same(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a, "float32"), np.asarray(b, "float32"), atol=1e-5)


def _by_name(config):
    return {entry["name"]: entry for entry in json.loads(json.dumps(config))["layers"]}


def test_get_config_equals_keras(keras):
    km, lm = _both(keras)
    kc, lc = _by_name(km.get_config()), _by_name(lm.get_config())
    assert sorted(kc) == sorted(lc)
    ops_seen = set()
    for name, want in kc.items():
        got = lc[name]
        assert got["inbound_nodes"] == want["inbound_nodes"], name  # tensors, constants, slices
        if want["module"].startswith("keras.src.ops."):  # the whole op entry
            assert got == want, name
            ops_seen.add(want["class_name"])
    assert {"Add", "Multiply", "GetItem", "Concatenate", "Mean", "Where", "LogicalNot", "Matmul",
            "OneHot", "Gelu", "Absolute", "FloorDivide", "Mod", "Subtract"} <= ops_seen  # fmt: skip
    for key in ("input_layers", "output_layers"):
        assert lm.get_config()[key] == km.get_config()[key]


def test_op_outputs_carry_keras_dtypes_and_names(keras):
    x = lamina.Input((3,), name="x")
    assert (x > 0).dtype == "bool"
    assert lops.cast(x, "int32").dtype == "int32"
    assert lops.argmax(x, axis=-1).dtype == "int32"
    a, b = x + 1.0, x + 2.0
    assert [a._keras_history[0].name[:3], b._keras_history[0].name[:4]] == ["add", "add_"]


def test_lamina_file_loads_in_keras_and_back(keras, tmp_path):
    km, lm = _both(keras)
    x = _x()
    want = lm.predict(x, verbose=0)
    with keras_ref():
        _assert_same(km.predict(x, verbose=0), want)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        loaded = keras.models.load_model(path)
        _assert_same(loaded.predict(x, verbose=0), want)
        back = os.fspath(tmp_path / "keras.keras")
        km.save(back)
    again = lamina.models.load_model(back)
    _assert_same(again.predict(x, verbose=0), want)
    # Read back, the graph writes the same config again (the file's op names are kept).
    assert _by_name(again.get_config()) == _by_name(lamina.models.load_model(path).get_config())
    assert _by_name(again.get_config())["get_item"]["class_name"] == "GetItem"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("MobileNetV3Small", dict(pooling="avg")),  # hard_swish: x * (ReLU(6)(x + 3) / 6)
        ("ConvNeXtTiny", dict(pooling="avg")),  # residual adds; Keras's own LayerScale layer
    ],
)
def test_application_files_move_both_ways(keras, tmp_path, name, kw):
    kw = dict(weights=None, input_shape=(32, 32, 3), include_top=False, **kw)
    with keras_ref():
        ker = getattr(keras.applications, name)(**kw)
    lam = getattr(lamina.applications, name)(**kw)
    x, want = ref.assert_same_predictions(lam, ker, (32, 32, 3))
    ours, theirs = os.fspath(tmp_path / "lamina.keras"), os.fspath(tmp_path / "keras.keras")
    lam.save(ours)
    with keras_ref():
        loaded = keras.models.load_model(ours)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)
        ker.save(theirs)
    again = lamina.models.load_model(theirs)
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def _file_config(entry):
    """A functional config: Input ``x`` -> ``entry`` (one op or layer entry) -> output."""
    x = {"class_name": "__keras_tensor__",
         "config": {"shape": [None, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}  # fmt: skip
    return {
        "name": "m",
        "trainable": True,
        "layers": [
            {
                "module": "keras.layers",
                "class_name": "InputLayer",
                "name": "x",
                "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "x"},
                "registered_name": None,
                "inbound_nodes": [],
            },  # fmt: skip
            {**entry, "name": "bad", "inbound_nodes": [{"args": [x, 1.0], "kwargs": {}}]},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["bad", 0, 0]],
    }


def test_keras_op_entry_from_a_file_is_rebuilt():
    entry = {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "bad"},
             "registered_name": "Add"}  # fmt: skip
    model = lamina.Model.from_config(_file_config(entry))
    np.testing.assert_allclose(model.predict(np.ones((2, 3), "float32"), verbose=0), 2.0)
    assert _by_name(model.get_config())["bad"]["config"] == {"name": "bad"}
    assert [layer.name for layer in model.layers] == ["x"]  # Keras lists no ops


@pytest.mark.parametrize(
    ("module", "class_name"),
    [
        ("keras.src.ops.numpy", "FooBar"),  # an op class Lamina does not know
        ("keras.src.ops.lamina_evil_ops", "Run"),
        ("os", "system"),
        ("builtins", "eval"),
        ("lamina_evil_payload", "Run"),
    ],
)
def test_unknown_ops_and_modules_are_refused_without_imports(monkeypatch, module, class_name):
    imported = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def spy_module(name, *args, **kwargs):
        imported.append(name)
        return real_import_module(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", spy)
    monkeypatch.setattr(importlib, "import_module", spy_module)
    entry = {"module": module, "class_name": class_name, "config": {"name": "bad"},
             "registered_name": class_name}  # fmt: skip
    with pytest.raises(ValueError, match=class_name):
        lamina.Model.from_config(_file_config(entry))
    assert module not in imported and not any(n.startswith("keras") for n in imported)
    assert "lamina_evil_payload" not in sys.modules


def test_unknown_op_in_a_keras_file_names_the_class(tmp_path):
    x = lamina.Input((3,), name="x")
    path = os.fspath(tmp_path / "m.keras")
    lamina.Model(x, x * 2.0).save(path)
    edited = os.fspath(tmp_path / "edited.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b'"class_name": "Multiply"', b'"class_name": "SecretOp"')
            dst.writestr(item, data)
    with pytest.raises(ValueError, match="'SecretOp'.*cannot rebuild"):
        lamina.models.load_model(edited)


def test_ops_keras_cannot_write_raise_a_clear_error():
    x = lamina.Input((4,), name="x")
    model = lamina.Model(x, lops.reshape(x, np.array([-1, 2, 2])) + 1.0)  # array newshape
    with pytest.raises(NotImplementedError, match="newshape=.*is not a plain value"):
        model.get_config()
    model = lamina.Model(x, lamina.losses.mean_squared_error(x, x + 1.0))
    with pytest.raises(NotImplementedError, match="mean_squared_error.*cannot be saved"):
        model.get_config()


def test_model_layers_lists_the_layers_not_the_ops(keras, tmp_path):
    """Keras's ``model.layers`` holds only layers (``Functional.layers`` filters its
    operations), so ``model.layers[i]`` indexes the same layer; weights files move both ways,
    legacy ``.h5`` ones with the ops left out of ``layer_names`` as Keras leaves them."""
    import h5py

    km, lm = _both(keras)
    assert [la.name for la in lm.layers] == [la.name for la in km.layers]
    assert lm.get_layer(index=1).name == km.get_layer(index=1).name == "proj"
    with keras_ref():
        km.save_weights(str(tmp_path / "k.weights.h5"))
        km.save(str(tmp_path / "k.h5"))  # Keras cannot load it back (op classes), only weights
        expected = km.predict(_x(1), verbose=0)
    lm.set_weights([w * 0 for w in lm.get_weights()])
    lm.load_weights(str(tmp_path / "k.weights.h5"))
    _assert_same(lm.predict(_x(1), verbose=0), expected)
    lm.set_weights([w * 0 for w in lm.get_weights()])
    lm.load_weights(str(tmp_path / "k.h5"))
    _assert_same(lm.predict(_x(1), verbose=0), expected)
    lm.save(str(tmp_path / "l.h5"))
    with h5py.File(tmp_path / "l.h5") as f:
        names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
    assert names == [la.name for la in km.layers]
    with keras_ref():
        km.set_weights([w * 0 for w in km.get_weights()])
        km.load_weights(str(tmp_path / "l.h5"))
        _assert_same(km.predict(_x(1), verbose=0), expected)
