"""Learning-rate schedules against real Keras 3 values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina.optimizers import schedules
from tests.helpers import keras_ref

STEPS = np.array([0, 1, 2, 3, 5, 7, 10, 11, 19, 20, 21, 33, 50, 64, 99, 100, 101, 150, 500])

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)),
    (
        "ExponentialDecay",
        dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True),
    ),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 20, 50], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.3, 0.2])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=50)),
    (
        "PolynomialDecay",
        dict(
            initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=2.0, cycle=True
        ),
    ),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    (
        "InverseTimeDecay",
        dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=True),
    ),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100, alpha=0.1)),
    (
        "CosineDecay",
        dict(initial_learning_rate=0.0, decay_steps=80, warmup_target=0.1, warmup_steps=20),
    ),
    (
        "CosineDecay",
        dict(initial_learning_rate=0.01, decay_steps=80, warmup_target=0.1, warmup_steps=0),
    ),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    (
        "CosineDecayRestarts",
        dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.5, alpha=0.1),
    ),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=7, t_mul=1.5)),
]


def _ids(cases):
    return [f"{n}-{i}" for i, (n, _) in enumerate(cases)]


@pytest.mark.parametrize("name,kwargs", CASES, ids=_ids(CASES))
def test_values_match_keras(keras, name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    with keras_ref():
        ref = getattr(keras.optimizers.schedules, name)(**kwargs)
        expected = [float(ref(jnp.asarray(s, jnp.int32))) for s in STEPS]
    eager = [float(ours(jnp.asarray(s, jnp.int32))) for s in STEPS]
    # The optimizer evaluates schedules on the scalar iteration counter inside jit.
    # (Vectorized f32 division on XLA:CPU is not correctly rounded, so a vmapped
    # evaluation can flip floor/ceil results at exact multiples; scalars are exact.)
    jitted_fn = jax.jit(ours)
    jitted = [jitted_fn(jnp.asarray(s, jnp.int32)) for s in STEPS]
    np.testing.assert_allclose(eager, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(jitted), expected, rtol=1e-6, atol=1e-9)
    assert jitted[0].dtype == np.float32
    batched = jax.jit(jax.vmap(ours))(jnp.asarray(STEPS, jnp.int32))
    assert batched.shape == STEPS.shape


@pytest.mark.parametrize("name,kwargs", CASES, ids=_ids(CASES))
def test_serialization_matches_keras(keras, name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    with keras_ref():
        theirs = keras.optimizers.schedules.serialize(
            getattr(keras.optimizers.schedules, name)(**kwargs)
        )
    assert schedules.serialize(ours) == theirs
    back = schedules.deserialize(theirs)
    assert back == ours and hash(back) == hash(ours)
    assert type(ours).from_config(ours.get_config()) == ours


def test_python_int_steps_and_scan():
    s = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert float(s(2)) == 0.25

    def body(c, step):
        return c, s(step)

    _, vals = jax.lax.scan(body, 0, jnp.arange(4))
    np.testing.assert_allclose(vals, [1.0, 0.5, 0.25, 0.125])


def test_validation_and_unknown_names():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.CosineDecay(0.1, -1)
    with pytest.raises(ValueError, match="first_decay_steps"):
        schedules.CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match="1 less than"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="Did you mean 'CosineDecay'"):
        schedules.deserialize({"class_name": "CosineDecai", "config": {}})
    assert schedules.get(None) is None


def test_custom_schedule_subclass():
    class Half(schedules.LearningRateSchedule):
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, step):
            return self.lr / (1.0 + step)

        def get_config(self):
            return {"lr": self.lr}

    s = Half(1.0)
    assert float(s(1)) == 0.5
    back = schedules.deserialize(schedules.serialize(s), custom_objects={"Half": Half})
    assert back == s
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)
