"""Regularizers and constraints: numeric parity with Keras 3 and its serialized form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import constraints, regularizers
from tests.helpers import keras_ref


def _weights(rng):
    w = (rng.standard_normal((6, 5)) * 3).astype("float32")
    w[:, 2] = 0.0  # a zero column: exercises the epsilon placement
    w[1, :] = 0.0
    return [w, (rng.standard_normal((3, 3, 4, 8)) * 0.1).astype("float32")]


REGULARIZERS = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L2", {}),
    ("L2", {"l2": 0.25}),
    ("L1L2", {}),
    ("L1L2", {"l1": 0.01, "l2": 0.02}),
    ("L1L2", {"l2": 0.1}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
]


@pytest.mark.parametrize("name, kwargs", REGULARIZERS)
def test_regularizer_values_match_keras(keras, rng, name, kwargs):
    for w in _weights(rng):
        if name == "OrthogonalRegularizer" and w.ndim != 2:
            continue
        with keras_ref():
            # A backend array: Keras's NumPy path of ``normalize`` mishandles axis=0.
            expected = getattr(keras.regularizers, name)(**kwargs)(jnp.asarray(w))
        got = getattr(regularizers, name)(**kwargs)(jnp.asarray(w))
        assert got.shape == () and got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", REGULARIZERS)
def test_regularizer_serialize_matches_keras(keras, name, kwargs):
    with keras_ref():
        expected = keras.saving.serialize_keras_object(getattr(keras.regularizers, name)(**kwargs))
    ours = getattr(regularizers, name)(**kwargs)
    assert regularizers.serialize(ours) == expected
    assert ours.get_config() == expected["config"]
    assert regularizers.deserialize(expected) == ours
    assert type(ours).from_config(ours.get_config()) == ours
    with keras_ref():
        back = keras.regularizers.deserialize(regularizers.serialize(ours))
    assert type(back).__name__ == name


def test_regularizer_get_and_aliases():
    assert regularizers.l1 is regularizers.L1
    assert regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get(None) is None
    assert regularizers.get("l2") == regularizers.L2()
    assert regularizers.get("l1") == regularizers.L1()
    assert regularizers.get("l1_l2") == regularizers.L1L2()
    assert regularizers.get("L1L2") == regularizers.L1L2()
    inst = regularizers.L2(0.5)
    assert regularizers.get(inst) is inst
    assert regularizers.get(regularizers.L1) == regularizers.L1()

    def penalty(x):
        return jnp.sum(x)

    assert regularizers.get(penalty) is penalty
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.1}}) == regularizers.L2(0.1)
    with pytest.raises(ValueError, match="(?i)Did you mean 'l2'"):
        regularizers.get("l22")
    with pytest.raises(TypeError):
        regularizers.get(5)
    with pytest.raises(ValueError):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError):
        regularizers.OrthogonalRegularizer(mode="diag")
    assert len({regularizers.L2(), regularizers.L2(), regularizers.L1()}) == 2


def test_regularizer_jit_and_grad():
    reg = regularizers.L1L2(0.1, 0.2)
    w = jnp.array([[1.0, -2.0]])
    np.testing.assert_allclose(jax.jit(reg)(w), reg(w))
    np.testing.assert_allclose(jax.grad(reg)(w), 0.1 * jnp.sign(w) + 0.4 * w, rtol=1e-6)


CONSTRAINTS = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 0.5, "axis": 1}),
    ("MaxNorm", {"max_value": 3, "axis": [0, 1, 2]}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": -1}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 2.0, "rate": 0.3, "axis": 1}),
]


@pytest.mark.parametrize("name, kwargs", CONSTRAINTS)
def test_constraint_values_match_keras(keras, rng, name, kwargs):
    for w in _weights(rng):
        if isinstance(kwargs.get("axis"), list) and w.ndim != 4:
            continue
        with keras_ref():
            expected = getattr(keras.constraints, name)(**kwargs)(w)
        got = getattr(constraints, name)(**kwargs)(jnp.asarray(w))
        assert got.shape == w.shape and got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", CONSTRAINTS)
def test_constraint_serialize_matches_keras(keras, name, kwargs):
    with keras_ref():
        expected = keras.saving.serialize_keras_object(getattr(keras.constraints, name)(**kwargs))
    ours = getattr(constraints, name)(**kwargs)
    assert constraints.serialize(ours) == expected
    assert constraints.deserialize(expected) == ours
    with keras_ref():
        back = keras.constraints.deserialize(constraints.serialize(ours))
    assert type(back).__name__ == name


def test_constraint_epsilon_placement():
    # Keras: w * desired / (epsilon + norm), so a unit-norm column comes out slightly short.
    w = jnp.array([[1.0], [0.0]])
    out = constraints.UnitNorm()(w)
    np.testing.assert_allclose(out, w / (1.0 + 1e-7))
    assert float(constraints.MaxNorm(2)(jnp.zeros((2, 2))).sum()) == 0.0


def test_constraint_get_and_aliases():
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.get(None) is None
    for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm", "MaxNorm", "NonNeg"):
        assert isinstance(constraints.get(name), constraints.Constraint)
    assert constraints.get("max_norm") == constraints.MaxNorm(2, 0)
    inst = constraints.UnitNorm(axis=1)
    assert constraints.get(inst) is inst
    assert constraints.get(constraints.NonNeg) == constraints.NonNeg()
    assert constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3}}) == (
        constraints.MaxNorm(3)
    )

    def clip(w):
        return jnp.clip(w, -1, 1)

    assert constraints.get(clip) is clip
    assert constraints.get("maxnorm") == constraints.MaxNorm()  # Keras 2's alias
    with pytest.raises(ValueError, match="Did you mean 'MaxNorm'"):
        constraints.get("MaxNrm")
    with pytest.raises(TypeError):
        constraints.get(1.5)
    assert len({constraints.MaxNorm(), constraints.MaxNorm(), constraints.MaxNorm(3)}) == 2
