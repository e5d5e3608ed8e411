"""Regressions from the public-script sweep fixed outside the layers/graph code: a scalar-
returning metric function (Keras 2's ``mnist_siamese``) and targets for a model whose output
has a ``None`` time dimension (``conv_lstm``). References: real Keras 3 (JAX backend)."""

import numpy as np

import lamina
from tests.helpers import keras_ref


def _acc(ops):
    def accuracy(y_true, y_pred):  # returns one value per batch, as Keras 2 scripts did
        return ops.mean(ops.equal(y_true, ops.cast(y_pred[:, 0] < 0.5, y_true.dtype)))

    return accuracy


def test_scalar_metric_function_is_one_value_per_batch_like_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.random((24, 4), dtype=np.float32)
    y = rng.integers(0, 2, 24).astype("float32")
    w = [rng.normal(size=(4, 1)).astype("float32"), np.zeros(1, "float32")]

    def run(k):
        m = k.Sequential([k.Input((4,)), k.layers.Dense(1)])
        m.set_weights(w)
        m.compile(loss="mse", optimizer="sgd", metrics=[_acc(k.ops)])
        return m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history

    got = run(lamina)
    with keras_ref():
        ref = run(keras)
    assert set(got) == set(ref)
    np.testing.assert_allclose(got["accuracy"], ref["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-5)


def test_targets_for_an_output_with_a_none_time_axis_are_accepted():
    m = lamina.Sequential(
        [
            lamina.layers.Input((None, 5)),
            lamina.layers.LSTM(3, return_sequences=True),
            lamina.layers.Dense(2, activation="sigmoid"),
        ]
    )
    m.compile(loss="binary_crossentropy", optimizer="sgd")
    x = np.random.default_rng(1).random((4, 6, 5), dtype=np.float32)
    y = np.ones((4, 6, 2), np.float32)
    history = m.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
