"""Dtype policies and mixed precision against real Keras 3: the policy objects, layer dtypes,
and per-layer/model outputs under ``mixed_bfloat16``/``mixed_float16``/``float32``."""

import jax
import numpy as np
import pytest

import lamina
from lamina import dtype_policies, layers, mixed_precision
from tests.helpers import keras_ref

POLICIES = ["float32", "mixed_bfloat16", "mixed_float16"]
#: bfloat16 keeps 8 bits of mantissa, float16 11: values agree to a few of those units.
TOL = {"float32": 1e-5, "mixed_bfloat16": 3e-2, "mixed_float16": 4e-3}


@pytest.fixture(autouse=True)
def _reset_policies():
    yield
    dtype_policies.set_dtype_policy("float32")
    try:
        import keras

        keras.config.set_dtype_policy("float32")
    except ImportError:
        pass


# ------------------------------------------------------------------ the policy objects
@pytest.mark.parametrize(
    "name", ["float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"]
)
def test_policy_dtypes_and_serialization_match_keras(keras, name):
    ours, theirs = lamina.DTypePolicy(name), keras.DTypePolicy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (
        theirs.name,
        theirs.compute_dtype,
        theirs.variable_dtype,
    )
    assert repr(ours) == repr(theirs)
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    assert dtype_policies.get(name) == ours == lamina.FloatDTypePolicy(name)


def test_policy_errors():
    with pytest.raises(TypeError, match="'name' must be a string"):
        lamina.DTypePolicy(16)
    with pytest.raises(ValueError, match="Cannot convert 'mixed_float61'"):
        lamina.DTypePolicy("mixed_float61")
    with pytest.raises(ValueError, match="Invalid `policy` argument"):
        mixed_precision.set_global_policy(3.5)
    with pytest.raises(ValueError, match="Unknown dtype policy class 'Int8Policy'"):
        dtype_policies.deserialize({"class_name": "Int8Policy", "config": {}})
    with pytest.raises(ValueError, match="Cannot interpret `dtype` argument"):
        dtype_policies.get(object())


def test_policy_map_config_matches_keras(keras):
    ours = dtype_policies.DTypePolicyMap("mixed_bfloat16", {"a": "float32"})
    theirs = keras.dtype_policies.DTypePolicyMap("mixed_bfloat16", {"a": "float32"})
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    back = dtype_policies.deserialize(dtype_policies.serialize(ours))
    assert back == ours and back["a"].name == "float32" and back["b"].name == "mixed_bfloat16"


def test_global_policy_applies_to_layers_made_afterwards(keras):
    before = layers.Dense(2)
    mixed_precision.set_global_policy("mixed_bfloat16")
    assert lamina.config.dtype_policy() == lamina.mixed_precision.global_policy()
    after, pinned = layers.Dense(2), layers.Dense(2, dtype="float32")
    with keras_ref():
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        k_after, k_pinned = keras.layers.Dense(2), keras.layers.Dense(2, dtype="float32")
    for ours, theirs in [(after, k_after), (pinned, k_pinned)]:
        assert ours.dtype_policy == lamina.DTypePolicy(theirs.dtype_policy.name)
        assert (ours.dtype, ours.compute_dtype, ours.variable_dtype) == (
            theirs.dtype,
            theirs.compute_dtype,
            theirs.variable_dtype,
        )
    assert before.dtype_policy.name == "float32"
    assert mixed_precision.Policy is lamina.DTypePolicy
    assert lamina.optimizers.LossScaleOptimizer is mixed_precision.LossScaleOptimizer


# ------------------------------------------------------------------ layers
def _layer_cases(m):
    """(name, layer factory, input) triples; ``m`` is the lamina or keras module."""
    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    seq = rng.normal(size=(2, 5, 4)).astype("float32")
    vec = rng.normal(size=(3, 4)).astype("float32")
    ids = np.array([[1, 7, 3], [9, 0, 2]])
    L = m.layers
    return {
        "dense": (lambda **k: L.Dense(5, activation="relu", **k), vec),
        "conv2d": (lambda **k: L.Conv2D(4, 3, **k), img),
        "batchnorm": (lambda **k: L.BatchNormalization(**k), vec),
        "layernorm": (lambda **k: L.LayerNormalization(**k), seq),
        "embedding": (lambda **k: L.Embedding(10, 3, **k), ids),
        "softmax": (lambda **k: L.Activation("softmax", **k), vec),
        "maxpool": (lambda **k: L.MaxPooling2D(**k), img),
        "lstm": (lambda **k: L.LSTM(3, **k), seq),
        "flatten": (lambda **k: L.Flatten(**k), img),
    }


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(
    "case", ["dense", "conv2d", "batchnorm", "layernorm", "embedding", "softmax", "maxpool",
             pytest.param("lstm", marks=pytest.mark.slow), "flatten"],
)  # fmt: skip
def test_layer_output_dtype_and_values_match_keras(keras, policy, case):
    make_ours, x = _layer_cases(lamina)[case]
    make_theirs, _ = _layer_cases(keras)[case]
    ours = make_ours(dtype=policy)
    with keras_ref():
        theirs = make_theirs(dtype=policy)
        expected = theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    got = ours(x)
    assert str(got.dtype) == str(expected.dtype)
    assert [str(np.asarray(w).dtype) for w in ours.get_weights()] == [
        str(np.asarray(w).dtype) for w in theirs.get_weights()
    ]
    tol = TOL[policy]
    np.testing.assert_allclose(
        np.asarray(got, "float32"), np.asarray(expected, "float32"), rtol=tol, atol=tol
    )


