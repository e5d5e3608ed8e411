"""Keras 2's log names (``acc``, ``val_acc``, ``lr``) in user code: Keras 2.2 and earlier logged
``metrics=['accuracy']`` as ``acc``/``val_acc``, and tutorials plot ``history.history['val_acc']``,
monitor ``'val_acc'`` and write ``{val_acc:.2f}`` in checkpoint paths.  Lamina logs Keras 3's
names and reads the Keras 2 ones as aliases: the same run as with Keras 3's names."""

import os
import warnings

import numpy as np
import pytest

import lamina

X = np.random.default_rng(0).random((64, 4)).astype("float32")
Y = (X.sum(axis=1) > 2.0).astype("float32")


def _run(tmp_path, monitor, template):
    lamina.utils.set_random_seed(0)
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=lamina.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    folder = tmp_path / monitor
    folder.mkdir()
    callbacks = [
        lamina.callbacks.ModelCheckpoint(
            str(folder / template), monitor=monitor, save_best_only=True, save_weights_only=True
        ),
        lamina.callbacks.EarlyStopping(monitor=monitor, patience=1, mode="max"),
        lamina.callbacks.ReduceLROnPlateau(monitor=monitor, patience=1, factor=0.5, mode="max"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not available" warning for the Keras 2 name
        history = model.fit(X, Y, validation_split=0.25, epochs=6, batch_size=16, verbose=0,
                            callbacks=callbacks)
    return history, sorted(os.listdir(folder))


def test_keras2_monitor_and_template_names_act_as_keras3_names(tmp_path):
    new, new_files = _run(tmp_path, "val_accuracy", "w-{epoch:02d}-{val_accuracy:.2f}.weights.h5")
    old, old_files = _run(tmp_path, "val_acc", "w-{epoch:02d}-{val_acc:.2f}.weights.h5")
    assert old_files == new_files and old_files
    assert old.history == new.history  # same epochs, same learning rates
    assert old.history["val_acc"] == old.history["val_accuracy"]
    assert old.history["acc"] == old.history["accuracy"]
    assert "acc" not in list(old.history)  # Keras 3's keys only


@pytest.mark.parametrize("name, new", [("acc", "accuracy"), ("val_acc", "val_accuracy"),
                                       ("out_acc", "out_accuracy"), ("lr", "learning_rate"),
                                       ("loss", None), ("val_loss", None)])
def test_keras3_names_of_keras2_logs(name, new):
    from lamina.callbacks.history_dict import keras3_name

    assert keras3_name(name) == new


def test_a_template_naming_a_missing_log_is_a_clear_error(tmp_path):
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    bad = lamina.callbacks.ModelCheckpoint(str(tmp_path / "w-{val_acc:.2f}.weights.h5"),
                                           save_weights_only=True)
    with pytest.raises(ValueError, match="cannot format filepath"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[bad])


def test_callbacks_read_keras2_names_in_their_logs():
    """TF 2.0-era course code: ``if logs.get('acc') > 0.6: self.model.stop_training = True``
    with ``metrics=['accuracy']`` (Keras 3 logs ``accuracy``; the callback still gets a value,
    where a plain dict gives ``None`` and the comparison raises)."""
    seen = []

    class StopAt(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs={}):  # noqa: B006 - the course's signature
            seen.append((logs.get("acc"), logs["val_acc"], "val_acc" in logs, sorted(logs)))
            if logs.get("acc") >= 0.0:
                self.model.stop_training = True

    class AddsALog(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = 1.0

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    history = model.fit(rng.random((8, 3)), rng.integers(0, 2, 8), epochs=3, verbose=0,
                        validation_split=0.25, callbacks=[StopAt(), AddsALog()])
    assert len(seen) == 1  # stopped after the first epoch
    acc, val_acc, has_val_acc, keys = seen[0]
    assert acc == history.history["accuracy"][0] and val_acc == history.history["val_accuracy"][0]
    assert has_val_acc and keys == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["extra"] == [1.0]  # what a callback adds reaches History (Keras)
