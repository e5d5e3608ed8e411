"""``set_random_seed`` then build: the same starting weights as Keras.

Keras gives every unseeded random initializer, and every layer holding a ``SeedGenerator``
(dropout, noise, recurrent and augmentation layers), a seed drawn from Python's ``random`` when
it is constructed; an initializer then draws from the raw key ``[seed, 0]``.  Lamina makes the
same draws in the same order, so a script that seeds and builds a model in both libraries
starts from the same weights, and Python's generator is left in the same state.
"""

import os
import random

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="Keras's JAX backend is the reference"
)


def _mlp(m):
    return m.Sequential([
        m.Input((8,)),
        m.layers.Dense(12, activation="relu"),
        m.layers.Dropout(0.5),
        m.layers.GaussianNoise(0.1),
        m.layers.Dense(6, kernel_initializer="he_normal", bias_initializer="random_normal"),
        m.layers.AlphaDropout(0.1),
        m.layers.Dense(1, activation="sigmoid", kernel_initializer="lecun_uniform"),
    ])


def _cnn(m):
    return m.Sequential([
        m.Input((12, 12, 3)),
        m.layers.RandomFlip("horizontal"),
        m.layers.RandomRotation(0.1),
        m.layers.Conv2D(4, 3, activation="relu"),
        m.layers.SpatialDropout2D(0.2),
        m.layers.SeparableConv2D(4, 3),
        m.layers.BatchNormalization(),
        m.layers.MaxPooling2D(),
        m.layers.Flatten(),
        m.layers.Dense(5, kernel_initializer=m.initializers.TruncatedNormal(stddev=0.1)),
    ])


def _rnn(m):
    return m.Sequential([
        m.Input((7,), dtype="int32"),
        m.layers.Embedding(20, 4),
        m.layers.SimpleRNN(3, return_sequences=True),
        m.layers.Bidirectional(m.layers.LSTM(3, dropout=0.1, return_sequences=True)),
        m.layers.GRU(2),
        m.layers.Dense(1),
    ])


def _functional(m):
    a = m.Input((6,), name="a")
    b = m.Input((4,), name="b")
    x = m.layers.Dense(5, activation="tanh")(a)
    x = m.layers.Dropout(0.3)(x)
    y = m.layers.Dense(5, kernel_initializer="glorot_normal")(b)
    z = m.layers.Concatenate()([x, y])
    z = m.layers.Conv1D(2, 2)(m.layers.Reshape((10, 1))(z))
    return m.Model([a, b], m.layers.Dense(2, kernel_initializer="orthogonal")(m.layers.Flatten()(z)))


@pytest.mark.parametrize("make", [_mlp, _cnn, _rnn, _functional], ids=lambda f: f.__name__[1:])
def test_seeded_models_start_from_keras_weights(make):
    with keras_ref():
        keras.utils.set_random_seed(1234)
        ref = make(keras)
        ref_next = random.random()
        ref_weights = ref.get_weights()
    lamina.utils.set_random_seed(1234)
    model = make(lamina)
    assert random.random() == ref_next  # Python's generator is where Keras left it
    weights = model.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in ref_weights]
    for ours, theirs in zip(weights, ref_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_seeded_fit_without_dropout_matches_keras():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (rng.random((64, 1)) > 0.5).astype("float32")

    def run(m):
        m.utils.set_random_seed(7)
        model = m.Sequential([m.Input((8,)), m.layers.Dense(12, activation="relu"),
                              m.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]

    with keras_ref():
        expected = run(keras)
    np.testing.assert_allclose(run(lamina), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.layers.Dropout(0.0),
        lambda m: m.layers.Dropout(0.5, seed=3),
        lambda m: m.layers.GaussianNoise(0.0),
        lambda m: m.layers.RandomCrop(4, 4),
        lambda m: m.layers.RandomCrop(4, 4, seed=1),
        lambda m: m.layers.AutoContrast(),
        lambda m: m.layers.RandAugment(),
        lambda m: m.layers.Attention(dropout=0.1),
        lambda m: m.layers.AdditiveAttention(),
        lambda m: m.layers.ConvLSTM2D(2, 3),
        lambda m: m.layers.LSTMCell(3),
        lambda m: m.layers.TimeDistributed(m.layers.Dense(3)),
        lambda m: m.initializers.Orthogonal(),
        lambda m: m.initializers.Zeros(),
    ],
)
def test_construction_draws_as_many_seeds_as_keras(make):
    with keras_ref():
        keras.utils.set_random_seed(5)
        make(keras)
        expected = random.random()
    lamina.utils.set_random_seed(5)
    make(lamina)
    assert random.random() == expected


def test_an_unseeded_initializer_called_alone_repeats_its_values_as_keras():
    with keras_ref():
        keras.utils.set_random_seed(3)
        init = keras.initializers.GlorotUniform()
        expected = np.asarray(init((3, 4)))
        np.testing.assert_array_equal(np.asarray(init((3, 4))), expected)
    lamina.utils.set_random_seed(3)
    init = lamina.initializers.GlorotUniform()
    np.testing.assert_array_equal(np.asarray(init((3, 4))), expected)
    np.testing.assert_array_equal(np.asarray(init((3, 4))), expected)


def test_without_set_random_seed_layers_draw_from_the_models_key(monkeypatch):
    """Without ``set_random_seed`` the weights come from the model's host key (nothing to
    compile); Python's generator alone does not switch to Keras's scheme."""
    monkeypatch.setitem(lamina.utils.random._STATE, "user_seeded", False)
    random.seed(0)
    init = lamina.initializers.GlorotUniform()
    host = lamina.utils.random.HostKey((1, 2, 3, 4))
    np.testing.assert_array_equal(init((4, 4), key=host), init((4, 4), key=host))
    assert not np.allclose(init((4, 4), key=host), init((4, 4)))
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(4), lamina.layers.Dense(4)])
    a, _, b, _ = model.get_weights()
    assert not np.allclose(a, b)


