"""``CallbackList`` (Keras's constructor) and ``SwapEMAWeights`` against real Keras 3;
``RemoteMonitor`` is tested in test_api_gaps_more.py."""

import numpy as np
import pytest

from lamina import callbacks
from lamina.layers import Dense
from lamina.models import Sequential
from tests.helpers import keras_ref


class _Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs or {})))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch))


@pytest.mark.parametrize("add_history,add_progbar", [(False, False), (True, False), (True, True)])
def test_callback_list_constructor_matches_keras(keras, add_history, add_progbar):
    with keras_ref():
        ref = keras.callbacks.CallbackList(
            [keras.callbacks.Callback()],
            add_history=add_history,
            add_progbar=add_progbar,
            epochs=2,
            steps=3,
            verbose=0,
        )
    ours = callbacks.CallbackList(
        [callbacks.Callback()],
        add_history=add_history,
        add_progbar=add_progbar,
        epochs=2,
        steps=3,
        verbose=0,
    )
    assert [type(c).__name__ for c in ours.callbacks] == [type(c).__name__ for c in ref.callbacks]
    params = {"epochs": 2, "steps": 3, "verbose": 0}
    assert ours.params == ref.params == params
    assert all(c.params == params for c in ours.callbacks)
    assert isinstance(ours, callbacks.Callback)


def test_callback_list_dispatches_and_sets_the_model():
    rec = _Recorder()
    model = Sequential([Dense(1, input_shape=(2,))])
    cbs = callbacks.CallbackList([[rec]], add_history=True, model=model, verbose=0)
    assert rec.model is model and isinstance(model.history, callbacks.History)
    cbs.on_epoch_end(0, {"loss": 1.0})
    cbs.on_batch_end(3, {"loss": 0.5})  # Keras's alias of on_train_batch_end
    assert rec.calls == [("epoch_end", 0, {"loss": 1.0}), ("batch_end", 3)]
    with pytest.raises(TypeError, match="callbacks must be lamina.callbacks.Callback"):
        callbacks.CallbackList([object()])


def test_fit_runs_the_callbacks_of_a_callback_list(rng):
    x = rng.normal(size=(16, 2)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    rec = _Recorder()
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0, callbacks=callbacks.CallbackList([rec]))
    assert [c[1] for c in rec.calls if c[0] == "epoch_end"] == [0, 1]


def _ema_models(keras, rng, swap_on_epoch):
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    xv = rng.normal(size=(16, 3)).astype("float32")
    yv = rng.normal(size=(16, 2)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        km.compile(keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "mse")
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(
            x,
            y,
            batch_size=8,
            epochs=3,
            shuffle=False,
            verbose=0,
            validation_data=(xv, yv),
            callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)],
        ).history
        kw = km.get_weights()
        kev = km.evaluate(xv, yv, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    from lamina import optimizers

    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "mse")
    model.set_weights(weights)
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)],
    ).history
    ev = model.evaluate(xv, yv, verbose=0, callbacks=[callbacks.SwapEMAWeights()])
    return (h, model.get_weights(), ev), (kh, kw, kev)


@pytest.mark.parametrize("swap_on_epoch", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_swap_ema_weights_matches_keras(keras, rng, swap_on_epoch):
    (h, w, ev), (kh, kw, kev) = _ema_models(keras, rng, swap_on_epoch)
    assert sorted(h) == sorted(kh)
    for k in kh:
        np.testing.assert_allclose(h[k], kh[k], rtol=1e-4, atol=1e-6, err_msg=k)
    for a, b in zip(w, kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ev, kev, rtol=1e-4)


@pytest.mark.slow
def test_swap_ema_weights_changes_validation_only(rng):
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    from lamina import optimizers

    def run(cbs):
        model = Sequential([Dense(2, input_shape=(3,), kernel_initializer="ones")])
        model.compile(optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9), "mse")
        return model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            validation_split=0.25,
            callbacks=cbs,
        ).history

    plain, swapped = run([]), run([callbacks.SwapEMAWeights()])
    np.testing.assert_allclose(plain["loss"], swapped["loss"], rtol=1e-6)
    assert not np.allclose(plain["val_loss"], swapped["val_loss"])


def test_swap_ema_weights_needs_use_ema(rng):
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    x = rng.normal(size=(8, 2)).astype("float32")
    with pytest.raises(ValueError, match="`use_ema=True` is set on the optimizer"):
        model.evaluate(x, x[:, :1], verbose=0, callbacks=[callbacks.SwapEMAWeights()])
