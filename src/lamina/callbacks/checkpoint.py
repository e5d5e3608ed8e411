"""Checkpoint callbacks: ``ModelCheckpoint`` and ``BackupAndRestore`` (as ``keras.callbacks``).

Both write atomically (temporary file, then ``os.replace``), so a process killed mid-save
leaves the previous file intact.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.callbacks import ModelCheckpoint, BackupAndRestore
>>> folder = tempfile.mkdtemp()
>>> model = Sequential([Input((2,)), Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
>>> cbs = [ModelCheckpoint(os.path.join(folder, "m-{epoch:02d}-{loss:.2f}.keras"),
...                        monitor="loss", save_best_only=True),
...        BackupAndRestore(os.path.join(folder, "backup"))]
>>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=cbs)
>>> any(name.startswith("m-01-") for name in os.listdir(folder))
True
>>> os.path.exists(os.path.join(folder, "backup"))  # deleted once fit completes
False
"""

from __future__ import annotations

import os
import shutil
import warnings

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from lamina.callbacks.core import Callback
from lamina.callbacks.history_dict import HistoryDict, log_value
from lamina.distribution.sharding import is_main_process
from lamina.saving import h5_sandbox, safety

__all__ = ["BackupAndRestore", "ModelCheckpoint"]



class ModelCheckpoint(Callback):
    """Saves the model (or its weights) at the end of every epoch, or only when it improves.

    Args:
        filepath: file name, formatted with the epoch (1-based) and the epoch's logs, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.  Ends in ``.keras`` or ``.h5`` for a
            whole model, ``.weights.h5`` (or ``.h5``) with ``save_weights_only``; tf.keras 2's
            other names (``"cp-{epoch:04d}.ckpt"``, a SavedModel folder name) get the same
            files under that exact name, with a warning.
        monitor: the logged quantity compared with ``save_best_only``.
        verbose: 1 prints a line per save.
        save_best_only: save only when ``monitor`` improves on the best value so far.
        save_weights_only: save weights only (``model.save_weights``).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names, else min).
        save_freq: ``"epoch"``, or an int: save every that many batches.
        initial_value_threshold: the best value to beat before the first save.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        every_n = isinstance(save_freq, int) and not isinstance(save_freq, bool)
        if save_freq != "epoch" and not (every_n and save_freq > 0):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                "a positive integer (save every that many batches)."
            )
        self.save_freq = save_freq
        self._current_epoch = 0
        self._last_batch_seen = 0
        self._batches_since_save = 0
        if every_n:  # batch hooks only when asked: they cut the compiled epoch into steps
            self.on_train_batch_end = self._on_train_batch_end
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint(mode={mode!r}): use 'auto', 'min' or 'max'.")
        if mode == "auto":
            mode = (
                "max"
                if ("acc" in monitor or monitor.startswith("fmeasure") or "auc" in monitor)
                else "min"
            )
        self.mode = mode
        # As Keras 2 (and Keras 3 before its MonitorCallback): the comparison and the starting
        # best are fixed here, so ``best`` is -inf for "max" and +inf for "min" until a value
        # beats it, and the first save logs "improved from -inf" for an accuracy.
        self.monitor_op = np.less if mode == "min" else np.greater
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = np.inf if mode == "min" else -np.inf
        lower = self.filepath.lower()
        if save_weights_only and lower.endswith(".keras"):
            raise ValueError(
                "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                "provided must end in `.weights.h5` (Keras weights format); '.keras' names a "
                f"whole model. Received: filepath={self.filepath!r}."
            )
        if not save_weights_only and lower.endswith(".weights.h5"):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format), or pass "
                "save_weights_only=True to write a '.weights.h5' file. Received: "
                f"filepath={self.filepath!r}."
            )
        # tf.keras 2 wrote TensorFlow checkpoints ("cp-{epoch:04d}.ckpt") and SavedModel
        # folders ("best_model") under other names: Lamina writes its own files under
        # those names, said once here rather than at every save.
        self._foreign_name = not lower.endswith((".keras", ".h5", ".hdf5"))
        if self._foreign_name:
            kind = "weights file (HDF5)" if save_weights_only else ".keras (zip) archive"
            warnings.warn(
                f"ModelCheckpoint({self.filepath!r}): tf.keras 2 wrote a TensorFlow "
                f"{'checkpoint' if save_weights_only else 'SavedModel'} under this name; "
                f"Lamina writes the Keras 3 {kind} under that exact name.",
                UserWarning,
                stacklevel=3 if type(self).__init__ is not ModelCheckpoint.__init__ else 2,
            )

    def _improved(self, value):
        # A NaN never improves (both comparisons are False), as in Keras.
        return bool(self.monitor_op(value, self.best))

    def _path(self, epoch, logs, batch=None):
        logs = dict(logs or {})
        if batch is not None and "batch" not in logs:
            logs["batch"] = batch + 1
        try:
            # the logs also under Keras 2's names: ``{val_acc:.2f}`` in a Keras 2 template
            return self.filepath.format_map(HistoryDict(epoch=epoch + 1, **logs))
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"ModelCheckpoint cannot format filepath {self.filepath!r} with "
                f"epoch and the logs {sorted(logs or {})}: {e!r}."
            ) from None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def _on_train_batch_end(self, batch, logs=None):
        # Keras's count: batches since the last save, across epochs.
        if batch <= self._last_batch_seen:  # a new epoch
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_since_save += added
        self._last_batch_seen = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = logs or {}
        path = self._path(epoch, logs, batch)
        if self.save_best_only:
            value = log_value(logs, self.monitor)
            if value is None:
                warnings.warn(
                    f"ModelCheckpoint: '{self.monitor}' is not in the logs "
                    f"({sorted(logs)}); skipping the save.",
                    stacklevel=2,
                )
                return
            if not self._improved(float(value)):
                if self.verbose:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{float(value):.5f}, saving model to {path}"
                )
            self.best = float(value)
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if not is_main_process():  # in a multi-process job only process 0 writes files
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with warnings.catch_warnings():
            if self._foreign_name:  # said once, when the callback was made
                warnings.filterwarnings("ignore", message=".*under that exact name")
            if self.save_weights_only:
                self.model.save_weights(path, overwrite=True)
            else:
                self.model.save(path, overwrite=True)


# ------------------------------------------------------------------ BackupAndRestore
_BACKUP = "backup.lamina.h5"
_FORMAT = "lamina-backup-1"


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(x):
    if _is_key(x):
        return np.asarray(jax.random.key_data(x)), True
    return np.asarray(jax.device_get(x)), False


class BackupAndRestore(Callback):
    """Backs up the whole training state each epoch; a rerun after a crash resumes from it.

    At each epoch end it writes, atomically, the weights, the optimizer state, the random keys
    and the epoch number to ``backup_dir``.  When ``fit`` starts and a backup exists, it is
    restored and training continues at the next epoch, ending bit-identical to a run that was
    never interrupted (same data, same ``fit`` arguments).

    Args:
        backup_dir: folder for the backup (created if needed).
        save_freq: only ``"epoch"``.
        delete_checkpoint: delete the backup when ``fit`` finishes.
        double_checkpoint: accepted for Keras compatibility (the write is atomic anyway).
    """

    def __init__(
        self, backup_dir, save_freq="epoch", delete_checkpoint=True, double_checkpoint=False
    ):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs backup_dir, a folder for the backup.")
        if save_freq != "epoch":
            raise ValueError(
                f"BackupAndRestore(save_freq={save_freq!r}): only 'epoch' is supported."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.double_checkpoint = double_checkpoint
        self._path = os.path.join(self.backup_dir, _BACKUP)

    def on_train_begin(self, logs=None):
        """Restores the backup, if any; returns the epoch to resume from (or ``None``)."""
        if not os.path.exists(self._path):
            return None
        epoch = self._restore()
        return epoch + 1  # the engine resumes here (CallbackList.on_train_begin returns it)

    def on_epoch_end(self, epoch, logs=None):
        if not is_main_process():  # in a multi-process job only process 0 writes files
            return
        model = self.model
        leaves = jax.tree_util.tree_leaves((model.train_state, model.shuffle_key))
        with safety.atomic_write(self._path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = _FORMAT
            f.attrs["epoch"] = int(epoch)
            g = f.create_group("leaves")
            for i, leaf in enumerate(leaves):
                value, is_key = _to_host(leaf)
                d = g.create_dataset(str(i), data=value)
                d.attrs["prng_key"] = is_key

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and is_main_process() and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    def _restore(self) -> int:
        model = self.model
        template = (model.train_state, model.shuffle_key)
        leaves, treedef = jax.tree_util.tree_flatten(template)
        path = self._path
        try:  # the sandboxed, checked reader: a backup folder may hold a planted file
            f = h5_sandbox.read_file(path, label="the backup")
        except OSError as e:
            raise safety.fail(path, f"the backup is not a readable HDF5 file ({e}).") from None
        with f:
            if f.attrs.get("format") != _FORMAT or "leaves" not in f:
                raise safety.fail(path, "not a Lamina BackupAndRestore backup.")
            g = f["leaves"]
            if len(g) != len(leaves):
                raise safety.fail(
                    path,
                    f"the backup has {len(g)} arrays but this model's "
                    f"training state has {len(leaves)}: it was made by "
                    "another model or optimizer. Delete the backup folder.",
                )
            new = []
            for i, ref in enumerate(leaves):
                value = np.asarray(g[str(i)][()])
                if bool(g.dataset_attrs(str(i)).get("prng_key", False)):
                    if not _is_key(ref) or value.shape != jax.random.key_data(ref).shape:
                        raise safety.fail(path, f"array {i} is a random key that does not fit.")
                    new.append(jax.random.wrap_key_data(value, impl=jax.random.key_impl(ref)))
                    continue
                if value.shape != tuple(ref.shape) or value.dtype != ref.dtype:
                    raise safety.fail(
                        path,
                        f"array {i} has shape {value.shape} {value.dtype}, the "
                        f"model's has {tuple(ref.shape)} {ref.dtype}: the backup "
                        "is from another model. Delete the backup folder.",
                    )
                new.append(jnp.asarray(value))
            epoch = int(f.attrs["epoch"])
        model.train_state, model.shuffle_key = jax.tree_util.tree_unflatten(treedef, new)
        return epoch