@pytest.mark.parametrize("seed", [1, 42, 999_999_999, 2**32 - 1])
@pytest.mark.parametrize("shape", [(7,), (3, 2), (65_537,), (3, 3, 16, 32)])
def test_host_threefry_draws_are_jax_draws(seed, shape):
    import jax

    from lamina.utils import threefry

    key = np.asarray([seed, 0], np.uint32)
    np.testing.assert_array_equal(threefry.random_bits(key, shape), jax.random.bits(key, shape))
    np.testing.assert_array_equal(threefry.uniform(key, shape), jax.random.uniform(key, shape))
    np.testing.assert_array_equal(
        threefry.uniform(key, shape, -0.25, 0.5),
        jax.random.uniform(key, shape, minval=-0.25, maxval=0.5),
    )
    np.testing.assert_array_equal(threefry.normal(key, shape), jax.random.normal(key, shape))
    np.testing.assert_array_equal(
        threefry.truncated_normal(key, shape), jax.random.truncated_normal(key, -2.0, 2.0, shape)
    )


def test_seeded_initializers_in_a_layer_compile_nothing_for_uniform_draws(monkeypatch):
    """A seeded Dense model's weights come from NumPy: no JAX random program runs."""
    import jax

    calls = []
    monkeypatch.setattr(jax.random, "uniform", lambda *a, **k: calls.append(a))
    lamina.utils.set_random_seed(11)
    model = lamina.Sequential([lamina.Input((5,)), lamina.layers.Dense(3), lamina.layers.Dense(2)])
    model.get_weights()
    assert calls == []


# ------------------------------------------------------------------ dropout draws Keras's masks
X = np.random.default_rng(0).normal(size=(48, 8)).astype("float32")
Y = (np.random.default_rng(1).random((48, 1)) > 0.5).astype("float32")


def _noisy(m):
    return m.Sequential([
        m.Input((8,)),
        m.layers.Dense(12, activation="relu"),
        m.layers.Dropout(0.5),
        m.layers.GaussianNoise(0.3),
        m.layers.Dense(6, activation="selu"),
        m.layers.AlphaDropout(0.2),
        m.layers.GaussianDropout(0.3),
        m.layers.Dropout(0.3, noise_shape=(None, 1)),
        m.layers.Dense(1, activation="sigmoid"),
    ])


def _spatial(m):
    return m.Sequential([
        m.Input((8,)),
        m.layers.Reshape((4, 2)),
        m.layers.Conv1D(4, 2, activation="relu"),
        m.layers.SpatialDropout1D(0.5),
        m.layers.Flatten(),
        m.layers.Dense(1, activation="sigmoid"),
    ])


