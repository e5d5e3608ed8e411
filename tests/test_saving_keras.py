"""Files move both ways between Keras 3 and Lamina: .keras, .weights.h5 and legacy .h5.

Each test saves with one library, loads with the other and compares predictions (and, for
compiled models, the next epoch's loss, which needs the optimizer state to survive).
"""

import json
import warnings

import numpy as np
import pytest

import lamina
from lamina.models import load_model, model_from_json
from tests.helpers import keras_ref

RTOL, ATOL = 2e-4, 2e-5


def _data(n=40, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


def _keras_dense(keras, compiled=True):
    x, y = _data()
    with keras_ref():
        km = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(6, activation="relu", name="hidden"),
                keras.layers.Dense(1, name="out"),
            ]
        )
        if compiled:
            km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
            km.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return km, x, y


def _lamina_dense(compiled=True):
    x, y = _data()
    lm = lamina.models.Sequential(
        [
            lamina.layers.Input((4,)),
            lamina.layers.Dense(6, activation="relu", name="hidden"),
            lamina.layers.Dense(1, name="out"),
        ]
    )
    lm.build((None, 4))
    if compiled:
        lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        lm.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return lm, x, y


def _kpredict(km, x):
    with keras_ref():
        return np.asarray(km.predict(x, verbose=0))


def _next_epoch(km, lm, x, y):
    with keras_ref():
        kh = km.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    lh = lm.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lh["mae"], kh["mae"], rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ Keras -> Lamina
def test_keras_archive_loads_and_continues_training(keras, tmp_path):
    km, x, y = _keras_dense(keras)
    path = tmp_path / "k.keras"
    with keras_ref():
        km.save(path)
    lm = load_model(path)
    assert [la.name for la in lm.layers] == ["hidden", "out"]
    np.testing.assert_allclose(lm.predict(x, verbose=0), _kpredict(km, x), rtol=1e-6, atol=1e-6)
    assert int(lamina.optimizers.get_iterations(lm._train_state.opt_state)) == 5
    _next_epoch(km, lm, x, y)


def test_keras_weights_h5_loads(keras, tmp_path):
    km, x, y = _keras_dense(keras)
    path = tmp_path / "k.weights.h5"
    with keras_ref():
        km.save_weights(path)
    lm, _, _ = _lamina_dense(compiled=False)
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    lm.load_weights(path)
    np.testing.assert_allclose(lm.predict(x, verbose=0), _kpredict(km, x), rtol=1e-6, atol=1e-6)
    _next_epoch(km, lm, x, y)


def test_keras_legacy_h5_loads(keras, tmp_path):
    km, x, y = _keras_dense(keras)
    path = tmp_path / "k.h5"
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km.save(path)
    lm = load_model(path)
    np.testing.assert_allclose(lm.predict(x, verbose=0), _kpredict(km, x), rtol=1e-6, atol=1e-6)
    assert type(lm.optimizer).__name__ == "Adam"
    _next_epoch(km, lm, x, y)


