"""A non-finite loss stops training where it happened, keeps the weights from before it, and
says where (epoch and batch)."""

import numpy as np
import pytest

from lamina.callbacks import TerminateOnNaN
from lamina.layers import Dense
from lamina.models import Sequential


def _model():
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40,)).astype("float32")


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_previous_weights():
    # A target of 1e30 squares to inf in the loss whatever the weights (an input of 1e30 could
    # be zeroed by a relu, depending on the random initial weights).
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    before = model.get_weights()
    y_bad = y.copy()
    y_bad[25] = 1e30  # batch 2 of the next epoch (rows 20..29)
    with pytest.warns(RuntimeWarning, match=r"epoch 1, batch 2: training stopped"):
        history = model.fit(x, y_bad, batch_size=10, epochs=5, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
    # Batches 0 and 1 trained; the weights are those from before batch 2, all finite.
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    reference = _model()
    reference.set_weights(before)
    reference.fit(x[:20], y[:20], batch_size=10, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(after, reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_terminate_on_nan_callback_stops_too():
    x, y = _data()
    y[5] = 1e30  # inf loss in batch 0 whatever the initial weights
    model = _model()
    with pytest.warns(RuntimeWarning, match="epoch 1, batch 0"):
        history = model.fit(
            x, y, batch_size=10, epochs=3, verbose=0, shuffle=False, callbacks=[TerminateOnNaN()]
        )
    assert len(history.history["loss"]) == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())
