"""Model files of every model kind, against real Keras 3 both ways: functional, nested,
custom-layer and Lambda models in ``.keras``; functional models in ``.h5``; and a first layer
declaring its input in every way Keras allows (the seed's ``Dense(12, input_dim=8)``)."""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _x(n=12, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, features)).astype("float32")


def _functional(K):
    inputs = K.Input((4,), name="features")
    block = K.Sequential([K.Input((4,)), K.layers.Dense(5, activation="relu")], name="block")
    h = block(inputs)
    shared = K.layers.Dense(5, name="shared")
    h = shared(shared(h))
    h = K.layers.BatchNormalization()(h)
    return K.Model(inputs, K.layers.Dense(2, activation="softmax", name="out")(h))


def _custom_classes(K, package):
    @K.saving.register_keras_serializable(package=package)
    class Gate(K.layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.proj = K.layers.Dense(units)

        def build(self, input_shape):
            self.gate = self.add_weight(shape=(self.units,), initializer="ones", name="gate")

        def call(self, inputs):
            return self.proj(inputs) * K.ops.sigmoid(self.gate)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Gate


@pytest.mark.parametrize("kind", ["functional", "custom"])
def test_keras_files_move_both_ways(keras, tmp_path, kind):
    def build(K):
        if kind == "functional":
            return _functional(K)
        gate = _custom_classes(K, f"h2_{kind}")
        inputs = K.Input((4,))
        return K.Model(inputs, K.layers.Dense(1)(gate(3)(inputs)))

    x = _x()
    lm = build(lamina)
    lm.compile(optimizer="adam", loss="mse")
    lm.fit(x, x[:, :2] if kind == "functional" else x[:, :1], epochs=2, verbose=0)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        build(keras)  # registers the Keras twin of the custom class
        km = keras.models.load_model(path)
        assert [la.name for la in km.layers] == [la.name for la in lm.layers]
        np.testing.assert_allclose(km.predict(x, verbose=0), lm.predict(x, verbose=0), atol=1e-5)
        # The optimizer state traveled: Keras continues the same fit.
        assert int(km.optimizer.iterations) == 2  # two epochs of one batch
        back = os.fspath(tmp_path / "keras.keras")
        km.save(back)
        expected = km.predict(x, verbose=0)
    again = lamina.models.load_model(back)
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, atol=1e-5)
    assert [w.shape for w in again.weights] == [w.shape for w in lm.weights]


def test_functional_h5_loads_in_keras_and_back(keras, tmp_path):
    x = _x()
    lm = _functional(lamina)
    path = os.fspath(tmp_path / "model.h5")
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), lm.predict(x, verbose=0), atol=1e-5)
        back = os.fspath(tmp_path / "keras.h5")
        km.save(back)
        expected = km.predict(x, verbose=0)
    np.testing.assert_allclose(
        lamina.models.load_model(back).predict(x, verbose=0), expected, atol=1e-5
    )


def test_lambda_bytecode_is_never_run(keras, tmp_path):
    """A Python lambda is saved as bytecode. Keras refuses it in safe mode and runs it with
    ``safe_mode=False``; Lamina refuses it in both (it never runs code from a file) and loads
    it when ``custom_objects`` gives the function under the layer's name."""
    inputs = lamina.Input((4,))
    lm = lamina.Model(inputs, lamina.layers.Lambda(lambda t: t * 3.0 + 1.0, name="affine")(inputs))
    path = os.fspath(tmp_path / "lambda.keras")
    lm.save(path)
    message = "deserialization of a `Lambda` layer whose `function` is a Python lambda"
    with pytest.raises(ValueError, match=message):
        lamina.models.load_model(path)
    with keras_ref():
        with pytest.raises(ValueError, match=message):
            keras.models.load_model(path)
        km = keras.models.load_model(path, safe_mode=False)
        np.testing.assert_allclose(km.predict(_x(), verbose=0), _x() * 3.0 + 1.0, atol=1e-6)
        km.save(os.fspath(tmp_path / "keras.keras"))
    keras_file = os.fspath(tmp_path / "keras.keras")
    with pytest.raises(ValueError, match="never runs code from a file, not even with safe_mode"):
        lamina.models.load_model(keras_file, safe_mode=False)
    for safe_mode in (True, False):
        again = lamina.models.load_model(
            keras_file, safe_mode=safe_mode, custom_objects={"affine": lambda t: t * 3.0 + 1.0}
        )
        np.testing.assert_allclose(again.predict(_x(), verbose=0), _x() * 3.0 + 1.0, atol=1e-6)