def _block(m):
    class Block(m.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = m.layers.Dense(8, activation="relu")
            self.drop = m.layers.Dropout(0.5)

        def call(self, x, training=None):
            return self.drop(self.dense(x), training=training)

    return Block


def _custom_functional(m):
    inp = m.Input((8,))
    h = _block(m)()(inp)
    h = m.layers.Dropout(0.25)(m.layers.Dense(5)(h))
    return m.Model(inp, m.layers.Dense(1, activation="sigmoid")(h))


def _subclassed(m):
    block = _block(m)

    class Net(m.Model):
        def __init__(self):
            super().__init__()
            self.block = block()
            self.drop = m.layers.Dropout(0.2)
            self.out = m.layers.Dense(1, activation="sigmoid")

        def call(self, x, training=None):
            return self.out(self.drop(self.block(x, training=training), training=training))

    return Net()


def _fit(m, make, epochs=(2,)):
    m.utils.set_random_seed(3)
    model = make(m)
    model(X[:2])  # subclassed models build on a call, as in Keras
    start = [w.copy() for w in model.get_weights()]
    model.compile(optimizer="adam", loss="binary_crossentropy")
    losses = []
    for n in epochs:
        # 48 rows in batches of 20: a short last batch draws its mask at its real size, as Keras
        losses += model.fit(X, Y, epochs=n, batch_size=20, shuffle=False, verbose=0).history["loss"]
    return model, start, losses


@pytest.mark.parametrize(
    "make", [_noisy, _spatial, _custom_functional, _subclassed], ids=lambda f: f.__name__[1:]
)
def test_seeded_fit_with_dropout_and_noise_matches_keras(make):
    with keras_ref():
        ref, ref_start, ref_losses = _fit(keras, make)
        names = [w.path.split("/")[-1] for w in ref.weights]
        ref_weights = ref.get_weights()
    model, start, losses = _fit(lamina, make)
    assert [w.path.split("/")[-1] for w in model.weights] == names  # no generator states
    for ours, theirs in zip(start, ref_start):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for ours, theirs in zip(model.get_weights(), ref_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_the_generator_carries_on_from_one_fit_to_the_next():
    """Two one-epoch fits draw the masks one two-epoch fit draws (Keras's state persists)."""
    _, _, once = _fit(lamina, _noisy, epochs=(2,))
    _, _, twice = _fit(lamina, _noisy, epochs=(1, 1))
    np.testing.assert_allclose(twice, once, rtol=1e-6)


def test_eager_training_calls_draw_keras_masks_and_advance():
    x = np.ones((3, 6), "float32")

    def calls(m):
        m.utils.set_random_seed(5)
        model = m.Sequential([m.Input((6,)), m.layers.Dense(4), m.layers.Dropout(0.5)])
        layer = m.layers.Dropout(0.4, seed=9)
        return [np.asarray(model(x, training=True)) for _ in range(3)] + [
            np.asarray(layer(x, training=True)) for _ in range(2)
        ]

    with keras_ref():
        expected = calls(keras)
    got = calls(lamina)
    assert not np.allclose(got[0], got[1])  # MC dropout: a fresh mask at every call
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_weight_files_hold_no_generator_state(tmp_path):
    lamina.utils.set_random_seed(2)
    model = _noisy(lamina)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "m.weights.h5")
    with keras_ref():
        ref = _noisy(keras)
        ref.load_weights(tmp_path / "m.weights.h5")
        ref_count = ref.count_params()
    for ours, theirs in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert model.count_params() == ref_count


def test_stateless_call_carries_the_generator_states_as_keras():
    """Keras's JAX loop: ``non_trainable_variables`` holds the seed states, and
    ``stateless_call(training=True)`` returns them advanced (a fresh mask at every step)."""
    import jax

    x = np.ones((4, 6), "float32")

    def steps(m):
        m.utils.set_random_seed(5)
        model = m.Sequential([m.Input((6,)), m.layers.Dense(4), m.layers.BatchNormalization(),
                              m.layers.Dropout(0.5)])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        step = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=True))
        outs = []
        for _ in range(3):
            y, ntv = step(tv, ntv, x)
            outs.append(np.asarray(y))
        return outs, [np.asarray(v) for v in ntv], len(model.variables)

    with keras_ref():
        expected = steps(keras)
    got = steps(lamina)
    assert got[2] == expected[2]
    for ours, theirs in zip(got[0] + got[1], expected[0] + expected[1]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
