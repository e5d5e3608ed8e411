"""Datasets that ``fit``/``evaluate``/``predict`` accept, and Keras's helpers that build them:
``split_dataset`` and the file indexing behind ``*_dataset_from_directory``.

Keras returns ``tf.data.Dataset`` objects here; Lamina returns plain Python objects with the
parts of that API tutorials use: :class:`Samples` (one sample per index, like
``Dataset.from_tensor_slices``; ``.batch(n)`` makes batches) and :class:`Batches` (a
``lamina.utils.PyDataset``: batch ``i`` by index, iteration yields NumPy batches, ``take``,
``map``, ``shuffle``, ``skip``, and ``cache``/``prefetch`` for pipeline code: see
:mod:`lamina.data.dataset_ops`).

>>> import numpy as np
>>> from lamina.utils import split_dataset
>>> left, right = split_dataset((np.arange(10), np.arange(10) * 2), left_size=0.8)
>>> len(left), len(right), [int(v) for v in right[0]]
(8, 2, [8, 16])
>>> [x.tolist() for x, y in left.batch(3)]
[[0, 1, 2], [3, 4, 5], [6, 7]]
"""

from __future__ import annotations

import math
import os
import random

import numpy as np

from lamina import tree
from lamina.data.dataset_ops import DatasetOps, MappedBatches
from lamina.data.pydataset import PyDataset

__all__ = ["Batches", "MappedBatches", "Samples", "split_dataset"]


def _rows(structure) -> int:
    leaves = tree.flatten(structure)
    if not leaves:
        raise ValueError("The dataset is empty: it holds no arrays.")
    n = len(leaves[0])
    if any(len(a) != n for a in leaves):
        raise ValueError(
            "Every array of the dataset must have the same number of samples. Received "
            f"lengths {[len(a) for a in leaves]}."
        )
    return n


def _take(structure, index):
    return tree.map_structure(lambda a: a[index], structure)


class BatchArray(np.ndarray):
    """A batch's array with ``tf.Tensor.numpy()``, as ``tf.data`` pipeline code expects.

    >>> import numpy as np
    >>> with_numpy(np.arange(3)).numpy().tolist()
    [0, 1, 2]
    """

    def numpy(self) -> np.ndarray:
        """The array itself, as a plain ``np.ndarray``."""
        return self.view(np.ndarray)


def with_numpy(structure):
    """``structure`` with its NumPy arrays viewed as :class:`BatchArray` (no copy)."""
    return tree.map_structure(
        lambda a: a.view(BatchArray) if isinstance(a, np.ndarray) else a, structure
    )


class Samples:
    """Samples by index from a structure of arrays (``Dataset.from_tensor_slices``).

    Args:
        data: an array, or a tuple/list/dict of arrays with the same first dimension.
    """

    def __init__(self, data):
        self._data = tree.map_structure(np.asarray, tuple(data) if isinstance(data, list) else data)
        self._n = _rows(self._data)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if not -self._n <= i < self._n:
            raise IndexError(f"Sample index {i} is out of range for {self._n} samples.")
        return _take(self._data, i)

    def __iter__(self):
        return (self[i] for i in range(self._n))

    def numpy(self):
        """The underlying arrays (all samples)."""
        return self._data

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Batches:
        """Groups the samples into :class:`Batches` of ``batch_size``."""
        return Batches(self._data, batch_size, drop_remainder=drop_remainder)