def _models(m, policy, functional):
    m.mixed_precision.set_global_policy(policy)
    L = m.layers
    inp = m.Input((6,))
    stack = [
        L.Dense(8, activation="relu"),
        L.BatchNormalization(),
        L.Dropout(0.1),
        L.Dense(3),
        L.Activation("softmax", dtype="float32"),
        L.Dense(2),
    ]
    if functional:
        h = inp
        for layer in stack:
            h = layer(h)
        return m.Model(inp, h)
    return m.Sequential([inp, *stack])


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("policy", POLICIES)
def test_model_predict_matches_keras(keras, policy, functional):
    x = np.random.default_rng(1).normal(size=(9, 6)).astype("float32")
    with keras_ref():
        km = _models(keras, policy, functional)
        expected = km.predict(x, verbose=0)
    lm = _models(lamina, policy, functional)
    lm.set_weights(km.get_weights())
    got = lm.predict(x, verbose=0)
    assert got.dtype == expected.dtype
    assert [layer.compute_dtype for layer in lm.layers[-3:]] == [
        layer.compute_dtype for layer in km.layers[-3:]
    ]
    tol = TOL[policy]
    np.testing.assert_allclose(
        got.astype("float32"), expected.astype("float32"), rtol=tol, atol=tol
    )
    if functional:
        assert lm.outputs[0].dtype == km.outputs[0].dtype


def _forward_jaxpr(model):
    model.build((None, 4))
    net, ts = model._engine_network(), model._train_state
    x = np.ones((2, 4), "float32")
    return str(jax.make_jaxpr(lambda x: net.forward(ts.params, ts.state, x, training=False))(x))


def test_float32_program_has_no_casts():
    """No policy set: the traced forward pass is what it was before policies (no converts)."""
    stack = [lamina.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]
    assert "convert_element_type" not in _forward_jaxpr(lamina.Sequential(stack))
    mixed_precision.set_global_policy("mixed_bfloat16")
    stack = [lamina.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]
    jaxpr = _forward_jaxpr(lamina.Sequential(stack))
    assert "bf16" in jaxpr and "convert_element_type" in jaxpr


def test_layer_dtype_policy_setter_and_spec_key():
    layer = layers.Dense(2)
    key = layer._spec_key()
    layer.dtype_policy = "mixed_bfloat16"
    assert layer.compute_dtype == "bfloat16" and layer._spec_key() != key
    with pytest.raises(ValueError, match="Cannot convert 'bogus'"):
        layer.dtype_policy = "bogus"


def test_layer_dtype_argument_errors_and_unsupported_policies():
    with pytest.raises(ValueError, match="Cannot convert 'mixed_float61'"):
        layers.Dense(2, dtype="mixed_float61")
    with pytest.raises(NotImplementedError, match="QuantizedFloat8DTypePolicy is not supported"):
        dtype_policies.QuantizedFloat8DTypePolicy  # noqa: B018


def _custom_layer_class(base):
    class Scale(base):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def call(self, x):
            return x @ self.w

    return Scale


def test_custom_keras_style_layer_follows_its_policy(keras):
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    with keras_ref():
        theirs = _custom_layer_class(keras.layers.Layer)(dtype="mixed_bfloat16")
        expected = theirs(x)
    ours = _custom_layer_class(lamina.layers.Layer)(dtype="mixed_bfloat16")
    got = ours(x)
    assert str(got.dtype) == str(expected.dtype) == "bfloat16"
    assert ours.w.dtype == "float32"
    np.testing.assert_allclose(np.asarray(got, "float32"), np.asarray(expected, "float32"))
