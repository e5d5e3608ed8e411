"""Activations: numeric parity with ``keras.activations`` and name lookup."""

import inspect

import jax.numpy as jnp
import numpy as np
import pytest

from lamina import activations
from tests.helpers import keras_ref

LARGE = np.array([-1e4, -500.0, -88.0, -30.0, -6.0, -3.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 3.0, 6.0])
LARGE = np.concatenate([LARGE, -LARGE[:-1], [30.0, 88.0, 500.0]]).astype("float32")

SIMPLE = [
    name
    for name in activations.ALL_OBJECTS_DICT
    if name not in ("threshold", "glu")  # need extra arguments / an even axis
]


def _inputs(rng):
    normal = (rng.standard_normal((4, 10)) * 5).astype("float32")
    return [normal, LARGE.reshape(2, -1)]


def _check(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SIMPLE)
def test_matches_keras(keras, rng, name):
    for x in _inputs(rng):
        with keras_ref():
            expected = keras.activations.get(name)(x)
        _check(activations.get(name)(jnp.asarray(x)), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"negative_slope": 0.1},
        {"max_value": 6.0},
        {"max_value": 2.5},
        {"threshold": 0.5},
        {"negative_slope": 0.3, "max_value": 4.0},
        {"negative_slope": 0.3, "threshold": -1.0},
        {"negative_slope": 0.2, "max_value": 6, "threshold": 1.0},
    ],
)
def test_relu_arguments(keras, rng, kwargs):
    for x in _inputs(rng):
        with keras_ref():
            expected = keras.activations.relu(x, **kwargs)
        _check(activations.relu(jnp.asarray(x), **kwargs), expected)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("elu", {"alpha": 0.5}),
        ("celu", {"alpha": 2.0}),
        ("leaky_relu", {"negative_slope": 0.01}),
        ("gelu", {"approximate": True}),
        ("softmax", {"axis": 0}),
        ("log_softmax", {"axis": 0}),
        ("glu", {}),
        ("glu", {"axis": 0}),
        ("threshold", {"threshold": 0.5, "default_value": -2.0}),
        ("soft_shrink", {"threshold": 1.0}),
        ("hard_shrink", {"threshold": 1.0}),
        ("squareplus", {"b": 2}),
        ("sparsemax", {"axis": 0}),
    ],
)
def test_arguments_match_keras(keras, rng, name, kwargs):
    for x in _inputs(rng):
        with keras_ref():
            expected = getattr(keras.activations, name)(x, **kwargs)
        _check(getattr(activations, name)(jnp.asarray(x), **kwargs), expected)


def test_defaults_match_keras(keras):
    import inspect

    for name in activations.ALL_OBJECTS_DICT:
        ours = inspect.signature(getattr(activations, name)).parameters
        theirs = inspect.signature(getattr(keras.activations, name)).parameters
        assert [(p.name, p.default) for p in ours.values()] == [
            (p.name, p.default) for p in theirs.values()
        ], name


def test_aliases_and_hard_sigmoid():
    assert activations.swish is activations.silu
    assert activations.hard_swish is activations.hard_silu
    x = jnp.linspace(-5.0, 5.0, 11)
    _check(activations.hard_sigmoid(x), jnp.clip(x + 3.0, 0.0, 6.0) / 6.0)
    assert inspect.signature(activations.gelu).parameters["approximate"].default is False


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.get({"class_name": "function", "config": "tanh"}) is activations.tanh
    assert activations.get({"class_name": "elu", "config": {}}) is activations.elu
    with pytest.raises(TypeError):
        activations.get(3)


def test_unknown_name_error():
    with pytest.raises(ValueError, match="Did you mean 'relu'"):
        activations.get("rellu")
    with pytest.raises(ValueError, match="Unknown activation"):
        activations.get("Relu_xyz_unknown")
    with pytest.raises(ValueError):
        activations.get("ReLU")  # case-sensitive, like Keras


@pytest.mark.slow
def test_serialize_roundtrip(keras):
    for name, fn in activations.ALL_OBJECTS_DICT.items():
        assert activations.deserialize(activations.serialize(fn)) is fn
        with keras_ref():
            assert activations.serialize(fn) == keras.activations.serialize(
                keras.activations.get(name)
            )
        with keras_ref():
            config = keras.saving.serialize_keras_object(keras.activations.get(name))
        assert activations.deserialize(config) is fn

    def my_act(x):
        return x

    with keras_ref():  # Keras 3's function entry, not the bare name
        expected = keras.activations.serialize(my_act)
    assert activations.serialize(my_act) == expected