# ------------------------------------------------------------------ Lamina -> Keras
def test_lamina_archive_loads_in_keras_and_continues(keras, tmp_path):
    lm, x, y = _lamina_dense()
    path = tmp_path / "l.keras"
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
        assert int(km.optimizer.iterations) == 5
    np.testing.assert_allclose(_kpredict(km, x), lm.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    _next_epoch(km, lm, x, y)


def test_lamina_weights_h5_loads_in_keras(keras, tmp_path):
    lm, x, y = _lamina_dense()
    path = tmp_path / "l.weights.h5"
    lm.save_weights(path)
    km, _, _ = _keras_dense(keras)
    with keras_ref():
        km.load_weights(path)
    np.testing.assert_allclose(_kpredict(km, x), lm.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    _next_epoch(km, lm, x, y)


def test_lamina_legacy_h5_loads_in_keras(keras, tmp_path):
    lm, x, _ = _lamina_dense()
    path = tmp_path / "l.h5"
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
    np.testing.assert_allclose(_kpredict(km, x), lm.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    again = load_model(path)  # and back into Lamina, optimizer state included
    np.testing.assert_array_equal(again.predict(x, verbose=0), lm.predict(x, verbose=0))
    assert int(lamina.optimizers.get_iterations(again._train_state.opt_state)) == 5


# ------------------------------------------------------------------ Lamina <-> Lamina
@pytest.mark.slow
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_roundtrip_resumes_bit_identical(tmp_path, ext):
    lm, x, y = _lamina_dense()
    path = tmp_path / f"m{ext}"
    lm.save(path)
    again = load_model(path)
    lm.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    again.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(lm.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_without_extension_writes_archive_with_warning(tmp_path):
    lm, x, _ = _lamina_dense()
    path = tmp_path / "model"
    with pytest.warns(UserWarning, match="no .keras extension"):
        lm.save(path)
    assert path.exists() and path.read_bytes()[:2] == b"PK"
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0), lm.predict(x, verbose=0))


def test_load_weights_by_name_and_skip_mismatch(tmp_path):
    lm, x, _ = _lamina_dense(compiled=False)
    path = tmp_path / "w.h5"
    lm.save_weights(path)
    other = lamina.models.Sequential(
        [
            lamina.layers.Input((4,)),
            lamina.layers.Dense(6, activation="relu", name="hidden"),
            lamina.layers.Dense(3, name="new_head"),
        ]
    )
    other.build((None, 4))
    other.load_weights(path, by_name=True)  # "new_head" is not in the file: untouched
    np.testing.assert_array_equal(other.get_weights()[0], lm.get_weights()[0])
    with pytest.raises(ValueError, match="w.h5"):
        other.load_weights(path)  # by order: "out" (6, 1) does not fit "new_head" (6, 3)
    with pytest.warns(UserWarning, match="Skipping"):
        other.load_weights(path, skip_mismatch=True)


def test_json_roundtrip_with_keras(keras):
    lm, _, _ = _lamina_dense(compiled=False)
    text = lm.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    with keras_ref():
        km = keras.models.model_from_json(text)
        back = km.to_json()
    assert [la.name for la in km.layers] == ["hidden", "out"]
    assert [la.name for la in model_from_json(back).layers] == ["hidden", "out"]


# ------------------------------------------------------------------ other layer families
def _stack(m, case):
    L = m.layers
    if case == "conv":
        return (8, 8, 2), [
            L.Conv2D(3, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(2),
        ]
    if case == "batchnorm":
        return (5,), [L.Dense(4), L.BatchNormalization(), L.Dense(1)]
    if case in ("LSTM", "GRU", "SimpleRNN"):
        return (6, 3), [getattr(L, case)(4), L.Dense(1)]
    if case == "bidirectional":
        return (6, 3), [L.Bidirectional(L.LSTM(3)), L.Dense(1)]
    if case == "embedding":
        return (5,), [L.Embedding(10, 3), L.GlobalAveragePooling1D(), L.Dense(1)]
    if case == "time_distributed":
        return (6, 3), [L.TimeDistributed(L.Dense(2)), L.Flatten(), L.Dense(1)]
    raise AssertionError(case)


NEEDS = {
    "conv": ["Conv2D", "MaxPooling2D"],
    "batchnorm": ["BatchNormalization"],
    "LSTM": ["LSTM"],
    "GRU": ["GRU"],
    "SimpleRNN": ["SimpleRNN"],
    "bidirectional": ["Bidirectional", "LSTM"],
    "embedding": ["Embedding", "GlobalAveragePooling1D"],
    "time_distributed": ["TimeDistributed"],
}


SLOW = {"LSTM", "GRU", "SimpleRNN", "bidirectional"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in NEEDS]
)
def test_layer_families_both_ways(keras, tmp_path, case):
    missing = [n for n in NEEDS[case] if not hasattr(lamina.layers, n)]
    if missing:
        pytest.skip(f"lamina.layers lacks {missing}")
    shape, _ = _stack(keras, case)
    rng = np.random.default_rng(0)
    x = (
        rng.integers(0, 10, (16, *shape)).astype("float32")
        if case == "embedding"
        else rng.normal(size=(16, *shape)).astype("float32")
    )
    y = rng.normal(size=(16, 2 if case == "conv" else 1)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), *_stack(keras, case)[1]])
        km.compile(optimizer="adam", loss="mse")
        km.fit(x, y, epochs=1, batch_size=8, verbose=0)  # BN moving stats move off their init
        km.save(tmp_path / "k.keras")
    lm = load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(lm.predict(x, verbose=0), _kpredict(km, x), rtol=1e-4, atol=1e-5)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        k2 = keras.models.load_model(tmp_path / "l.keras")
    np.testing.assert_allclose(_kpredict(k2, x), _kpredict(km, x), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ ONNX
def test_onnx_export_matches_predict(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    L = lamina.layers
    model = lamina.models.Sequential(
        [
            L.Input((2, 3)),
            L.Flatten(),
            L.Dense(5, activation="relu"),
            L.Dropout(0.5),
            L.Reshape((5, 1)),
            L.Flatten(),
            L.Dense(4),
            L.Activation("tanh"),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.build((None, 2, 3))
    model.compile(loss="mse")  # predict() on an uncompiled model currently needs compile()
    path = tmp_path / "m.onnx"
    model.export(path)
    x = np.random.default_rng(0).normal(size=(7, 2, 3)).astype("float32")
    out = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_onnx_export_unsupported_layer_names_it(tmp_path):
    pytest.importorskip("onnx")
    if not hasattr(lamina.layers, "UpSampling1D"):
        pytest.skip("no UpSampling1D")
    model = lamina.models.Sequential(
        [lamina.layers.Input((3, 2)), lamina.layers.UpSampling1D(name="up")]
    )
    with pytest.raises(ValueError, match="'up'"):
        model.export(tmp_path / "m.onnx")
