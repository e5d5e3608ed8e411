"""ModelCheckpoint and BackupAndRestore, including a fit killed by SIGKILL and resumed."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lamina
from lamina.callbacks import BackupAndRestore, Callback, ModelCheckpoint
from lamina.models import load_model
from tests.helpers import keras_ref


def _model_and_data():
    lamina.utils.random.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = lamina.models.Sequential(
        [
            lamina.layers.Input((4,)),
            lamina.layers.Dense(8, activation="relu"),
            lamina.layers.Dropout(0.3),
            lamina.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model, x, y


# ------------------------------------------------------------------ ModelCheckpoint
def test_checkpoint_every_epoch_formats_names(tmp_path):
    model, x, y = _model_and_data()
    pattern = str(tmp_path / "m-{epoch:02d}-{loss:.2f}.keras")
    hist = model.fit(
        x, y, epochs=3, verbose=0, callbacks=[ModelCheckpoint(pattern, monitor="loss")]
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"m-{e + 1:02d}-{loss:.2f}.keras" for e, loss in enumerate(hist.history["loss"])]
    assert names == sorted(expected)
    last = load_model(tmp_path / expected[-1])
    np.testing.assert_array_equal(last.get_weights()[0], model.get_weights()[0])


def test_save_best_only_min_val_loss(tmp_path):
    model, x, y = _model_and_data()
    path = tmp_path / "best.keras"
    cb = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    hist = model.fit(x, y, epochs=4, verbose=0, validation_split=0.25, callbacks=[cb])
    assert cb.best == min(hist.history["val_loss"])
    assert path.exists()


def test_save_best_only_respects_mode_and_threshold(tmp_path):
    model, x, y = _model_and_data()
    path = tmp_path / "never.keras"
    cb = ModelCheckpoint(path, monitor="accuracy", save_best_only=True, initial_value_threshold=1.1)
    assert cb.mode == "max"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert not path.exists(), "accuracy never beats 1.1"


def test_save_weights_only(tmp_path):
    model, x, y = _model_and_data()
    path = tmp_path / "w-{epoch}.weights.h5"
    model.fit(
        x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(path), save_weights_only=True)]
    )
    other, _, _ = _model_and_data()
    other.build((None, 4))
    other.load_weights(tmp_path / "w-2.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        ModelCheckpoint(tmp_path / "model.weights.h5")
    with pytest.raises(ValueError, match=".weights.h5"):
        ModelCheckpoint(tmp_path / "model.keras", save_weights_only=True)
    model, x, y = _model_and_data()
    with pytest.raises(ValueError, match="val_acc"):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc}.keras"))],
        )


# ------------------------------------------------------------------ BackupAndRestore
class _Crash(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.slow
def test_backup_resume_in_process_is_bit_identical(tmp_path):
    ref, x, y = _model_and_data()
    ref.fit(x, y, epochs=5, batch_size=8, verbose=0)

    model, _, _ = _model_and_data()
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[backup, _Crash(3)])
    assert (tmp_path / "backup").exists()
    fresh, _, _ = _model_and_data()  # a new process would start from scratch like this
    seen = []
    spy = type("Spy", (Callback,), {"on_epoch_begin": lambda self, e, logs=None: seen.append(e)})
    fresh.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[backup, spy()])
    assert seen == [3, 4]
    for a, b in zip(fresh.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists(), "deleted after a completed fit"


def test_backup_from_another_model_is_refused(tmp_path):
    model, x, y = _model_and_data()
    keep = BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keep])
    other = lamina.models.Sequential(
        [lamina.layers.Input((4,)), lamina.layers.Dense(1, activation="sigmoid")]
    )
    other.compile(optimizer="adam", loss="binary_crossentropy")
    with pytest.raises(ValueError, match="backup"):
        other.fit(x, y, epochs=2, verbose=0, callbacks=[keep])


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import lamina
    from lamina.callbacks import BackupAndRestore, Callback

    out, backup_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lamina.utils.random.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 96)]
    model = lamina.models.Sequential([
        lamina.layers.Input((5,)),
        lamina.layers.Dense(16, activation="relu"),
        lamina.layers.Dropout(0.25),
        lamina.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=lamina.optimizers.Adam(0.01), loss="categorical_crossentropy")

    class Kill(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    cbs = [BackupAndRestore(backup_dir)] if backup_dir != "-" else []
    model.fit(x, y, epochs=6, batch_size=16, shuffle=True, verbose=0, callbacks=cbs + [Kill()])
    np.savez(out, *model.get_weights())
""")


def _run(*args):
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


@pytest.mark.slow
@pytest.mark.multiprocess
def test_sigkill_mid_fit_then_resume_is_bit_identical(tmp_path):
    ref = _run(tmp_path / "ref.npz", "-", -1)
    assert ref.returncode == 0, ref.stderr
    killed = _run(tmp_path / "never.npz", tmp_path / "backup", 4)
    assert killed.returncode == -9, killed.stderr  # SIGKILL
    assert (tmp_path / "backup").exists() and not (tmp_path / "never.npz").exists()
    resumed = _run(tmp_path / "resumed.npz", tmp_path / "backup", -1)
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "resumed.npz")
    assert len(a.files) == len(b.files) == 4
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("save_freq", [2, 3])
def test_model_checkpoint_every_n_batches_saves_as_keras(keras, tmp_path, save_freq):
    """``save_freq=N``: a save every N batches, counted across epochs, the file name formatted
    with the epoch, the batch and that batch's logs (the training guide's example)."""
    import lamina

    def run(k, folder):
        folder.mkdir()
        model = k.Sequential([k.Input((3,)), k.layers.Dense(1, kernel_initializer="ones")])
        model.compile(k.optimizers.SGD(0.01), "mse")
        x = np.ones((40, 3), "float32")
        y = np.zeros((40, 1), "float32")
        path = str(folder / "ckpt-{epoch}-{batch}-loss={loss:.3f}.keras")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                  callbacks=[k.callbacks.ModelCheckpoint(path, save_freq=save_freq)])  # fmt: skip
        return sorted(p.name for p in folder.iterdir())

    with keras_ref():
        want = run(keras, tmp_path / "keras")
    assert run(lamina, tmp_path / "lamina") == want
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")
