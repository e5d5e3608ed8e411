"""A second ``adapt`` of a Normalization already called or in a model takes effect (as Keras)."""

import numpy as np

import lamina
from tests.helpers import keras_ref


def test_readapt_after_a_call_and_inside_a_model_matches_keras(keras):
    a = (np.arange(8, dtype="float32").reshape(4, 2) + 1.0) ** 2
    b = np.arange(8, dtype="float32").reshape(4, 2) * 3.0 + 5.0
    x = np.array([[0.5, -1.0], [2.0, 3.0]], "float32")
    with keras_ref():
        k = keras.layers.Normalization()
        k.adapt(a)
        want_a = np.asarray(k(x))
        k.adapt(b)
        want_b = np.asarray(k(x))
    layer = lamina.layers.Normalization()
    layer.adapt(a)
    np.testing.assert_allclose(np.asarray(layer(x)), want_a, rtol=1e-5, atol=1e-6)
    layer.adapt(b)
    np.testing.assert_allclose(np.asarray(layer(x)), want_b, rtol=1e-5, atol=1e-6)

    inner = lamina.layers.Normalization()
    inner.adapt(a)
    model = lamina.Sequential([lamina.Input((2,)), inner])
    np.testing.assert_allclose(model.predict(x, verbose=0), want_a, rtol=1e-5, atol=1e-6)
    inner.adapt(b)
    np.testing.assert_allclose(model.predict(x, verbose=0), want_b, rtol=1e-5, atol=1e-6)


def test_adapt_builds_a_standalone_layer_like_keras(keras):
    # TensorFlow's "basic regression" tutorial reads normalizer.mean right after adapt.
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(50, 4)).astype("float32")
    with keras_ref():
        kn = keras.layers.Normalization(axis=-1)
        kn.adapt(x)
        k_weights = [np.asarray(w) for w in kn.get_weights()]
        k_out = np.asarray(kn(x[:3]))
    ln = lamina.layers.Normalization(axis=-1)
    ln.adapt(x)
    np.testing.assert_allclose(ln.mean.numpy(), x.mean(axis=0, keepdims=True), rtol=1e-5)
    got = ln.get_weights()
    assert [w.shape for w in got] == [w.shape for w in k_weights]
    for a, b in zip(got, k_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ln(x[:3])), k_out, rtol=1e-5, atol=1e-6)
