"""A user subclass of a built-in layer overriding ``call`` and reaching the built-in
computation through ``super().call`` (Hands-On ML's Monte Carlo dropout, a post-processed
``Dense``): the user's ``call`` runs, in eager calls, ``predict``, ``evaluate`` and ``fit``,
with the layer's weights and gradients as in Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _classes(K):
    class MCDropout(K.layers.Dropout):
        def call(self, inputs, training=False):
            return super().call(inputs, training=True)

    class ScaledDense(K.layers.Dense):
        def call(self, inputs):
            return super().call(inputs) * 2.0 + K.ops.sum(self.kernel)

    return MCDropout, ScaledDense


def test_mc_dropout_drops_at_inference_with_fresh_masks():
    MCDropout, _ = _classes(lamina)
    x = np.ones((4, 200), "float32")
    eager = np.asarray(MCDropout(0.5)(x))
    assert set(np.unique(eager)) == {0.0, 2.0}  # dropped and rescaled, not the identity
    model = lamina.Sequential(
        [lamina.Input((200,)), MCDropout(0.5), lamina.layers.Dense(1, kernel_initializer="ones")]
    )
    first, second = (model.predict(x, verbose=0) for _ in range(2))
    assert not np.allclose(first, second)  # a new mask per predict call
    assert len(np.unique(first)) > 1  # and per row
    # Averaged over many draws it approaches the deterministic output (200): HOML's estimate.
    mean = np.mean([model.predict(x, verbose=0) for _ in range(50)])
    assert abs(mean - 200.0) < 5.0
    model.compile("sgd", "mse")
    losses = {round(model.evaluate(x, np.zeros((4, 1)), verbose=0), 3) for _ in range(3)}
    assert len(losses) > 1  # evaluate draws too


def test_plain_dropout_is_still_the_identity_at_inference():
    model = lamina.Sequential([lamina.Input((50,)), lamina.layers.Dropout(0.5)])
    x = np.ones((3, 50), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(np.asarray(model(x)), x)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_overridden_dense_call_matches_keras_in_predict_and_fit(keras, kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = rng.normal(size=(12, 2)).astype("float32")

    def build(K):
        _, ScaledDense = _classes(K)
        if kind == "sequential":
            return K.Sequential([K.Input((3,)), ScaledDense(4), K.layers.Dense(2)])
        inputs = K.Input((3,))
        return K.Model(inputs, K.layers.Dense(2)(ScaledDense(4)(inputs)))

    with keras_ref():
        ref = build(keras)
        weights = ref.get_weights()
        want = ref.predict(x, verbose=0)
        ref.compile(keras.optimizers.SGD(0.01), "mse")
        hist = ref.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        trained = ref.get_weights()
    ours = build(lamina)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    ours.compile(lamina.optimizers.SGD(0.01), "mse")
    got = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], hist["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), trained):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_overridden_call_of_a_standalone_layer_matches_keras(keras):
    x = np.arange(6, dtype="float32").reshape(2, 3)
    with keras_ref():
        ref = _classes(keras)[1](2, kernel_initializer="ones", bias_initializer="ones")
        want = np.asarray(ref(x))
    ours = _classes(lamina)[1](2, kernel_initializer="ones", bias_initializer="ones")
    np.testing.assert_allclose(np.asarray(ours(x)), want)
