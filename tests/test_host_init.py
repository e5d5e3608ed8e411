"""Weight initialization on the host (``lamina.models.initialization``) and on-device shuffling
by hash sort (``lamina.training.shuffle``): same structure as the jitted path, right
distributions, deterministic, and a fallback for custom layers and initializers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import initializers as I
from lamina import layers as L
from lamina.models import Sequential
from lamina.models import initialization as init_mod
from lamina.training.shuffle import epoch_order
from lamina.utils.random import HostKey, split

STACKS = {
    "dense": ((None, 5), [L.Dense(4, activation="relu"), L.Dense(2)]),
    "conv": (
        (None, 8, 8, 3),
        [L.Conv2D(4, 3), L.BatchNormalization(), L.DepthwiseConv2D(3), L.Flatten(), L.Dense(2)],
    ),
    "sepconv1d": ((None, 12, 3), [L.SeparableConv1D(4, 3), L.GlobalAveragePooling1D()]),
    "rnn": ((None, 6, 3), [L.LSTM(5, return_sequences=True), L.GRU(4), L.Dense(1)]),
    "bidirectional": ((None, 6, 3), [L.Bidirectional(L.SimpleRNN(3)), L.LayerNormalization()]),
    "embedding": ((None, 7), [L.Embedding(20, 4), L.Flatten()]),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_host_init_matches_jitted_structure(name):
    shape, layers = STACKS[name]
    layers = tuple(layers)
    assert all(init_mod._host_ready(la) for la in layers)
    host = init_mod._host_init(layers, shape, HostKey((1, 2, 3, 4)))
    (_, _), params, state = init_mod._jit_init(layers, shape, jax.random.key(0))
    ref = init_mod._order(layers, shape, jax.random.key(0))
    assert host.order == ref
    for got, want in ((host.params, params), (host.state, state)):
        g_leaves, g_def = jax.tree_util.tree_flatten(tuple(got))
        w_leaves, w_def = jax.tree_util.tree_flatten(tuple(want))
        assert g_def == w_def
        for g, w in zip(g_leaves, w_leaves):
            assert isinstance(g, jax.Array)
            assert (g.shape, g.dtype) == (w.shape, w.dtype)


def test_lstm_unit_forget_bias_on_host():
    init = init_mod._host_init((L.LSTM(3),), (None, 4, 2), HostKey((5, 6, 7, 8)))
    np.testing.assert_array_equal(np.asarray(init.params[0]["bias"]), [0, 0, 0, 1, 1, 1] + [0] * 6)


@pytest.mark.parametrize(
    "initializer, check",
    [
        (I.GlorotUniform(), lambda a, fi, fo: np.abs(a).max() <= np.sqrt(6 / (fi + fo))),
        (I.HeUniform(), lambda a, fi, fo: np.abs(a).max() <= np.sqrt(6 / fi)),
        (
            I.GlorotNormal(),
            lambda a, fi, fo: np.abs(a).max() <= 2 * np.sqrt(2 / (fi + fo)) / 0.8796,
        ),
        (I.RandomUniform(-0.1, 0.1), lambda a, fi, fo: np.abs(a).max() <= 0.1),
        (I.TruncatedNormal(stddev=0.1), lambda a, fi, fo: np.abs(a).max() <= 0.2),
    ],
)
def test_host_draws_follow_the_distribution(initializer, check):
    shape = (300, 200)
    host = np.asarray(initializer(shape, jnp.float32, key=HostKey((9, 9, 9, 9))))
    dev = np.asarray(initializer(shape, jnp.float32, key=jax.random.key(3)))
    assert host.dtype == np.float32 and host.shape == shape
    assert check(host, 300, 200)
    # Same distribution as the JAX path: mean and standard deviation agree closely.
    assert abs(host.mean() - dev.mean()) < 3e-3
    assert host.std() == pytest.approx(dev.std(), rel=0.02)


def test_host_orthogonal_is_orthogonal():
    q = np.asarray(I.Orthogonal(gain=2.0)((6, 4), key=HostKey((1, 1, 1, 1))))
    np.testing.assert_allclose(q.T @ q, 4.0 * np.eye(4), atol=1e-5)


def test_host_key_split_is_deterministic_and_distinct():
    a = split(HostKey((1, 2, 3, 4)), 3)
    b = HostKey((1, 2, 3, 4)).split(3)
    assert [k.words for k in a] == [k.words for k in b]
    assert len({k.words for k in a}) == 3


def test_custom_initializer_falls_back_to_the_jitted_path():
    calls = []

    def my_init(shape, dtype=None, key=None):
        calls.append(type(key))
        return jax.random.normal(key, shape, dtype or jnp.float32)

    model = Sequential([L.Input((3,)), L.Dense(2, kernel_initializer=my_init)])
    model.build((None, 3))
    assert model.get_weights()[0].shape == (3, 2)
    assert all(not issubclass(t, HostKey) for t in calls)


def test_seeded_builds_are_identical_and_differ_by_seed():
    def weights(seed):
        lamina.utils.set_random_seed(seed)
        m = Sequential([L.Input((4,)), L.Dense(3), L.Dense(1)])
        m.build((None, 4))
        return m.get_weights()

    w1, w2, w3 = weights(7), weights(7), weights(8)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(w1[0], w3[0])


def test_epoch_order_is_a_fresh_permutation_each_epoch():
    rng = jax.random.wrap_key_data(np.arange(4, dtype=np.uint32), impl="rbg")
    orders = []
    for _ in range(5):
        rng, order = epoch_order(rng, 101)
        order = np.asarray(order)
        assert sorted(order.tolist()) == list(range(101))
        orders.append(order)
    assert len({o.tobytes() for o in orders}) == 5
    _, plain = epoch_order(rng, 7, shuffle=False)
    np.testing.assert_array_equal(plain, np.arange(7))


def test_epoch_order_spreads_rows_uniformly():
    # Over many epochs each row lands in each half of the order about equally often.
    rng = jax.random.wrap_key_data(np.arange(4, dtype=np.uint32), impl="rbg")
    n, epochs = 20, 400
    first_half = np.zeros(n)
    step = jax.jit(epoch_order, static_argnums=1)
    for _ in range(epochs):
        rng, order = step(rng, n)
        first_half[np.asarray(order)[: n // 2]] += 1
    assert np.all(np.abs(first_half / epochs - 0.5) < 0.12)


def test_fused_epoch_and_chunked_epochs_shuffle_alike():
    """A batch-level callback makes fit run chunks of steps instead of one program per epoch;
    both draw the same row order from the same key, so the weights agree."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(97, 4)).astype("float32")
    y = (x @ np.arange(1, 5, dtype="float32"))[:, None]

    class BatchHook(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    def fit(callbacks):
        lamina.utils.set_random_seed(3)
        m = Sequential([L.Input((4,)), L.Dense(5, activation="relu"), L.Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        h = m.fit(x, y, batch_size=8, epochs=3, shuffle=True, verbose=0, callbacks=callbacks)
        return m.get_weights(), h.history["loss"]

    (w1, l1), (w2, l2) = fit([]), fit([BatchHook()])
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_large_arrays_shuffle_on_the_host(monkeypatch):
    """From HOST_SHUFFLE_ROWS rows on, each epoch's order comes from NumPy: every row once per
    epoch, reproducible with a seed, and without shuffling the same fit as the device path."""
    from lamina.data import epochs as loop

    rng = jax.random.wrap_key_data(np.arange(4, dtype=np.uint32), impl="rbg")
    monkeypatch.setattr(loop, "HOST_SHUFFLE_ROWS", 10)
    rng2, idx, mask = loop.host_epoch_index(rng, 23, 5, 5, True)
    assert sorted(np.asarray(idx).ravel()[:23].tolist()) == list(range(23))
    np.testing.assert_array_equal(np.asarray(mask).ravel(), (np.arange(25) < 23).astype("float32"))
    _, idx_again, _ = loop.host_epoch_index(rng, 23, 5, 5, True)
    np.testing.assert_array_equal(idx, idx_again)
    _, idx_next, _ = loop.host_epoch_index(rng2, 23, 5, 5, True)
    assert not np.array_equal(idx, idx_next)

    x = np.random.default_rng(1).normal(size=(40, 3)).astype("float32")
    y = x.sum(1, keepdims=True)

    def fit(shuffle, seed=5):
        lamina.utils.set_random_seed(seed)
        m = Sequential([L.Input((3,)), L.Dense(4, activation="relu"), L.Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0)
        return m.get_weights()

    host_plain, host_a, host_b = fit(False), fit(True), fit(True)
    for a, b in zip(host_a, host_b):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(loop, "HOST_SHUFFLE_ROWS", 1 << 30)
    for a, b in zip(host_plain, fit(False)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _KerasStyleDense(L.Layer):
    """A user layer written the way Keras's guide teaches, with a sub-layer."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = L.Dense(units)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.inner(inputs) + inputs @ self.w + self.b


class _KeyedInit(L.Layer):
    """A pure-protocol user layer drawing with jax.random on its key: not host-ready."""

    def init(self, key, input_shape):
        return {"w": jax.random.normal(key, (input_shape[-1], 2))}, {}

    def apply(self, params, state, x, *, training=False, key=None):
        return x @ params["w"], state


def test_keras_style_layers_initialize_on_the_host():
    layers = (_KerasStyleDense(4), _KerasStyleDense(3))
    assert all(init_mod._host_ready(la) for la in layers)
    assert not init_mod._host_ready(_KeyedInit())
    host = init_mod._host_init(layers, (None, 5), HostKey((1, 2, 3, 4)))
    assert host.order == init_mod._order(layers, (None, 5), jax.random.key(0))
    own = {k: np.asarray(v) for k, v in host.params[0].items() if "/" not in k}
    w = next(v for v in own.values() if v.shape == (5, 4))
    assert np.abs(w).max() <= np.sqrt(6 / 9) and w.std() > 0
    assert sorted(v.shape for v in own.values()) == [(4,), (5, 4)]
    assert {"inner/kernel", "inner/bias"} <= set(host.params[0])


def test_a_keras_style_model_builds_without_compiling_an_init_program():
    from lamina.models import Sequential

    compiled = []
    model = Sequential([L.Input((5,)), _KerasStyleDense(4), _KerasStyleDense(1)])
    with jax.log_compiles(True):
        import logging

        handler = logging.Handler()
        handler.emit = lambda record: compiled.append(record.getMessage())
        logger = logging.getLogger("jax._src.interpreters.pxla")
        logger.addHandler(handler)
        try:
            model.build((None, 5))
        finally:
            logger.removeHandler(handler)
    assert not [m for m in compiled if "_jit_init" in str(m)], compiled
    assert model.predict(np.ones((2, 5), np.float32), verbose=0).shape == (2, 1)


def test_a_nested_model_of_built_in_layers_initializes_on_the_host(monkeypatch):
    """The transfer-learning stack ``Sequential([base_model, GlobalAveragePooling2D(),
    Dense(1)])``: the base's layers are built in, so no initialization program is compiled
    (one over a base of 150 layers took seconds) and the base keeps its weights."""
    import lamina
    from lamina.models import initialization

    def compiled(*args, **kwargs):
        raise AssertionError("the initialization program was compiled")

    inp = lamina.Input((8, 8, 3))
    x = lamina.layers.Conv2D(4, 3, name="c1")(inp)
    x = lamina.layers.BatchNormalization(name="bn")(x)
    base = lamina.Model(inp, lamina.layers.Conv2D(2, 3, name="c2")(x))
    before = base.get_weights()
    monkeypatch.setattr(initialization, "_jit_init", compiled)
    model = lamina.Sequential(
        [base, lamina.layers.GlobalAveragePooling2D(), lamina.layers.Dense(1)]
    )
    model.build((None, 8, 8, 3))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(model.get_weights()) == len(before) + 2