def test_lambda_bytecode_planted_in_a_file_does_not_run(tmp_path):
    """A file whose Lambda bytecode would write a file when run: loading with
    ``safe_mode=False`` refuses it and nothing runs (Keras would run it)."""
    import base64
    import json
    import marshal
    import zipfile

    marker = tmp_path / "ran.txt"
    planted = eval(f"lambda t: (open({str(marker)!r}, 'w').write('x'), t)[1]")  # noqa: S307
    inputs = lamina.Input((4,))
    lamina.Model(inputs, lamina.layers.Lambda(lambda t: t, name="f")(inputs)).save(
        tmp_path / "ok.keras"
    )
    with zipfile.ZipFile(tmp_path / "ok.keras") as src:
        members = {n: src.read(n) for n in src.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            code = base64.encodebytes(marshal.dumps(planted.__code__)).decode("ascii")
            layer["config"]["function"]["config"]["code"] = code
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "planted.keras", "w") as dst:
        for n, data in members.items():
            dst.writestr(n, data)
    for kwargs in ({}, {"safe_mode": False}):
        with pytest.raises(ValueError, match="Lambda"):
            lamina.models.load_model(tmp_path / "planted.keras", **kwargs)
    model_json = json.dumps(config)
    with pytest.raises(ValueError, match="Lambda"):
        lamina.models.model_from_json(model_json)
    assert not marker.exists()


def test_lambda_naming_a_registered_function_loads_in_safe_mode(keras, tmp_path):
    """Keras loads a Lambda whose function is saved by name in safe mode; so does Lamina."""

    def triple(t):
        return t * 3.0

    inputs = lamina.Input((4,))
    lm = lamina.Model(inputs, lamina.layers.Lambda(triple)(inputs))
    lm.save(tmp_path / "named.keras")
    again = lamina.models.load_model(tmp_path / "named.keras", custom_objects={"triple": triple})
    np.testing.assert_allclose(again.predict(_x(), verbose=0), _x() * 3.0, atol=1e-6)
    with keras_ref():
        km = keras.models.load_model(tmp_path / "named.keras", custom_objects={"triple": triple})
        np.testing.assert_allclose(km.predict(_x(), verbose=0), _x() * 3.0, atol=1e-6)


FIRST_LAYERS = {
    "input_dim": lambda K: [K.layers.Dense(3, input_dim=4)],
    "input_shape": lambda K: [K.layers.Dense(3, input_shape=(4,))],
    "batch_input_shape": lambda K: [K.layers.Dense(3, batch_input_shape=(None, 4))],
    "batch_size_and_input_shape": lambda K: [K.layers.Dense(3, input_shape=(4,), batch_size=6)],
    "Input": lambda K: [K.Input((4,)), K.layers.Dense(3)],
    "InputLayer": lambda K: [K.layers.InputLayer(shape=(4,)), K.layers.Dense(3)],
    "add_then_build": None,
}


@pytest.mark.parametrize("way", sorted(FIRST_LAYERS))
@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_way_of_declaring_the_input_saves_a_file_keras_loads(keras, tmp_path, way, ext):
    if way == "add_then_build":
        model = lamina.Sequential([lamina.layers.Dense(3)])
        model.build((None, 4))
    else:
        model = lamina.Sequential(FIRST_LAYERS[way](lamina) + [lamina.layers.Dense(1)])
    if way != "add_then_build":
        model.add(lamina.layers.Activation("sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    path = os.fspath(tmp_path / f"model{ext}")
    model.save(path)
    x = _x()
    with keras_ref():
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(
        lamina.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_sequential_holding_models_moves_both_ways(keras, tmp_path):
    def build(K):
        inputs = K.Input((4,))
        base = K.Model(inputs, K.layers.Dense(3, activation="relu")(inputs))
        head = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
        return K.Sequential([base, head, K.layers.Dense(1)])

    x = _x()
    lm = build(lamina)
    path = os.fspath(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        km = keras.models.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), lm.predict(x, verbose=0), atol=1e-6)
        km.save(os.fspath(tmp_path / "keras.keras"))
    again = lamina.models.load_model(os.fspath(tmp_path / "keras.keras"))
    assert [type(la).__name__ for la in again.layers] == ["Functional", "Sequential", "Dense"]
    np.testing.assert_allclose(again.predict(x, verbose=0), lm.predict(x, verbose=0), atol=1e-6)
