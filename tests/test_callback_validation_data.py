"""Keras 2's ``callback.validation_data``: fit's validation arrays on every callback.

Keras 2's array fit loop ran ``for cbk in callbacks: cbk.validation_data = val_ins`` after
``on_train_begin``, ``val_ins`` being the validation inputs, then targets, then per-output
sample weights (ones when none were given).  Keras 3 dropped it; callbacks from Keras 2
tutorials (F1 / ROC AUC at each epoch end) read ``self.validation_data[0]`` and ``[1]``.
"""

import numpy as np
import pytest

from lamina import layers
from lamina.callbacks import Callback
from lamina.models import Model, Sequential


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def _model():
    m = Sequential([layers.Dense(4, input_dim=3), layers.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy")
    return m


class _Recorder(Callback):
    def on_train_begin(self, logs=None):
        self.at_begin = self.validation_data
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        data = self.validation_data
        self.seen.append(None if data is None else [np.asarray(a) for a in data])


def test_validation_data_tuple_is_inputs_targets_and_unit_weights():
    x, y = _data()
    cb = _Recorder()
    _model().fit(x, y, epochs=2, verbose=0, validation_data=(x[:10], y[:10]), callbacks=[cb])
    assert cb.at_begin is None  # Keras 2 set it after on_train_begin
    assert len(cb.seen) == 2
    vx, vy, sw = cb.seen[-1]
    np.testing.assert_array_equal(vx, x[:10])
    np.testing.assert_array_equal(vy, y[:10])
    np.testing.assert_array_equal(sw, np.ones(10, np.float32))


def test_given_sample_weights_are_passed_on():
    x, y = _data()
    w = np.linspace(0.5, 1.5, 10).astype("float32")
    cb = _Recorder()
    _model().fit(x, y, epochs=1, verbose=0, validation_data=(x[:10], y[:10], w), callbacks=[cb])
    np.testing.assert_array_equal(cb.seen[0][2], w)


def test_validation_split_gives_the_held_out_last_rows():
    x, y = _data()
    cb = _Recorder()
    _model().fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[cb])
    vx, vy, _ = cb.seen[0]
    np.testing.assert_array_equal(vx, x[30:])
    np.testing.assert_array_equal(vy, y[30:])


def test_keras2_f1_callback_runs():
    """The Keras 2 era "Metrics" callback, as posted: no super().__init__(), mutable defaults."""

    class Metrics(Callback):
        def on_train_begin(self, logs={}):  # noqa: B006 - the posted code, unchanged
            self.val_accs = []

        def on_epoch_end(self, epoch, logs={}):  # noqa: B006
            val_predict = (np.asarray(self.model.predict(self.validation_data[0]))).round()
            val_targ = self.validation_data[1]
            self.val_accs.append(float(np.mean(val_predict == val_targ)))

    x, y = _data()
    m = _model()
    cb = Metrics()
    m.fit(x, y, epochs=2, verbose=0, validation_data=(x[:10], y[:10]), callbacks=[cb])
    expected = float(np.mean(np.asarray(m.predict(x[:10], verbose=0)).round() == y[:10]))
    assert len(cb.val_accs) == 2 and cb.val_accs[-1] == pytest.approx(expected)


def test_multi_input_order_inputs_then_targets_then_weights():
    a, b = layers.Input((3,)), layers.Input((2,))
    h = layers.Concatenate()([a, b])
    m = Model([a, b], [layers.Dense(1)(h), layers.Dense(2)(h)])
    m.compile("sgd", ["mse", "mse"])
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    y1, y2 = rng.normal(size=(8, 1)), rng.normal(size=(8, 2))
    cb = _Recorder()
    m.fit([xa, xb], [y1, y2], epochs=1, verbose=0,
          validation_data=([xa, xb], [y1, y2]), callbacks=[cb])  # fmt: skip
    got = cb.seen[0]
    assert [g.shape for g in got] == [(8, 3), (8, 2), (8, 1), (8, 2), (8,), (8,)]
    np.testing.assert_allclose(got[1], xb)
    np.testing.assert_allclose(got[3], y2)


def test_no_validation_leaves_none_and_own_arrays_are_kept():
    x, y = _data()

    class Own(Callback):
        def __init__(self, data):
            super().__init__()
            self.validation_data = data

        def on_epoch_end(self, epoch, logs=None):
            self.rows = len(self.validation_data[0])

    plain, own = _Recorder(), Own((x[:5], y[:5]))
    m = _model()
    m.fit(x, y, epochs=1, verbose=0, callbacks=[plain])
    assert plain.at_begin is None and plain.validation_data is None
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x[:7], y[:7]), callbacks=[own])
    assert own.rows == 5


def test_a_later_fit_replaces_the_arrays_an_earlier_fit_set():
    x, y = _data()
    cb, m = _Recorder(), _model()
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x[:10], y[:10]), callbacks=[cb])
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x[:7], y[:7]), callbacks=[cb])
    assert cb.seen[-1][0].shape == (7, 3)
