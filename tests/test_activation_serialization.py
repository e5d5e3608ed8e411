"""Activations that are not built-in functions, serialized as Keras 3 serializes them.

* A layer used as an activation (``Dense(2, activation=LeakyReLU(0.2))``) is written as the
  layer's own config (``{"module": "keras.layers", "class_name": "LeakyReLU", ...}``) and read
  back as that layer, in ``get_config``/``from_config`` and in ``.keras`` files both ways.
* A user function is written as Keras's function entry naming its registered name
  (``register_keras_serializable(package="pkg", name="f")`` -> ``"pkg>f"``), else its
  ``__name__``; Keras's files and Lamina's older ones (the bare ``__name__``) load back.
* A layer with weights (``PReLU``) as an activation: Keras trains and saves its weights as a
  sub-layer's; Lamina's layers cannot carry them yet, so Lamina refuses it with a clear error
  rather than running (and loading Keras's files) with weights that never train or load.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.linspace(-2.0, 2.0, 12, dtype="float32").reshape(4, 3)

#: Activation layers as users write them: (class name, constructor kwargs).
LAYER_CASES = [
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("ReLU", {"max_value": 6}),
    ("ReLU", {"negative_slope": 0.1, "threshold": 0.5}),
    ("Activation", {"activation": "relu"}),
    ("Activation", {"activation": "tanh"}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5}),
    ("Softmax", {}),
]
LAYER_IDS = [f"{name}-{'-'.join(map(str, kw.values())) or 'default'}" for name, kw in LAYER_CASES]


def _normalized(config):
    """A config with Keras's ``dtype`` policy dicts written as Lamina's policy name (Lamina
    writes ``"float32"``; both load either)."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return config["config"]["name"]
        return {k: _normalized(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [_normalized(v) for v in config]
    return config


def _act_layer(lib, name, kwargs):
    return getattr(lib.layers, name)(name="act", **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), LAYER_CASES, ids=LAYER_IDS)
def test_layer_activation_config_equals_keras(keras, name, kwargs):
    dense = lamina.layers.Dense(2, activation=_act_layer(lamina, name, kwargs), name="d")
    config = dense.get_config()
    with keras_ref():
        expected = keras.layers.Dense(2, activation=_act_layer(keras, name, kwargs), name="d")
        expected = expected.get_config()
    assert _normalized(config) == _normalized(expected)
    assert config["activation"]["registered_name"] is None
    # Each library reads the other's config back to the same activation layer.
    rebuilt = lamina.layers.Dense.from_config(expected)
    assert type(rebuilt.activation).__name__ == name
    assert _normalized(rebuilt.get_config()) == _normalized(expected)
    with keras_ref():
        theirs = keras.layers.Dense.from_config(config)
        assert type(theirs.activation).__name__ == name
        assert _normalized(theirs.get_config()) == _normalized(expected)


def _dense_model(lib, activation):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, activation=activation)])


def _twins(keras, activation_of):
    """The same model in Keras and in Lamina, with Keras's weights copied into Lamina's."""
    with keras_ref():
        theirs = _dense_model(keras, activation_of(keras))
        weights = theirs.get_weights()
    ours = _dense_model(lamina, activation_of(lamina))
    ours.set_weights(weights)
    return ours, theirs


def _predict(model, lib, keras):
    if lib == "keras":
        with keras_ref():
            return model.predict(X, verbose=0)
    return model.predict(X, verbose=0)


