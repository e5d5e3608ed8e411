"""The public pure core (issue 9): ``stateless_call`` inside a user's ``jax.jit``/``jax.grad``,
against ``predict``, a finite-difference gradient and real Keras 3's ``stateless_call``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import layers as L
from lamina.models import Sequential
from tests.helpers import keras_ref


def _model(frozen=False):
    model = Sequential(
        [L.Input((4,)), L.Dense(5, activation="tanh"), L.BatchNormalization(), L.Dense(2)]
    )
    model.build((None, 4))
    if frozen:
        model.layers[0].trainable = False
    return model


def _values(variables):
    return [jnp.asarray(v.value) for v in variables]


def _x(n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype("float32")


@pytest.mark.parametrize("frozen", [False, True])
def test_stateless_call_in_jit_matches_predict(frozen):
    model = _model(frozen)
    tv, ntv = _values(model.trainable_variables), _values(model.non_trainable_variables)
    assert len(tv) == (2 + 2 if frozen else 4 + 2)
    y, new_ntv = jax.jit(model.stateless_call)(tv, ntv, _x())
    np.testing.assert_allclose(y, model.predict(_x(), verbose=0), rtol=1e-6, atol=1e-6)
    for a, b in zip(new_ntv, ntv):  # inference leaves the statistics alone
        np.testing.assert_array_equal(a, b)


def test_stateless_call_grad_matches_finite_differences():
    model = _model()
    tv, ntv = _values(model.trainable_variables), _values(model.non_trainable_variables)
    x = _x()

    def loss(tv):
        y, _ = model.stateless_call(tv, ntv, x)
        return jnp.mean(y**2)

    grads = jax.jit(jax.grad(loss))(tv)
    eps = 1e-3
    for i in (0, 1, len(tv) - 2):
        flat = np.asarray(tv[i]).ravel()
        for j in range(min(3, flat.size)):
            up, down = flat.copy(), flat.copy()
            up[j] += eps
            down[j] -= eps
            t_up = list(tv)
            t_up[i] = jnp.asarray(up.reshape(tv[i].shape))
            t_down = list(tv)
            t_down[i] = jnp.asarray(down.reshape(tv[i].shape))
            fd = (float(loss(t_up)) - float(loss(t_down))) / (2 * eps)
            np.testing.assert_allclose(np.asarray(grads[i]).ravel()[j], fd, rtol=2e-2, atol=2e-4)


def test_stateless_call_training_matches_keras(keras):
    model = _model()
    x = _x(8)
    with keras_ref():
        km = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(5, activation="tanh"),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(2),
            ]
        )
        km.set_weights(model.get_weights())
        k_tv = [np.asarray(v.value) for v in km.trainable_variables]
        k_ntv = [np.asarray(v.value) for v in km.non_trainable_variables]
        k_y, k_new = km.stateless_call(k_tv, k_ntv, x, training=True)
        k_pred = km.predict(x, verbose=0)
    tv, ntv = _values(model.trainable_variables), _values(model.non_trainable_variables)
    for a, b in zip(tv + ntv, k_tv + k_ntv):
        np.testing.assert_array_equal(a, b)
    y, new = model.stateless_call(tv, ntv, x, training=True)
    np.testing.assert_allclose(y, k_y, rtol=1e-5, atol=1e-5)
    for a, b in zip(new, k_new):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), k_pred, rtol=1e-5, atol=1e-6)


def test_stateless_call_errors():
    model = _model()
    tv, ntv = _values(model.trainable_variables), _values(model.non_trainable_variables)
    with pytest.raises(ValueError, match=r"expected 6 trainable and 2 non-trainable"):
        model.stateless_call(tv[:-1], ntv, _x())
    bad = list(tv)
    bad[0] = jnp.zeros((3, 3))
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(3, 3\)"):
        model.stateless_call(bad, ntv, _x())
    # Recurrent dropout draws from the step's key (Dropout from its own generator state).
    drop = Sequential([L.Input((4,)), L.Reshape((2, 2)), L.LSTM(3, dropout=0.5), L.Dense(1)])
    drop.build((None, 4))
    tv, ntv = _values(drop.trainable_variables), _values(drop.non_trainable_variables)
    with pytest.raises(ValueError, match="needs a key"):
        drop.stateless_call(tv, ntv, _x(), training=True)
    y, _ = drop.stateless_call(tv, ntv, _x(), training=True, key=jax.random.key(0))
    assert y.shape == (6, 1)
