"""The padding rows of a short last batch must not turn the results into NaN: a masked
average over an all-zero (fully masked) row is 0/0, and NaN times a zero weight stays NaN.
Keras runs the short batch as it is; Lamina pads with copies of a real row, masked out."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _model(k):
    inputs = k.Input((5,), dtype="int32")
    x = k.layers.Embedding(10, 4, mask_zero=True)(inputs)
    out = k.layers.Dense(1)(k.layers.GlobalAveragePooling1D()(x))
    model = k.Model(inputs, out)
    model.compile(k.optimizers.SGD(0.1), "mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("batch_size", [2, 32])
def test_short_batches_after_a_masked_average_match_keras(keras, batch_size):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10, (5, 5))
    x[1, 2:] = 0
    y = rng.normal(size=(5, 1)).astype("float32")
    with keras_ref():
        ref = _model(keras)
        weights = ref.get_weights()
        want = ref.evaluate(x, y, batch_size=batch_size, verbose=0)
    model = _model(lamina)
    model.set_weights(weights)
    got = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)

    def batches():
        for i in range(0, 5, 2):
            yield x[i : i + 2], y[i : i + 2]

    np.testing.assert_allclose(model.evaluate(batches(), verbose=0), want, rtol=1e-5)
    assert np.isfinite(model.predict(x, batch_size=batch_size, verbose=0)).all()
