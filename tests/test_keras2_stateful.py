"""Stateful recurrent layers and return_state, against real Keras 3 with the same weights."""

import jax
import numpy as np
import pytest

import lamina
from lamina.models.legacy_api import check_stateful_data, stateful_predict
from tests.helpers import keras_ref

B, T, F, U = 2, 3, 2, 4


def _pair(keras, cls_name, **kw):
    """The same stateful model in Lamina and Keras, Keras's weights copied to Lamina."""
    ours = lamina.models.Sequential(
        [getattr(lamina.layers, cls_name)(U, stateful=True, batch_input_shape=(B, T, F), **kw),
         lamina.layers.Dense(1)]  # fmt: skip
    )
    with keras_ref():
        ref = keras.Sequential(
            [keras.Input(batch_shape=(B, T, F)),
             getattr(keras.layers, cls_name)(U, stateful=True, **kw),
             keras.layers.Dense(1)]  # fmt: skip
        )
        weights = ref.get_weights()
    ours.build((B, T, F))
    # Carried states are not weights, in Keras and in Lamina: the lists match one to one.
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    assert ours.count_params() == ref.count_params()
    ours.set_weights(weights)
    return ours, ref


def _keras_batches(ref, x):
    """Keras's outputs batch by batch, each call starting from the states the last one left.

    Keras 3's eager call carries a stateful layer's states, as Keras 2's predict did; Keras 3's
    JAX-backend ``predict`` runs statelessly and does not carry them.
    """
    return np.concatenate([np.asarray(ref(x[i : i + B])) for i in range(0, len(x), B)])


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
def test_state_carried_across_predict_calls_and_reset(keras, rng, cls_name):
    ours, ref = _pair(keras, cls_name)
    x1 = rng.normal(size=(2 * B, T, F)).astype("f4")
    x2 = rng.normal(size=(B, T, F)).astype("f4")
    with keras_ref():
        k = [_keras_batches(ref, x1), _keras_batches(ref, x2)]
        ref.layers[0].reset_states()  # Keras 3 dropped Model.reset_states
        k.append(_keras_batches(ref, x2))
    o = [ours.predict(x1, batch_size=B, verbose=0), ours.predict(x2, batch_size=B, verbose=0)]
    ours.reset_states()
    o.append(ours.predict(x2, verbose=0))  # the batch size defaults to the layers' own
    for a, b in zip(o, k):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the carried state changed the answer: without reset the second call differs
    assert not np.allclose(o[1], o[2])


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_evaluate_carries_states_as_predict(keras, rng, cls_name):
    """``evaluate`` starts each batch from the states the batch before left and keeps them
    for the next call, as ``predict`` and ``fit`` do (Keras's documented ``stateful=True``;
    Keras 3's JAX-backend ``evaluate`` drops them, its eager call carries them)."""
    ours, ref = _pair(keras, cls_name)
    x = rng.normal(size=(3 * B, T, F)).astype("f4")
    y = rng.normal(size=(3 * B, 1)).astype("f4")
    with keras_ref():
        k = [_keras_batches(ref, x), _keras_batches(ref, x)]
        ref.layers[0].reset_states()
        k.append(_keras_batches(ref, x))
    expected = [[np.mean((p - y) ** 2), np.mean(np.abs(p - y))] for p in k]
    ours.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    got = [ours.evaluate(x, y, batch_size=B, verbose=0) for _ in range(2)]
    ours.reset_states()
    got.append(ours.evaluate(x, y, verbose=0))  # the batch size defaults to the layers' own
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], got[1])  # the second call started from carried states


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_layer_reset_states_and_fit_carry(keras, rng):
    x = rng.normal(size=(2 * B, T, F)).astype("f4")
    y = rng.normal(size=(2 * B, 1)).astype("f4")
    models = [_pair(keras, "LSTM")[0] for _ in range(3)]
    start = models[0].get_weights()
    for m in models:
        m.set_weights(start)
        m.compile(optimizer="sgd", loss="mse")
    one, split, reset = models
    one.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)  # two batches, one fit
    split.fit(x[:B], y[:B], batch_size=B, shuffle=False, verbose=0)  # same batches, two fits
    split.fit(x[B:], y[B:], batch_size=B, shuffle=False, verbose=0)
    reset.fit(x[:B], y[:B], batch_size=B, shuffle=False, verbose=0)
    reset.layers[0].reset_states()  # forget the first batch's states
    reset.fit(x[B:], y[B:], batch_size=B, shuffle=False, verbose=0)
    for a, b in zip(one.get_weights(), split.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one.get_weights()[0], reset.get_weights()[0])
    with keras_ref():  # the carried states after fit are Keras's forward pass from them
        ref = _pair(keras, "LSTM")[1]
        ref.set_weights(one.get_weights())
        ref.layers[0].states[0].assign(np.asarray(one._train_state.state[0]["rnn_state_0"]))
        ref.layers[0].states[1].assign(np.asarray(one._train_state.state[0]["rnn_state_1"]))
        expected = _keras_batches(ref, x)
    np.testing.assert_allclose(stateful_predict(one, x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_return_state_matches_keras(keras, rng):
    x = rng.normal(size=(B, T, F)).astype("f4")
    for cls_name, n_states in (("LSTM", 2), ("GRU", 1)):
        layer = getattr(lamina.layers, cls_name)(U, return_state=True, return_sequences=True)
        params, state = layer.init(jax.random.key(0), (None, T, F))
        with keras_ref():
            k_layer = getattr(keras.layers, cls_name)(U, return_state=True, return_sequences=True)
            k_layer.build((None, T, F))
            k_layer.set_weights([np.asarray(params[n]) for n in params])
            k_out = [np.asarray(v) for v in k_layer(x)]
        out, _ = layer.apply(params, state, x)
        assert isinstance(out, list) and len(out) == 1 + n_states
        for a, b in zip(out, k_out):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6)
        shapes = layer.compute_output_shape((None, T, F))
        assert shapes == [(None, T, U)] + [(None, U)] * n_states
        assert layer.get_config()["return_state"] is True


def test_stateful_errors(rng):
    layer = lamina.layers.LSTM(U, stateful=True)
    with pytest.raises(ValueError, match="fixed batch size"):
        layer.init(jax.random.key(0), (None, T, F))
    model = lamina.models.Sequential(
        [lamina.layers.LSTM(U, stateful=True, batch_input_shape=(B, T, F))]
    )
    model.build((B, T, F))
    with pytest.raises(ValueError, match="divided by the batch size"):
        check_stateful_data(model, 5)
    with pytest.raises(ValueError, match="batch_size=2"):
        check_stateful_data(model, 4, batch_size=4)
    with pytest.warns(UserWarning, match="shuffle=False"):
        check_stateful_data(model, 4, shuffle=True)
    with pytest.raises(ValueError, match="batches of 2 samples"):
        stateful_predict(model, rng.normal(size=(3, T, F)).astype("f4"), batch_size=3)
    model.compile(optimizer="sgd", loss="mse")
    x = rng.normal(size=(5, T, F)).astype("f4")
    with pytest.raises(ValueError, match="divided by the batch size"):
        model.fit(x, np.zeros((5, U), "f4"), batch_size=B, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="divided by the batch size"):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match="divided by the batch size"):
        model.evaluate(x, np.zeros((5, U), "f4"), verbose=0)
    with pytest.raises(AttributeError, match="not stateful"):
        lamina.layers.LSTM(U).reset_states()


def test_stateful_model_saves_and_loads(tmp_path, rng):
    model = lamina.models.Sequential(
        [lamina.layers.LSTM(U, stateful=True, batch_input_shape=(B, T, F)), lamina.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(2 * B, T, F)).astype("f4")
    model.fit(x, rng.normal(size=(2 * B, 1)).astype("f4"), batch_size=B, shuffle=False, verbose=0)
    assert model.layers[0].get_config()["batch_input_shape"] == (B, T, F)
    path = str(tmp_path / "stateful.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    # As in Keras, the file holds weights, not carried states: a loaded model starts from zero.
    model.reset_states()
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
