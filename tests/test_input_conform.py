"""Inputs as Keras feeds them: each array converted to its ``Input``'s dtype (integers stay
exact for an integer ``Input``) and an array one rank off an ``Input((..., 1))`` reshaped
(Keras's ``Functional._adjust_input_rank``), in fit, evaluate, predict and ``model(x)``."""

import os

import numpy as np
import pytest

import lamina
from lamina import layers
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _take_model(keras):
    """An integer ``Input`` whose values index a table (floats could not index it)."""
    inp = keras.Input((2,), dtype="int32", name="ids")
    out = keras.layers.Lambda(lambda t: keras.ops.take(keras.ops.arange(40.0) * 0.5, t))(inp)
    return keras.Model(inp, keras.layers.Dense(1, name="head")(out))


def test_integer_input_receives_integers_in_every_entry_point():
    m = _take_model(lamina)
    m.compile("sgd", "mse")
    x = np.array([[1, 3], [5, 39], [0, 2]], np.int64)
    w, b = (np.asarray(a) for a in m.get_layer("head").get_weights())
    expected = (x * 0.5) @ w + b
    np.testing.assert_allclose(m.predict(x, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(m(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(m.predict_on_batch(x), expected, rtol=1e-6)
    m.fit(x, np.zeros((3, 1)), epochs=1, verbose=0)
    assert np.isfinite(m.evaluate(x, np.zeros((3, 1)), verbose=0))


def test_large_integers_are_not_rounded_through_float32():
    inp = lamina.Input((1,), dtype="int32")
    m = lamina.Model(inp, layers.Lambda(lambda t: t % 7)(inp))
    x = np.array([[16_777_217], [16_777_219]])  # not representable in float32
    np.testing.assert_array_equal(m.predict(x, verbose=0).ravel(), x.ravel() % 7)


def test_integers_beyond_int32_are_refused_with_the_fix():
    m = _take_model(lamina)
    with pytest.raises(ValueError, match="outside int32's range.*Map the values"):
        m.predict(np.array([[1, 2**40]]), verbose=0)


def test_float_input_casts_integer_data_like_keras(keras):
    # A default (float32) Input fed integers computes on floats, as Keras converts to the
    # Input's dtype.
    x = np.arange(12).reshape(6, 2)
    with keras_ref():
        km = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        ref = np.asarray(km.predict(x, verbose=0))
    lm = lamina.Sequential([lamina.Input((2,)), layers.Dense(3)])
    lm.set_weights(km.get_weights())
    np.testing.assert_allclose(lm.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)


def _rank_models(keras):
    a = keras.Input((1,), name="a")
    b = keras.Input((2,), name="b")
    dense = keras.layers.Dense(1, name="out")
    joined = keras.layers.Concatenate()([a, b])
    return {
        "single": keras.Model(a, keras.layers.Dense(1, name="out")(a)),
        "list": keras.Model([a, b], dense(joined)),
        "dict": keras.Model({"a": a, "b": b}, dense(joined)),
        "sequential": keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, name="out")]),
    }


@pytest.mark.parametrize("kind", ["single", "list", "dict", "sequential"])
def test_rank1_data_into_input_of_one_matches_keras(keras, kind):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=48).astype("float32"), rng.normal(size=(48, 2)).astype("float32")
    y = rng.normal(size=48).astype("float32")
    x = {"single": a, "sequential": a, "list": [a, b], "dict": {"a": a, "b": b}}[kind]
    with keras_ref():
        km = _rank_models(keras)[kind]
        km.compile("sgd", "mse")
    lm = _rank_models(lamina)[kind]
    lm.set_weights(km.get_weights())
    lm.compile("sgd", "mse")
    with keras_ref():
        kh = km.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        kp = np.asarray(km.predict(x, verbose=0))
    lh = lm.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(lm.predict(x, verbose=0), kp, rtol=1e-5, atol=1e-6)


def test_a_trailing_axis_of_one_is_dropped():
    inp = lamina.Input((3,))
    m = lamina.Model(inp, layers.Dense(2)(inp))
    x = np.ones((4, 3, 1), np.float32)
    assert m.predict(x, verbose=0).shape == (4, 2)


def _embed_model(keras):
    inp = keras.Input((2,), dtype="int32", name="ids")
    e = keras.layers.Flatten()(keras.layers.Embedding(40, 3)(inp))
    return keras.Model(inp, keras.layers.Dense(1)(e))


def test_integer_input_dtype_round_trips_with_keras(keras, tmp_path):
    lm = _embed_model(lamina)
    path = os.fspath(tmp_path / "ids.keras")
    lm.save(path)
    x = np.array([[1, 3], [5, 39]])
    with keras_ref():
        km = keras.models.load_model(path, safe_mode=False)
        assert km.inputs[0].dtype == "int32"
        np.testing.assert_allclose(
            np.asarray(km.predict(x, verbose=0)), lm.predict(x, verbose=0), rtol=1e-6
        )
        km.save(os.fspath(tmp_path / "back.keras"))
    back = lamina.models.load_model(os.fspath(tmp_path / "back.keras"), safe_mode=False)
    assert back.inputs[0].dtype == "int32"
    np.testing.assert_allclose(back.predict(x, verbose=0), lm.predict(x, verbose=0), rtol=1e-6)
