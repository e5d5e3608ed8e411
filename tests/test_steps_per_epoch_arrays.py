"""``steps_per_epoch`` with arrays, as Keras reads them: each epoch takes that many batches,
continuing the pass over the data where the previous epoch stopped; a pass that ends inside an
epoch ends it early ("ran out of data") and the next epoch starts a new pass."""

import warnings

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _fit(k, steps_per_epoch, epochs):
    class Count(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.batches.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.batches[-1] += 1

    counter = Count()
    counter.batches = []
    model = k.Sequential([k.Input((2,)), k.layers.Dense(1, kernel_initializer="ones")])
    model.compile(k.optimizers.SGD(0.05), "mse")
    x = np.arange(20, dtype="float32").reshape(10, 2) / 10
    y = np.ones((10, 1), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=4, steps_per_epoch=steps_per_epoch, epochs=epochs,
                            shuffle=False, verbose=0, callbacks=[counter])  # fmt: skip
    ran_out = sum("ran out of data" in str(w.message) for w in caught)
    return history.history["loss"], counter.batches, ran_out, model.get_weights()


@pytest.mark.parametrize("steps_per_epoch", [1, 2, 4])
def test_steps_per_epoch_walks_the_arrays_like_keras(keras, steps_per_epoch):
    with keras_ref():
        want = _fit(keras, steps_per_epoch, epochs=4)
    got = _fit(lamina, steps_per_epoch, epochs=4)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert got[1] == want[1]  # batches per epoch
    assert (got[2] > 0) == (want[2] > 0)  # the "ran out of data" warning
    for a, b in zip(got[3], want[3]):
        np.testing.assert_allclose(a, b, rtol=1e-5)
