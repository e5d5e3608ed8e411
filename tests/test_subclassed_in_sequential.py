"""A subclassed model as a layer of a ``Sequential`` (Keras builds it when it is added)."""

import numpy as np

import lamina
from tests.helpers import keras_ref


def _block(lib):
    class Block(lib.Model):
        def __init__(self):
            super().__init__()
            self.d1 = lib.layers.Dense(4, activation="relu")
            self.d2 = lib.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    return Block()


def test_a_subclassed_model_inside_a_sequential_trains_as_in_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = lamina.Sequential([lamina.Input((3,)), _block(lamina), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2 + 2 + 1
    with keras_ref():
        ref = keras.Sequential([keras.Input((3,)), _block(keras), keras.layers.Dense(1)])
        ref.compile(optimizer="sgd", loss="mse")
        ref.set_weights(model.get_weights())
        want = ref.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
        want_pred = ref.predict(x[:3], verbose=0)
    got = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=2e-5)
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), want_pred, rtol=1e-5, atol=1e-6)


def _id_model(lib):
    ops = lib.ops

    class Ids(lib.Model):
        def __init__(self):
            super().__init__()
            self.table = lib.layers.Embedding(10, 4)
            self.d = lib.layers.Dense(1)

        def call(self, ids):
            first = ops.take(ops.eye(10), ids[:, 0], axis=0)  # integer ids only
            return self.d(ops.mean(self.table(ids), axis=1) + first[:, :4])

    return Ids()


def test_a_subclassed_model_on_integer_ids_builds_on_integers(keras):
    """Built by its first eager call, fit or predict: ``call`` runs on integer zeros, as
    Keras builds it on the data's dtype (float zeros made ``ops.take`` fail)."""
    ids = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 2]], dtype="int32")
    y = np.ones((4, 1), "float32")
    eager = _id_model(lamina)
    assert eager(ids).shape == (4, 1)
    assert _id_model(lamina).predict(ids, verbose=0).shape == (4, 1)
    model = _id_model(lamina)
    model.compile(optimizer="sgd", loss="mse")
    with keras_ref():
        ref = _id_model(keras)
        ref(ids)
        ref.compile(optimizer="sgd", loss="mse")
        weights = ref.get_weights()
    model(ids)
    model.set_weights(weights)
    got = model.fit(ids, y, epochs=2, batch_size=2, shuffle=False, verbose=0).history["loss"]
    with keras_ref():
        want = ref.fit(ids, y, epochs=2, batch_size=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=2e-5)
    fresh = _id_model(lamina)
    fresh.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(fresh.fit(ids, y, epochs=1, verbose=0).history["loss"][0])
