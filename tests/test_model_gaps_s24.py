"""Keras-compatibility gaps of functional, subclassed and nested models, against real Keras 3:
``reset_states`` and ``stateful=True`` RNNs on every model kind, eager calls on NumPy object
arrays, and a ``BatchNormalization`` applied twice in one training step."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

B, T, F, U = 2, 3, 2, 4


# ----------------------------------------------------------------- stateful RNNs, every model
def _functional(K, nested=False):
    """``Input(batch_shape) -> LSTM(stateful=True) -> Dense(1)`` in ``K`` (Keras or Lamina);
    with ``nested``, the LSTM sits in an inner functional model the outer one calls."""
    inp = K.Input(batch_shape=(B, T, F))
    lstm = K.layers.LSTM(U, stateful=True)
    if nested:
        inner_in = K.Input(batch_shape=(B, T, F))
        hidden = K.Model(inner_in, lstm(inner_in), name="inner")(inp)
    else:
        hidden = lstm(inp)
    return K.Model(inp, K.layers.Dense(1)(hidden)), lstm


def _keras_batches(ref, x):
    """Keras's outputs batch by batch, each call starting from the states the last one left:
    Keras 2's ``predict`` on a stateful model (Keras 3's eager call carries the states; its
    JAX-backend ``predict`` does not)."""
    return np.concatenate([np.asarray(ref(x[i : i + B])) for i in range(0, len(x), B)])


@pytest.mark.parametrize("nested", [False, True])
def test_functional_stateful_predict_carries_and_model_reset_states(keras, rng, nested):
    x1 = rng.normal(size=(2 * B, T, F)).astype("f4")
    x2 = rng.normal(size=(B, T, F)).astype("f4")
    with keras_ref():
        ref, ref_lstm = _functional(keras, nested)
        k = [_keras_batches(ref, x1), _keras_batches(ref, x2)]
        ref_lstm.reset_states()  # Keras 3 dropped Model.reset_states; Keras 2 had it
        k.append(_keras_batches(ref, x2))
        ref_lstm.reset_states()
        k.append(_keras_batches(ref, x2))
    ours, lstm = _functional(lamina, nested)
    ours.set_weights(ref.get_weights())
    o = [ours.predict(x1, batch_size=B, verbose=0), ours.predict(x2, batch_size=B, verbose=0)]
    ours.reset_states()  # Keras 2's model.reset_states() on a functional model
    o.append(ours.predict(x2, verbose=0))  # the batch size defaults to the layers' own
    lstm.reset_states()  # the layer's own reset reaches the model holding it (nested too)
    o.append(ours.predict(x2, verbose=0))
    for a, b in zip(o, k):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(o[1], o[2])  # the carried states changed the answer


def test_functional_bidirectional_stateful_predict_and_reset_states(keras, rng):
    """``Bidirectional(LSTM(stateful=True))`` is stateful as Keras's wrapper is: predict takes
    the layers' batch size, carries both directions' states, and ``reset_states`` clears them."""
    x = rng.normal(size=(2 * B, T, F)).astype("f4")

    def make(K):
        inp = K.Input(batch_shape=(B, T, F))
        return K.Model(inp, K.layers.Bidirectional(K.layers.LSTM(U, stateful=True))(inp))

    with keras_ref():
        ref = make(keras)
        k = [_keras_batches(ref, x), _keras_batches(ref, x)]
        ref.layers[1].reset_states()
        k.append(_keras_batches(ref, x))
    ours = make(lamina)
    ours.set_weights(ref.get_weights())
    o = [ours.predict(x, verbose=0), ours.predict(x, verbose=0)]
    ours.reset_states()
    o.append(ours.predict(x, verbose=0))
    ours.predict(x, verbose=0)
    ours.layers[1].reset_states()  # the wrapper's own reset, as Keras's
    o.append(ours.predict(x, verbose=0))
    for a, b in zip(o, [*k, k[2]]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_functional_stateful_fit_carries_states_as_keras2(keras, rng):
    """``fit(shuffle=False)`` runs the batches in order, each starting from the states the
    batch before left, across epochs too (Keras 2's ``stateful=True``). The reference is Keras
    3 with the states passed explicitly: ``initial_state`` from the previous batch's forward
    pass, then ``train_on_batch`` (Keras 3's JAX ``fit`` does not carry the states)."""
    x = rng.normal(size=(2 * B, T, F)).astype("f4")
    y = rng.normal(size=(2 * B, 1)).astype("f4")
    with keras_ref():
        xin = keras.Input(batch_shape=(B, T, F))
        h0, c0 = keras.Input(batch_shape=(B, U)), keras.Input(batch_shape=(B, U))
        out, h, c = keras.layers.LSTM(U, return_state=True)(xin, initial_state=[h0, c0])
        train = keras.Model([xin, h0, c0], keras.layers.Dense(1)(out))
        carry = keras.Model([xin, h0, c0], [h, c])
        train.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        start = train.get_weights()
        hs = [np.zeros((B, U), "f4")] * 2
        for _ in range(2):  # epochs
            for i in range(0, len(x), B):
                nxt = [np.asarray(v) for v in carry([x[i : i + B], *hs])]
                train.train_on_batch([x[i : i + B], *hs], y[i : i + B])
                hs = nxt
        expected = train.get_weights()
    ours, lstm = _functional(lamina)
    ours.set_weights(start)
    ours.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    ours.fit(x, y, epochs=2, shuffle=False, verbose=0)  # batch_size: the layers' own
    for a, b in zip(ours.get_weights(), expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(lstm.states, hs):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-6)


def test_functional_stateful_whole_batch_rules(rng):
    ours, _ = _functional(lamina)
    ours.compile(optimizer="sgd", loss="mse")
    x = rng.normal(size=(3, T, F)).astype("f4")
    y = np.zeros((3, 1), "f4")
    for call in (
        lambda: ours.fit(x, y, batch_size=B, shuffle=False, verbose=0),
        lambda: ours.evaluate(x, y, verbose=0),
        lambda: ours.predict(x, verbose=0),
    ):
        with pytest.raises(ValueError, match="divided by the batch size"):
            call()
    x4 = rng.normal(size=(4, T, F)).astype("f4")
    with pytest.raises(ValueError, match="batch_size=2"):
        ours.predict(x4, batch_size=4, verbose=0)
    with pytest.warns(UserWarning, match="shuffle=False"):
        ours.fit(x4, np.zeros((4, 1), "f4"), verbose=0)


def test_subclassed_stateful_predict_and_reset_states(keras, rng):
    def make(K):
        class Tagger(K.Model):
            def __init__(self):
                super().__init__()
                self.rnn = K.layers.GRU(U, stateful=True)
                self.out = K.layers.Dense(1)

            def call(self, x):
                return self.out(self.rnn(x))

        return Tagger()

    x = rng.normal(size=(2 * B, T, F)).astype("f4")
    with keras_ref():
        ref = make(keras)
        ref(x[:B])
        ref.rnn.reset_states()
        k = [_keras_batches(ref, x), _keras_batches(ref, x)]
        ref.rnn.reset_states()
        k.append(_keras_batches(ref, x))
    ours = make(lamina)
    ours(x[:B])  # built on a batch of B, as Keras builds it: the states take B rows
    ours.set_weights(ref.get_weights())
    ours.reset_states()
    o = [ours.predict(x, batch_size=B, verbose=0), ours.predict(x, verbose=0)]
    ours.reset_states()
    o.append(ours.predict(x, verbose=0))
    for a, b in zip(o, k):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(o[0], o[1])


# ------------------------------------------------------------ eager calls on object arrays
def _dummies():
    """pandas 2's ``get_dummies`` gives bool columns: ``df.values`` is an object array."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"size": [1.5, 2.0, -3.0], "color": ["red", "blue", "red"]})
    return frame, pd.get_dummies(frame).values


def test_eager_call_converts_object_arrays_of_numbers_and_bools(keras, rng):
    _, values = _dummies()
    assert values.dtype == object
    kernel = rng.normal(size=(3, 2)).astype("f4")

    def models(K):
        inp = K.Input((3,))
        functional = K.Model(inp, K.layers.Dense(2)(inp))
        sequential = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
        layer = K.layers.Dense(2)
        layer.build((None, 3))
        for m in (functional, sequential, layer):
            m.set_weights([kernel, np.zeros(2, "f4")])
        return functional, sequential, layer

    with keras_ref():
        expected = [np.asarray(m(values)) for m in models(keras)]
    for m, want in zip(models(lamina), expected):
        got = m(values)
        assert got.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_eager_call_on_object_array_of_strings_names_the_column():
    frame, _ = _dummies()
    inp = lamina.Input((2,))
    model = lamina.Model(inp, lamina.layers.Dense(1)(inp))
    with pytest.raises(TypeError, match=r"model 'functional.*must be numeric.*str values "
                       r"\(e\.g\. 'red'\) in column 1.*encode text columns"):  # fmt: skip
        model(frame.values)
    with pytest.raises(TypeError, match=r"str values \(e\.g\. 'red'\) in column 1"):
        lamina.layers.Dense(1)(frame.values)


# ------------------------------------------------------- one BatchNormalization, two uses
def _bn_twice_functional(K):
    """One BN on two different inputs of one graph."""
    a, b = K.Input((3,)), K.Input((3,))
    bn = K.layers.BatchNormalization()
    return K.Model([a, b], K.layers.Dense(1)(K.layers.Concatenate()([bn(a), bn(b)]))), bn


def _bn_nested_and_outer(K):
    """One BN inside a nested model and again in the outer graph."""
    bn = K.layers.BatchNormalization()
    j = K.Input((3,))
    inner = K.Model(j, bn(j))
    i = K.Input((3,))
    return K.Model(i, K.layers.Dense(1)(bn(K.layers.Dense(3)(inner(i))))), bn


def _bn_two_nested(K):
    """One BN in two models nested one after the other."""
    bn = K.layers.BatchNormalization()
    j = K.Input((3,))
    first = K.Model(j, bn(j))
    second = K.Sequential([K.Input((3,)), K.layers.Dense(3), bn])
    i = K.Input((3,))
    return K.Model(i, K.layers.Dense(1)(second(first(i)))), bn


def _bn_sequential_nested(K):
    """One BN inside a model nested in a ``Sequential`` and again in the stack."""
    bn = K.layers.BatchNormalization()
    j = K.Input((3,))
    inner = K.Model(j, bn(j))
    layers = [K.Input((3,)), inner, K.layers.Dense(3), bn, K.layers.Dense(1)]
    return K.Sequential(layers), bn


def _bn_subclassed(K, through_inner=False):
    """A subclassed model's ``call`` using one BN twice (once through a nested model)."""

    class Twice(K.Model):
        def __init__(self):
            super().__init__()
            self.bn = K.layers.BatchNormalization()
            self.mid = K.layers.Dense(3)
            self.head = K.layers.Dense(1)
            j = K.Input((3,))
            self.inner = K.Model(j, self.bn(j))

        def call(self, x, training=None):
            first = self.inner if through_inner else self.bn
            return self.head(self.bn(self.mid(first(x, training=training)), training=training))

    model = Twice()
    return model, model.bn


@pytest.mark.parametrize(
    "make",
    [
        _bn_twice_functional,
        _bn_nested_and_outer,
        _bn_two_nested,
        _bn_sequential_nested,
        _bn_subclassed,
        lambda K: _bn_subclassed(K, through_inner=True),
    ],
    ids=[
        "functional",
        "nested_and_outer",
        "two_nested",
        "sequential_nested",
        "subclassed",
        "subclassed_inner",
    ],
)
def test_shared_batch_norm_chains_its_updates_as_keras(keras, rng, make):
    a = rng.normal(size=(8, 3)).astype("f4")
    b = (rng.normal(size=(8, 3)) * 3 + 2).astype("f4")
    y = rng.normal(size=(8, 1)).astype("f4")
    x = [a, b] if make is _bn_twice_functional else a
    with keras_ref():
        ref, ref_bn = make(keras)
        ref(x)
        ref.compile(optimizer="sgd", loss="mse")
        start = ref.get_weights()
        ref.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        expected = [np.asarray(ref_bn.moving_mean), np.asarray(ref_bn.moving_variance)]
    ours, bn = make(lamina)
    ours(x)
    ours.set_weights(start)
    ours.compile(optimizer="sgd", loss="mse")
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    got = [np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    # the weights Keras lists once agree too (the moving statistics at their home)
    for g, e in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
