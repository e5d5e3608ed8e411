"""LearningRateScheduler, ReduceLROnPlateau, CSVLogger, TensorBoard and History.plot."""

import csv

import numpy as np
import pytest

from lamina import callbacks, optimizers
from lamina.layers import Dense
from lamina.models import Sequential


def _model(lr=0.1):
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="mse", metrics=["mae"])
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype("float32")
    return X, X.sum(1).astype("float32")


def test_exported_from_lamina_callbacks():
    for name in ("ReduceLROnPlateau", "CSVLogger", "LearningRateScheduler", "TensorBoard"):
        assert name in callbacks.__all__ and hasattr(callbacks, name)


def test_scheduler_sets_lr_each_epoch_without_recompiling():
    model = _model()
    X, y = _data()
    model.fit(X, y, epochs=1, verbose=0)
    traces = dict(model._trace_counter)
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    h = model.fit(X, y, epochs=4, verbose=0, callbacks=[sched])
    np.testing.assert_allclose(h.history["learning_rate"], [0.1, 0.05, 0.025, 0.0125], rtol=1e-6)
    assert float(optimizers.get_learning_rate(model._train_state.opt_state)) == pytest.approx(
        0.0125
    )
    assert model._trace_counter == traces  # the new rate is data, not a new program


def test_scheduler_lr_really_used():
    X, y = _data()
    frozen, moving = _model(), _model()
    frozen.set_weights(moving.get_weights())
    w0 = frozen.get_weights()
    zero = callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    frozen.fit(X, y, epochs=2, verbose=0, callbacks=[zero], shuffle=False)
    for a, b in zip(w0, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_scheduler_rejects_non_float():
    model = _model()
    X, y = _data()
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(
            X,
            y,
            epochs=1,
            verbose=0,
            callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")],
        )


def test_reduce_lr_on_plateau():
    model = _model(lr=0.1)
    X, y = _data()
    cb = callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=1, min_delta=1e9, min_lr=0.02
    )
    h = model.fit(X, y, epochs=5, verbose=0, callbacks=[cb])
    # min_delta so large that no epoch improves: halve after every epoch but the first, floor
    # 0.02.  As in Keras, each epoch logs the rate it trained with (before the reduction).
    np.testing.assert_allclose(h.history["learning_rate"], [0.1, 0.1, 0.05, 0.025, 0.02], rtol=1e-6)
    assert float(optimizers.get_learning_rate(model._train_state.opt_state)) == pytest.approx(0.02)


def test_reduce_lr_factor_check():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    model = _model()
    X, y = _data()
    model.fit(
        X, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)]
    )
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "mae", "val_loss", "val_mae"}
    model.fit(X, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    assert len(list(csv.DictReader(open(path)))) == 4


def _read_scalars(folder):
    """(tag, step, value) of every scalar in the TensorBoard event files under ``folder``."""
    import struct

    from tensorboardX.proto import event_pb2

    out = []
    for path in sorted(folder.glob("events.out.tfevents*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for v in event.summary.value:
                out.append((v.tag, event.step, v.simple_value))
    return out


def test_tensorboard_writes_the_logged_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    model = _model()
    X, y = _data()
    history = model.fit(
        X,
        y,
        epochs=2,
        verbose=0,
        validation_split=0.25,
        callbacks=[callbacks.TensorBoard(tmp_path)],
    )
    train = _read_scalars(tmp_path / "train")
    val = _read_scalars(tmp_path / "validation")
    for key, values in history.history.items():
        run = val if key.startswith("val_") else train
        name = key[4:] if key.startswith("val_") else key
        got = [v for tag, step, v in run if tag.endswith(name)]
        np.testing.assert_allclose(got, values, rtol=1e-6, err_msg=key)


def test_tensorboard_without_a_writer_package_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.split(".")[0] in ("tensorboardX", "tensorboard", "torch"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError, match=r"pip install \"lamina\[tensorboard\]\""):
        callbacks.TensorBoard(tmp_path)


def test_history_plot_png_holds_the_curves(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    X, y = _data()
    h = model.fit(X, (y > 0).astype("int64"), epochs=3, verbose=0, validation_split=0.25)
    fig = h.plot()
    out = tmp_path / "curves.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert set(panels) == {"loss", "accuracy"}
    for name, ax in panels.items():
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert set(lines) == {name, "val_" + name}
        for key, line in lines.items():
            np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
            np.testing.assert_allclose(line.get_ydata(), h.history[key], rtol=1e-6)
    one = h.plot(metrics=["loss"])
    assert len(one.axes) == 1
    with pytest.raises(ValueError, match="not in the history"):
        h.plot(metrics=["auc"])
