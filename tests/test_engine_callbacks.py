"""Callback hooks as Keras 3 calls them (issue 9): which hook runs when, with which logs keys,
in fit (with validation), evaluate and predict, compared with real Keras; batch hooks every
``steps_per_execution`` batches whatever ``verbose`` is; ``run_eagerly``."""

import numpy as np
import pytest

from lamina import callbacks as lcb
from lamina import layers as L
from lamina.models import Sequential
from tests.helpers import keras_ref


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x.sum(1, keepdims=True) > 0).astype("float32")


def _regression(n=20, seed=0):
    x, _ = _data(n, seed)
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def _recorder(base):
    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.calls = []

    hooks = [
        "on_train_begin",
        "on_train_end",
        "on_test_begin",
        "on_test_end",
        "on_predict_begin",
        "on_predict_end",
    ]
    indexed = [
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_predict_batch_begin",
        "on_predict_batch_end",
    ]
    for h in hooks:

        def plain(self, logs=None, h=h):
            assert isinstance(logs, dict), (h, logs)
            self.calls.append((h, None, tuple(sorted(logs))))

        setattr(Recorder, h, plain)
    for h in indexed:

        def with_index(self, i, logs=None, h=h):
            assert isinstance(logs, dict), (h, logs)
            self.calls.append((h, i, tuple(sorted(logs))))

        setattr(Recorder, h, with_index)
    return Recorder()


def _run(lib_models, lib_layers, rec, spe=1, verbose=0):
    x, y = _data()
    vx, vy = _data(12, seed=1)
    model = lib_models.Sequential(
        [lib_layers.Input((3,)), lib_layers.Dense(1, activation="sigmoid")]
    )
    model.compile(
        optimizer="sgd", loss="binary_crossentropy", metrics=["mae"], steps_per_execution=spe
    )
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=verbose,
        callbacks=[rec],
        validation_data=(vx, vy),
        shuffle=False,
    )
    model.evaluate(vx, vy, batch_size=8, verbose=0, callbacks=[rec])
    model.predict(vx, batch_size=8, verbose=0, callbacks=[rec])
    return rec.calls


@pytest.mark.parametrize("spe", [1, 2])
def test_hooks_order_and_logs_keys_match_keras(keras, spe):
    import lamina.models

    with keras_ref():
        expected = _run(keras.models, keras.layers, _recorder(keras.callbacks.Callback), spe)
    got = _run(lamina.models, L, _recorder(lcb.Callback), spe)
    assert got == expected


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_batch_hooks_run_every_batch_whatever_verbose(verbose, capsys):
    ends = []
    cb = lcb.LambdaCallback(
        on_train_batch_end=lambda batch, logs: ends.append((batch, logs["loss"]))
    )
    x, y = _regression(40)
    model = Sequential([L.Input((3,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=verbose, callbacks=[cb])
    assert [b for b, _ in ends] == [0, 1, 2, 3, 4] * 2
    assert all(np.isfinite(v) for _, v in ends)


def test_batch_logs_are_running_means_like_keras(keras):
    """The logs of every on_train_batch_end equal Keras's (same weights, no shuffle)."""
    x, y = _regression(40)

    def run(lib_models, lib_layers, base, weights=None):
        seen = []

        class Rec(base):
            def on_train_batch_end(self, batch, logs=None):
                seen.append((batch, logs["loss"], logs["mae"]))

        model = lib_models.Sequential(
            [lib_layers.Input((3,)), lib_layers.Dense(2), lib_layers.Dense(1)]
        )
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        if weights is not None:
            model.set_weights(weights)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[Rec()])
        return seen, model.get_weights()

    with keras_ref():
        km = keras.models.Sequential(
            [keras.layers.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)]
        )
        weights = km.get_weights()
        ref, _ = run(keras.models, keras.layers, keras.callbacks.Callback, weights)
    import lamina.models

    got, _ = run(lamina.models, L, lcb.Callback, weights)
    assert [b for b, *_ in got] == [b for b, *_ in ref]
    np.testing.assert_allclose([v[1:] for v in got], [v[1:] for v in ref], rtol=1e-5, atol=1e-6)


def test_without_batch_callbacks_the_epoch_is_one_program():
    x, y = _regression(64)
    model = Sequential([L.Input((3,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[lcb.History()])
    assert model._trace_counter.get("train") == 1
    assert "train_chunk" not in model._trace_counter


def test_on_train_begin_gets_a_dict_and_batch_hooks_for_streams():
    x, y = _regression(20)

    def gen():
        for i in range(0, 20, 5):
            yield x[i : i + 5], y[i : i + 5]

    rec = _recorder(lcb.Callback)
    model = Sequential([L.Input((3,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(gen(), epochs=1, verbose=0, callbacks=[rec])
    hooks = [h for h, *_ in rec.calls]
    assert hooks[0] == "on_train_begin" and hooks[-1] == "on_train_end"
    assert [i for h, i, _ in rec.calls if h == "on_train_batch_end"] == [0, 1, 2, 3]


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_run_eagerly_runs_the_loss_in_python_every_step():
    calls = []

    def loss(y_true, y_pred):
        calls.append(type(y_pred).__name__)
        return (y_true - y_pred) ** 2

    x, y = _regression(24)
    model = Sequential([L.Input((3,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss=loss, run_eagerly=True)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(calls) == 6  # 3 steps x 2 epochs, once each
    eager = Sequential([L.Input((3,)), L.Dense(1)])
    eager.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    jitted = Sequential([L.Input((3,)), L.Dense(1)])
    jitted.compile(optimizer="sgd", loss="mse")
    jitted.set_weights(eager.get_weights())
    eager.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    jitted.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(eager.get_weights(), jitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compile_argument_errors():
    model = Sequential([L.Input((3,)), L.Dense(1)])
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer"):
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=0)
    with pytest.raises(TypeError, match="run_eagerly must be True or False"):
        model.compile(optimizer="sgd", loss="mse", run_eagerly="yes")