class Batches(DatasetOps, PyDataset):
    """Batches of a structure of arrays, by index (a ``PyDataset``: ``fit`` takes it).

    It stands for a batched ``tf.data.Dataset``: ``fit(shuffle=True)`` keeps its order, as
    Keras's ``fit`` keeps a dataset's (``shuffle=True`` here reshuffles it every epoch).

    Args:
        data: an array or a structure of arrays with the same first dimension.
        batch_size: samples per batch.
        drop_remainder: drop a last, smaller batch.
        shuffle: reshuffle the samples at the end of every epoch (``seed`` seeds it).
    """

    #: ``fit`` does not reorder the batches (see the class docstring).
    keeps_order = True

    def __init__(self, data, batch_size, drop_remainder=False, shuffle=False, seed=None):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer. Received: {batch_size!r}.")
        self._data = data
        self._n = _rows(data)
        self.batch_size = batch_size
        self._drop = drop_remainder
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(self._n) if shuffle else np.arange(self._n)

    def __len__(self) -> int:
        return self._n // self.batch_size if self._drop else math.ceil(self._n / self.batch_size)

    def _load(self, index):
        """Batch contents for sample indices ``index`` (subclasses decode files here)."""
        return _take(self._data, index)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"Batch index {i} is out of range for {len(self)} batches.")
        return with_numpy(self._load(self._order[i * self.batch_size : (i + 1) * self.batch_size]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def on_epoch_end(self):
        if self._shuffle:
            self._order = self._rng.permutation(self._n)


def _split_sizes(left_size, right_size, total):
    """Keras's ``_rescale_dataset_split_sizes``."""
    kinds = (int, float)
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in kinds:
            raise TypeError(
                f"Invalid `{name}` Type. Expected: int or float or None, Received: "
                f"type({name})={type(size)}."
            )
    if left_size == 0 and right_size == 0:
        raise ValueError(
            "Both `left_size` and `right_size` are zero. At least one of the split sizes must "
            "be non-zero."
        )
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and not 0 < size < total) or (
            type(size) is float and not 0 < size < 1
        ):
            raise ValueError(
                f"`{name}` should be either a positive integer smaller than {total}, or a float "
                f"within the range `[0, 1]`. Received: {name}={size}"
            )
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError(
            "The sum of `left_size` and `right_size` is greater than 1. It must be less than or "
            "equal to 1."
        )
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(
            f"The sum of `left_size` and `right_size` should be smaller than the {total}. "
            f"Received: left_size + right_size = {left + right}and total_length = {total}"
        )
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(
                f"With `dataset` of length={total}, `left_size`={left} and `right_size`="
                f"{right}.Resulting {side} side dataset split will be empty. Adjust any of the "
                "aforementioned parameters"
            )
    return int(left), int(right)


def split_dataset(
    dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None
):
    """Splits a dataset into a left and a right part (Keras's ``keras.utils.split_dataset``).

    Args:
        dataset: an array, a tuple/list/dict of arrays with the same first dimension, a
            :class:`Samples`, or a :class:`Batches` (split by sample, re-batched alike).
        left_size: samples (int) or fraction (float) for the left part; default: the rest.
        right_size: samples or fraction for the right part; default: the rest.
        shuffle: shuffle the samples first (the same order as Keras for the same ``seed``).
        seed: seed of the shuffle.
        preferred_backend: accepted for Keras compatibility; ignored.

    Returns:
        ``(left, right)``: :class:`Samples` (or :class:`Batches` for a batched input).

    Raises:
        ValueError: if neither size is given or the sizes do not fit the dataset.
    """
    del preferred_backend
    batch_size = None
    if isinstance(dataset, Batches) and not isinstance(dataset, MappedBatches):
        batch_size, data = dataset.batch_size, dataset._data
    elif isinstance(dataset, Samples):
        data = dataset.numpy()
    elif isinstance(dataset, np.ndarray | tuple | list | dict):
        data = tree.map_structure(
            np.asarray, tuple(dataset) if isinstance(dataset, list) else dataset
        )
    else:
        raise TypeError(
            "The `dataset` argument must be an array, a list/tuple/dict of arrays, or a "
            f"lamina.utils dataset. Received: dataset={dataset!r} of type {type(dataset)}"
        )
    if right_size is None and left_size is None:
        raise ValueError(
            "At least one of the `left_size` or `right_size` must be specified. Received: "
            "left_size=None and right_size=None"
        )
    total = _rows(data)
    order = list(range(total))
    if shuffle:
        random.Random(random.randint(0, int(1e6)) if seed is None else seed).shuffle(order)
    left, right = _split_sizes(left_size, right_size, total)
    parts = [_take(data, np.asarray(order[:left])), _take(data, np.asarray(order[-right:]))]
    if batch_size is not None:
        return tuple(Batches(p, batch_size) for p in parts)
    return tuple(Samples(p) for p in parts)


def check_validation_split_arg(validation_split, subset, shuffle, seed) -> None:
    """Keras's checks of ``validation_split``/``subset``/``seed``."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be between 0 and 1, received: {validation_split}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f'`subset` must be either "training", "validation" or "both", received: {subset}'
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` "
            "argument, to make sure that there is no overlap between the training and "
            "validation subset."
        )


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):  # fmt: skip
    """Keras's ``index_directory``: ``(file_paths, labels or None, class_names)``."""
    if not os.path.isdir(directory):
        raise ValueError(f"The directory {directory!r} does not exist or is not a folder.")
    if labels == "inferred":
        subdirs = [
            d
            for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories of "
                    f"the target directory. Expected: {subdirs} (or a subset of it), but "
                    f"received: class_names={class_names}"
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError(
                "When `labels=None` (no labels), argument `class_names` cannot be specified."
                if labels is None
                else "When argument `labels` is specified, argument `class_names` cannot be "
                "specified (the `class_names` will be the sorted list of labels)."
            )
    filenames, found_labels = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        walk = sorted(os.walk(root_dir, followlinks=follow_links), key=lambda w: w[0])
        for root, _, files in walk:
            for fname in sorted(files):
                if fname.lower().endswith(formats):
                    rel = os.path.relpath(os.path.join(root, fname), root_dir)
                    filenames.append(os.path.join(os.path.basename(root_dir), rel))
                    found_labels.append(index)
    if labels == "inferred":
        labels = np.asarray(found_labels, dtype="int32")
        class_names = subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(filenames)} "
                f"files in directory {directory}."
            )
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        from lamina.utils.progbar import print_msg

        if labels is None:
            print_msg(f"Found {len(filenames)} files.")
        else:
            print_msg(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            labels = np.array(labels)  # Keras shuffles the labels with the same seed
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, class_names


def training_or_validation_split(samples, labels, validation_split, subset):
    """Keras's ``get_training_or_validation_split``: the last ``validation_split`` part is
    the validation subset."""
    if not validation_split:
        return samples, labels
    from lamina.utils.progbar import print_msg

    num_val = int(validation_split * len(samples))
    if subset == "training":
        print_msg(f"Using {len(samples) - num_val} files for training.")
        return samples[:-num_val], None if labels is None else labels[:-num_val]
    if subset == "validation":
        print_msg(f"Using {num_val} files for validation.")
        return samples[-num_val:], None if labels is None else labels[-num_val:]
    raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')


def encode_labels(labels, label_mode, num_classes):
    """Keras's label tensors: ``int`` int32, ``categorical`` one-hot float32, ``binary``
    float32 ``(n, 1)``."""
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels.astype(int)]
    return labels.astype("int32")
