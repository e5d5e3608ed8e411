"""The housing regressions' shared steps: find the ``.npz``, Keras's shuffle and split."""

from __future__ import annotations

import numpy as np

from lamina.datasets import _files


def check_split(test_split) -> None:
    if not (0 <= test_split < 1):
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. "
            "It must be between 0 and 1 (exclusive of 1)."
        )


def read(path):
    """``(x, y)`` from the cached ``.npz`` (no pickle), or ``None``."""
    found = _files.find(path)
    if found is None:
        return None
    with np.load(found, allow_pickle=False) as f:
        return f["x"], f["y"]


def shuffle_split(x, y, test_split, seed):
    """Keras's ``RandomState(seed)`` shuffle, then the first ``1 - test_split`` for training."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
