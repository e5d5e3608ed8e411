"""The CIFAR batches from Keras's cache: the extracted folder or the downloaded archive."""

from __future__ import annotations

import os
import tarfile

import numpy as np

from lamina.datasets import _files


def _members(dirname: str, inner: str, names: list[str]) -> list[bytes] | None:
    """The bytes of ``inner/<name>`` for each name, from Keras 3's extraction folder
    (``<dirname>/<inner>``), Keras 2's (``<inner>``) or an archive Keras downloaded."""
    for folder in _files.cache_dirs():
        for root in (os.path.join(folder, dirname, inner), os.path.join(folder, inner)):
            paths = [os.path.join(root, n) for n in names]
            if all(os.path.isfile(p) for p in paths):
                out = []
                for p in paths:
                    with open(p, "rb") as f:
                        out.append(f.read())
                return out
        for archive in (f"{dirname}_archive", f"{inner}.tar.gz"):
            path = os.path.join(folder, archive)
            if os.path.isfile(path) and tarfile.is_tarfile(path):
                with tarfile.open(path) as tar:
                    try:
                        files = [tar.extractfile(f"{inner}/{n}") for n in names]
                    except KeyError:
                        continue
                    if all(f is not None for f in files):
                        return [f.read() for f in files]  # type: ignore[union-attr]
    return None


def load(dirname, inner, train_names, test_name, label_key, label_dtype):
    """``((x_train, y_train), (x_test, y_test))`` as Keras returns them, or ``None``."""
    raw = _members(dirname, inner, [*train_names, test_name])
    if raw is None:
        return None
    parts = [_files.load_pickled_batch(b, label_key) for b in raw]
    x_train = np.concatenate([p[0] for p in parts[:-1]])
    y_train = np.concatenate([np.asarray(p[1]) for p in parts[:-1]])
    x_test, y_test = parts[-1][0], np.asarray(parts[-1][1])
    return finish(x_train, y_train, x_test, y_test, label_dtype)


def finish(x_train, y_train, x_test, y_test, label_dtype):
    """Keras's last steps: labels ``(n, 1)``, channels last unless configured otherwise."""
    from lamina.backend import config as _config

    y_train = np.reshape(y_train, (len(y_train), 1)).astype(label_dtype)
    y_test = np.reshape(y_test, (len(y_test), 1)).astype(label_dtype)
    if _config.image_data_format() == "channels_last":
        if x_train.shape[1] == 3:
            x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    elif x_train.shape[-1] == 3:
        x_train, x_test = x_train.transpose(0, 3, 1, 2), x_test.transpose(0, 3, 1, 2)
    return (x_train, y_train), (x_test.astype(x_train.dtype), y_test)
