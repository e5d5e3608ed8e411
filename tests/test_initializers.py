"""Initializers: Keras 3 values, distributions, fans, keys and serialized form."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import initializers
from tests.helpers import keras_ref

CLASSES = [
    "Zeros",
    "Ones",
    "Constant",
    "Identity",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
]
TRUNC = 0.87962566103423978
KEY = jax.random.PRNGKey(42)


def _keras_fans(keras, shape):
    from keras.src.initializers.random_initializers import compute_fans

    return compute_fans(shape)


@pytest.mark.parametrize("shape", [(), (7,), (5, 3), (3, 3, 4), (3, 3, 16, 32), (2, 3, 5, 7, 11)])
def test_compute_fans_matches_keras(keras, shape):
    assert initializers.compute_fans(shape) == _keras_fans(keras, shape)
    assert initializers.compute_fans((3, 4, 5), [0, 1], [2]) == (12, 5)


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("Zeros", (), (3, 4)),
        ("Ones", (), (2, 3, 4)),
        ("Constant", (2.5,), (3, 2)),
        ("Identity", (), (3, 4)),
        ("Identity", (1.5,), (4, 4)),
    ],
)
def test_deterministic_match_keras(keras, name, args, shape):
    with keras_ref():
        expected = getattr(keras.initializers, name)(*args)(shape)
    got = getattr(initializers, name)(*args)(shape)
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_dtypes():
    assert initializers.Zeros()((2,), dtype="int32").dtype == jnp.int32
    assert initializers.Ones()((2,), dtype=jnp.bfloat16).dtype == jnp.bfloat16
    assert initializers.GlorotUniform()((4, 4), dtype="float16").dtype == jnp.float16
    with pytest.raises(ValueError, match="floating"):
        initializers.RandomNormal()((2,), dtype="int32")


SHAPE = (400, 300)  # 120k samples


def _limit(scale, mode, fans):
    fan_in, fan_out = fans
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return scale / max(1.0, n)


@pytest.mark.parametrize(
    "name, scale, mode",
    [
        ("GlorotUniform", 1.0, "fan_avg"),
        ("HeUniform", 2.0, "fan_in"),
        ("LecunUniform", 1.0, "fan_in"),
    ],
)
@pytest.mark.parametrize("shape", [SHAPE, (5, 5, 40, 48)])
def test_uniform_limits(keras, name, scale, mode, shape):
    limit = math.sqrt(3.0 * _limit(scale, mode, _keras_fans(keras, shape)))
    if name == "GlorotUniform":
        fan_in, fan_out = _keras_fans(keras, shape)
        assert limit == pytest.approx(math.sqrt(6.0 / (fan_in + fan_out)))
    x = np.asarray(getattr(initializers, name)()(shape, key=KEY))
    assert x.shape == shape and x.dtype == np.float32
    assert np.abs(x).max() <= limit
    assert np.abs(x).max() > 0.99 * limit
    assert x.std() == pytest.approx(limit / math.sqrt(3.0), rel=0.03)
    with keras_ref():
        ref = np.asarray(getattr(keras.initializers, name)(seed=1)(shape))
    assert np.abs(ref).max() <= limit and x.std() == pytest.approx(ref.std(), rel=0.03)


@pytest.mark.parametrize(
    "name, scale, mode",
    [
        ("GlorotNormal", 1.0, "fan_avg"),
        ("HeNormal", 2.0, "fan_in"),
        ("LecunNormal", 1.0, "fan_in"),
    ],
)
@pytest.mark.parametrize("shape", [SHAPE, (5, 5, 40, 48)])
def test_truncated_variance_scaling(keras, name, scale, mode, shape):
    target = math.sqrt(_limit(scale, mode, _keras_fans(keras, shape)))
    x = np.asarray(getattr(initializers, name)()(shape, key=KEY))
    # Keras divides by the truncation factor so the std *after* truncation is the target.
    assert x.std() == pytest.approx(target, rel=0.03)
    assert np.abs(x).max() <= 2 * target / TRUNC * (1 + 1e-6)
    assert abs(x.mean()) < 0.02 * target
    with keras_ref():
        ref = np.asarray(getattr(keras.initializers, name)(seed=1)(shape))
    assert x.std() == pytest.approx(ref.std(), rel=0.03)


def test_variance_scaling_modes(keras):
    shape = (200, 500)
    for mode in ("fan_in", "fan_out", "fan_avg"):
        for dist in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            init = initializers.VarianceScaling(3.0, mode, dist)
            x = np.asarray(init(shape, key=KEY))
            target = math.sqrt(_limit(3.0, mode, _keras_fans(keras, shape)))
            assert x.std() == pytest.approx(target, rel=0.03), (mode, dist)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.raises(ValueError):
        initializers.VarianceScaling(mode="fan_sideways")
    with pytest.raises(ValueError):
        initializers.VarianceScaling(scale=0.0)


def test_random_normal_uniform_truncated(keras):
    x = np.asarray(initializers.RandomNormal(1.0, 2.0)(SHAPE, key=KEY))
    assert x.mean() == pytest.approx(1.0, abs=0.03) and x.std() == pytest.approx(2.0, rel=0.02)
    u = np.asarray(initializers.RandomUniform()(SHAPE, key=KEY))
    assert u.min() >= -0.05 and u.max() < 0.05 and u.max() > 0.0499
    u = np.asarray(initializers.get("uniform")(SHAPE, key=KEY))  # Keras 1 init='uniform'
    assert u.min() >= -0.05 and u.max() < 0.05
    t = np.asarray(initializers.TruncatedNormal(0.5, 1.0)(SHAPE, key=KEY))
    assert t.min() >= -1.5 and t.max() <= 2.5
    assert t.std() == pytest.approx(TRUNC, rel=0.02)
    with keras_ref():
        ref = np.asarray(keras.initializers.TruncatedNormal(0.5, 1.0, seed=3)(SHAPE))
    assert t.std() == pytest.approx(ref.std(), rel=0.02)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (3, 3, 4, 8), (3, 3, 8, 4)])
def test_orthogonal(shape):
    q = initializers.Orthogonal(gain=2.0)(shape, key=KEY)
    assert q.shape == shape
    m = np.asarray(q).reshape(-1, shape[-1]) / 2.0
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    with pytest.raises(ValueError):
        initializers.Orthogonal()((3,))


@pytest.mark.parametrize("name", [n for n in CLASSES if n not in ("Zeros", "Ones", "Constant")])
def test_keys_and_seeds(name):
    cls = getattr(initializers, name)
    shape = (4, 4)
    a = cls()(shape, key=KEY)
    b = cls()(shape, key=KEY)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if name == "Identity":
        return
    c = cls()(shape, key=jax.random.PRNGKey(43))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    # Typed keys work too.
    cls()(shape, key=jax.random.key(0))
    # Seeded: reproducible across instances and calls, like Keras.
    s1, s2 = cls(seed=7), cls(seed=7)
    np.testing.assert_array_equal(np.asarray(s1(shape)), np.asarray(s2(shape)))
    # Unseeded: the same instance repeats itself (as in Keras); separate instances differ.
    u = cls()
    np.testing.assert_array_equal(np.asarray(u(shape)), np.asarray(u(shape)))
    assert not np.array_equal(np.asarray(cls()(shape)), np.asarray(cls()(shape)))


def test_jit_with_key():
    init = initializers.GlorotUniform()
    f = jax.jit(lambda k: init((3, 5), key=k))
    np.testing.assert_array_equal(np.asarray(f(KEY)), np.asarray(init((3, 5), key=KEY)))


def _keras_instances(keras):
    yield "Constant", (3.0,), {}
    yield "Identity", (), {"gain": 2.0}
    yield "RandomNormal", (), {"mean": 1.0, "stddev": 0.5, "seed": 5}
    yield "RandomUniform", (), {"minval": -1.0, "maxval": 2.0}
    yield "TruncatedNormal", (), {"stddev": 2.0, "seed": 1}
    yield "VarianceScaling", (), {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}
    yield "VarianceScaling", (), {"distribution": "normal", "seed": 4}
    yield "GlorotUniform", (), {"seed": 3}
    yield "HeNormal", (), {"input_axes": [0, 1], "output_axes": [2]}
    yield "Orthogonal", (), {"gain": 0.5, "seed": 2}
    for name in CLASSES:
        yield name, (), {}


def test_serialize_matches_keras(keras):
    for name, args, kwargs in _keras_instances(keras):
        with keras_ref():
            expected = keras.saving.serialize_keras_object(
                getattr(keras.initializers, name)(*args, **kwargs)
            )
            assert keras.initializers.serialize(getattr(keras.initializers, name)()) is not None
        ours = getattr(initializers, name)(*args, **kwargs)
        if name == "Identity" and kwargs:
            # Keras drops ``gain`` from Identity's config; lamina keeps non-default gains.
            assert initializers.serialize(ours)["config"] == {"gain": 2.0}
            continue
        assert initializers.serialize(ours) == expected, name
        assert initializers.deserialize(expected) == ours
        assert initializers.get(expected) == ours
        # And Keras reads lamina's form back.
        with keras_ref():
            back = keras.saving.deserialize_keras_object(initializers.serialize(ours))
        assert type(back).__name__ == name


def test_get_names_as_keras(keras):
    from keras.src.initializers import ALL_OBJECTS_DICT

    # Keras's own get("constant") fails (Constant.from_config needs "value"); lamina gives
    # Constant(0.0), checked below.
    skip = {"Initializer", "initializer", "STFT", "stft", "STFTInitializer", "Constant", "constant"}
    for name in ALL_OBJECTS_DICT:
        if name in skip:
            continue
        with keras_ref():
            expected = type(keras.initializers.get(name)).__name__
        assert type(initializers.get(name)).__name__ == expected, name
    for name in ("glorot_uniform", "he_normal", "zeros", "ones", "zero", "one", "constant"):
        assert initializers.get(name) == initializers.deserialize(name)
    assert initializers.get("constant") == initializers.Constant(0.0)


def test_get_other_identifiers():
    assert initializers.get(None) is None
    inst = initializers.HeNormal(seed=1)
    assert initializers.get(inst) is inst
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)

    def fn(shape, dtype=None):
        return jnp.ones(shape, dtype)

    wrapped = initializers.get(fn)  # called as Keras calls it: fn(shape, dtype=...)
    assert wrapped._function is fn and wrapped((2,), jnp.float32).tolist() == [1.0, 1.0]
    assert initializers.serialize(wrapped)["class_name"] == "function"
    assert initializers.get({"class_name": "Ones", "config": {}}) == initializers.Ones()
    with pytest.raises(TypeError):
        initializers.get(3)
    with pytest.raises(ValueError, match="Did you mean 'glorot_uniform'"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="Unknown initializer"):
        initializers.get({"class_name": "Nope", "config": {}})


def test_eq_hash():
    assert initializers.GlorotUniform() == initializers.GlorotUniform()
    assert initializers.GlorotUniform(seed=1) != initializers.GlorotUniform(seed=2)
    assert initializers.GlorotUniform() != initializers.GlorotNormal()
    assert len({initializers.Zeros(), initializers.Zeros(), initializers.Constant(1.0)}) == 2
    assert hash(initializers.RandomNormal(stddev=1.0)) == hash(
        initializers.RandomNormal(stddev=1.0)
    )
    clone = initializers.Orthogonal(gain=3.0, seed=1).clone()
    assert clone == initializers.Orthogonal(gain=3.0, seed=1)


def test_constant_with_an_array_loads_from_a_keras_file(keras, tmp_path):
    # The PointNet T-net: bias_initializer=Constant(np.eye(3).flatten()); Keras writes the
    # value as a "__numpy__" entry.
    import lamina

    path = str(tmp_path / "m.keras")
    with keras_ref():
        inputs = keras.Input((4,))
        init = keras.initializers.Constant(np.eye(3).flatten())
        keras.Model(inputs, keras.layers.Dense(9, bias_initializer=init)(inputs)).save(path)
        want = keras.models.load_model(path).layers[-1].bias.numpy()
    model = lamina.models.load_model(path)
    np.testing.assert_array_equal(model.layers[-1].bias.numpy(), want)
    layer = lamina.layers.Dense.from_config(model.layers[-1].get_config())
    assert np.asarray(layer.bias_initializer.value).tolist() == np.eye(3).flatten().tolist()


def test_serialized_arrays_need_a_numeric_dtype():
    entry = {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}}
    with pytest.raises(ValueError, match="expected a numeric dtype"):
        initializers.deserialize({"class_name": "Constant", "config": {"value": entry}})


SEEDED = [
    ("GlorotUniform", {}), ("GlorotNormal", {}), ("HeNormal", {}), ("HeUniform", {}),
    ("LecunNormal", {}), ("LecunUniform", {}), ("RandomNormal", {"mean": 0.5, "stddev": 2.0}),
    ("RandomUniform", {"minval": -1.0, "maxval": 3.0}), ("TruncatedNormal", {"stddev": 0.3}),
    ("Orthogonal", {"gain": 2.0}), ("VarianceScaling", {"scale": 3.0, "mode": "fan_out"}),
]  # fmt: skip


@pytest.mark.parametrize("name, kwargs", SEEDED, ids=[n for n, _ in SEEDED])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 2, 5)])
def test_a_seeded_initializer_draws_keras_numbers(keras, name, kwargs, shape):
    with keras_ref():
        ref = np.asarray(getattr(keras.initializers, name)(seed=7, **kwargs)(shape))
    got = np.asarray(getattr(initializers, name)(seed=7, **kwargs)(shape))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


def test_a_seeded_initializer_in_a_layer_gives_keras_weights(keras):
    """Keras's layer calls the initializer as is: the seed decides the weights (the layer's
    own key does not), so a tutorial's seeded model starts from Keras's weights."""
    from lamina import layers

    with keras_ref():
        kd = keras.layers.Dense(5, kernel_initializer=keras.initializers.HeNormal(seed=42),
                                bias_initializer=keras.initializers.RandomUniform(seed=3))  # fmt: skip
        kd.build((None, 4))
        kc = keras.layers.Conv2D(2, 3, kernel_initializer=keras.initializers.GlorotUniform(seed=1))
        kc.build((None, 8, 8, 3))
    d = layers.Dense(5, kernel_initializer=initializers.HeNormal(seed=42),
                     bias_initializer=initializers.RandomUniform(seed=3))  # fmt: skip
    d.build((None, 4))
    c = layers.Conv2D(2, 3, kernel_initializer=initializers.GlorotUniform(seed=1))
    c.build((None, 8, 8, 3))
    for got, want in zip(d.get_weights() + c.get_weights(), kd.get_weights() + kc.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