@pytest.mark.parametrize("writer", ["lamina", "keras"])
@pytest.mark.parametrize(("name", "kwargs"), LAYER_CASES, ids=LAYER_IDS)
def test_layer_activation_keras_file_both_ways(keras, tmp_path, writer, name, kwargs):
    ours, theirs = _twins(keras, lambda lib: _act_layer(lib, name, kwargs))
    want = _predict(theirs, "keras", keras)
    np.testing.assert_allclose(_predict(ours, "lamina", keras), want, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "m.keras")
    if writer == "lamina":
        ours.save(path)
    else:
        with keras_ref():
            theirs.save(path)
    loaded = lamina.models.load_model(path)
    assert type(loaded.layers[0].activation).__name__ == name
    np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    with keras_ref():
        loaded = keras.models.load_model(path)
        assert type(loaded.layers[0].activation).__name__ == name
        got = loaded.predict(X, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_layer_activation_trains_and_reloads(tmp_path):
    """The model trains with the layer as its activation, and its file reloads that layer."""
    model = _dense_model(lamina, lamina.layers.LeakyReLU(0.2))
    model.compile("sgd", "mse")
    model.fit(X, np.ones((4, 2), "float32"), epochs=2, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.layers[0].activation.negative_slope == pytest.approx(0.2)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_keras2_layer_activation_entry_loads():
    """Keras 2 wrote an activation layer without a ``module``."""
    entry = {"class_name": "LeakyReLU", "config": {"name": "lr", "negative_slope": 0.25}}
    layer = lamina.activations.deserialize(entry)
    assert isinstance(layer, lamina.layers.LeakyReLU)
    assert layer.negative_slope == 0.25


def test_prelu_config_equals_keras(keras):
    layer = lamina.layers.PReLU(name="act")
    with keras_ref():
        expected = keras.activations.serialize(keras.layers.PReLU(name="act"))
    assert _normalized(lamina.activations.serialize(layer)) == _normalized(expected)


def test_layer_with_weights_as_activation_loads_its_weights(keras, tmp_path):
    """Keras tracks ``PReLU``'s ``alpha`` under ``dense/activation``; Lamina reads it from
    there (a file's trained ``alpha`` is not dropped) and gives Keras's outputs."""
    path = str(tmp_path / "prelu.keras")
    with keras_ref():
        model = _dense_model(keras, keras.layers.PReLU())
        model(X)  # builds alpha, as Keras does on the first call
        model.layers[0].activation.alpha.assign(np.array([0.3, 0.5], "float32"))
        model.save(path)
        expected = np.asarray(model(X))
    ours = lamina.models.load_model(path)
    np.testing.assert_allclose(np.asarray(ours.layers[0].activation.alpha), [0.3, 0.5])
    np.testing.assert_allclose(ours.predict(X, verbose=0), expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ user functions
def _softplus2(z):
    return jax.nn.softplus(z)


def _plain_double(z):
    return 2.0 * z


_PACKAGE, _NAME = "lamina_test_act", "sp2"
lamina.saving.register_keras_serializable(package=_PACKAGE, name=_NAME)(_softplus2)


@pytest.fixture
def keras_registered(keras):
    """Keras with ``_softplus2`` registered as Lamina has it (``lamina_test_act>sp2``)."""
    registered = f"{_PACKAGE}>{_NAME}"
    if keras.saving.get_registered_object(registered) is None:
        keras.saving.register_keras_serializable(package=_PACKAGE, name=_NAME)(_softplus2)
    return keras


@pytest.mark.parametrize("fn", [_softplus2, _plain_double], ids=["registered", "plain"])
@pytest.mark.parametrize("layer", ["Dense", "Conv1D", "SimpleRNN", "EinsumDense"])
def test_function_activation_config_equals_keras(keras_registered, fn, layer):
    args = {"Dense": (2,), "Conv1D": (2, 3), "SimpleRNN": (2,), "EinsumDense": ("ab,bc->ac", 2)}
    config = getattr(lamina.layers, layer)(*args[layer], activation=fn).get_config()
    with keras_ref():
        made = getattr(keras_registered.layers, layer)(*args[layer], activation=fn)
        expected = made.get_config()["activation"]
    assert config["activation"] == expected
    assert lamina.activations.serialize(fn) == expected
    if fn is _softplus2:
        assert expected["config"] == f"{_PACKAGE}>{_NAME}"


@pytest.mark.parametrize("fn", [_softplus2, _plain_double], ids=["registered", "plain"])
def test_function_activation_file_both_ways(keras_registered, tmp_path, fn):
    """Each library loads the other's file (and its own) with the same predictions: a
    registered function through its registration, a plain one through ``custom_objects``."""
    keras = keras_registered
    ours, theirs = _twins(keras, lambda lib: fn)
    want = _predict(theirs, "keras", keras)
    custom = None if fn is _softplus2 else {fn.__name__: fn}
    for writer in ("lamina", "keras"):
        path = str(tmp_path / f"{writer}.keras")
        if writer == "lamina":
            ours.save(path)
        else:
            with keras_ref():
                theirs.save(path)
        loaded = lamina.models.load_model(path, custom_objects=custom)
        assert loaded.layers[0].activation is fn, writer
        np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
        with keras_ref():
            loaded = keras.models.load_model(path, custom_objects=custom)
            assert loaded.layers[0].activation is fn, writer
            got = loaded.predict(X, verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_older_lamina_config_with_registered_function_name_loads():
    """Lamina used to write a registered function's ``__name__`` (``"_softplus2"``), which is
    not its registered name: such configs still load."""
    config = lamina.layers.Dense(2, name="old").get_config()
    config["activation"] = "_softplus2"
    assert lamina.layers.Dense.from_config(config).activation is _softplus2
    assert lamina.activations.get("_softplus2") is _softplus2
    with pytest.raises(ValueError, match="Unknown activation"):
        lamina.activations.get("_no_such_function_anywhere")
