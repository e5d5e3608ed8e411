"""Batch iterators of ``ImageDataGenerator``: ``flow`` (here), ``flow_from_directory``
(``image_directory``) and ``flow_from_dataframe`` (``image_dataframe``).

Each iterator is a ``PyDataset`` (Keras's ``Sequence``): ``len()``, ``it[i]``, ``on_epoch_end``
reshuffling, and usable by ``fit``; it is also an endless iterator (``next(it)``) as in
Keras 2.  Randomness reproduces Keras 2's streams: with ``seed``, batch ``k`` of the run draws
from NumPy's legacy generator seeded with ``seed + k`` (the shuffle, then each image's
parameters in order), so the batches equal Keras 2's; without ``seed`` the global
``np.random`` is used, so ``np.random.seed(...)`` makes a script repeatable.  Only the
parameter draws are per image; the pixel work is one vectorised pass per batch
(``image_transforms``).
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from lamina.data.pydataset import PyDataset
from lamina.preprocessing import image_io


class Iterator(PyDataset):
    """Base class of the image iterators: index order, shuffling, seeding and locking.

    Subclasses implement ``_get_batches_of_transformed_samples(index_array)`` (Keras 2's hook),
    or ``_plan``/``_build`` to split the random draws (under the lock) from the pixel work.

    Args:
        n: the number of samples.
        batch_size: samples per batch.
        shuffle: shuffle the order at the start of every epoch.
        seed: seed of the shuffles and augmentations (``None``: global ``np.random``).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.
    """

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or (
            batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer. Received: {batch_size!r}.")
        self.n, self.batch_size, self.shuffle, self.seed = n, int(batch_size), shuffle, seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.RLock()
        self.index_array = None
        self._rs = np.random.RandomState(seed) if seed is not None else None
        self.index_generator = self._flow_index()

    def _random(self):
        return self._rs if self._rs is not None else np.random

    def _reseed(self):
        if self._rs is not None:
            self._rs.seed(self.seed + self.total_batches_seen)

    def _set_index_array(self):
        self.index_array = (
            self._random().permutation(self.n) if self.shuffle else np.arange(self.n)
        )

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if not isinstance(idx, int | np.integer):
            raise TypeError(f"Batch index must be an integer. Received: {idx!r}.")
        if not -len(self) <= idx < len(self):
            raise IndexError(f"Asked for batch {idx}, but the iterator has {len(self)} batches.")
        idx = int(idx) % len(self)
        with self.lock:
            self._reseed()
            self.total_batches_seen += 1
            if self.index_array is None:
                self._set_index_array()
            index_array = self.index_array[self.batch_size * idx : self.batch_size * (idx + 1)]
            plan = self._plan(index_array)
        return self._build(index_array, plan)

    def on_epoch_end(self):
        """Reshuffles the sample order (when ``shuffle``)."""
        with self.lock:
            self._set_index_array()

    def reset(self):
        """Restarts the endless iteration (``next``) at the first batch."""
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            self._reseed()
            if self.batch_index == 0:
                self._set_index_array()
            start = (self.batch_index * self.batch_size) % self.n if self.n else 0
            if self.n > start + self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
            self.total_batches_seen += 1
            yield self.index_array[start : start + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            index_array = next(self.index_generator)
            plan = self._plan(index_array)
        return self._build(index_array, plan)

    def next(self):
        """Keras 2's ``it.next()``: the next batch, as ``next(it)``.

        Keras 2 tutorials peek at a batch with ``batchX, batchy = train_it.next()``.
        """
        return self.__next__()

    # Hooks: the random draws happen in _plan, under the lock, so that batches fetched on
    # several threads still get the seeded streams; _build does the pixel work.
    def _plan(self, index_array):
        return None

    def _build(self, index_array, plan):
        return self._get_batches_of_transformed_samples(index_array)

    def _get_batches_of_transformed_samples(self, index_array):
        """Returns the batch for the given sample indices (subclasses implement it)."""
        with self.lock:
            plan = self._plan(index_array)
        if type(self)._build is Iterator._build:
            raise NotImplementedError(
                f"{type(self).__name__} must implement _get_batches_of_transformed_samples."
            )
        return self._build(index_array, plan)


class _AugmentingIterator(Iterator):
    """Shared batch assembly: draw per-image parameters, transform, standardize, save."""

    save_hash_range = 10_000

    def _plan(self, index_array):
        gen, rs = self.image_data_generator, self._random()
        params = None
        if gen is not None:
            params = [gen._draw_transform(self.image_shape, rs) for _ in index_array]
        hashes = None
        if self.save_to_dir:
            hashes = [rs.randint(self.save_hash_range) for _ in index_array]
        return params, hashes

    def _augment(self, batch_x, plan):
        params, hashes = plan
        gen = self.image_data_generator
        if gen is not None:
            batch_x = gen._transform_batch(batch_x, params)
            batch_x = gen._standardize_batch(batch_x)
        batch_x = np.asarray(batch_x, dtype=self.dtype)
        if self.save_to_dir:
            for img, j, h in zip(batch_x, self._last_index, hashes):
                fname = f"{self.save_prefix}_{j}_{h}.{self.save_format}"
                image_io.save_img(os.path.join(self.save_to_dir, fname), img,
                                  data_format=self.data_format, file_format=self.save_format)
        return batch_x

    def _validation_range(self, subset):
        if subset is None:
            return None
        split = self.image_data_generator._validation_split if self.image_data_generator else 0
        if subset not in ("training", "validation"):
            raise ValueError(
                f"subset must be 'training', 'validation' or None. Received: {subset!r}."
            )
        if subset == "validation" and not split:
            raise ValueError(
                "subset='validation' needs ImageDataGenerator(validation_split=...) between 0 "
                "and 1; this generator has validation_split=0."
            )
        return (0.0, split) if subset == "validation" else (split, 1.0)


class NumpyArrayIterator(_AugmentingIterator):
    """Batches of augmented images from arrays (``ImageDataGenerator.flow``).

    Args:
        x: images ``(n, rows, cols, channels)`` (or channels first), or a tuple
            ``(images, extra_array_or_list)`` whose extra inputs are passed through.
        y: targets or ``None``.
        image_data_generator: the ``ImageDataGenerator``.
        batch_size, shuffle, seed: as in ``Iterator``.
        sample_weight: per-sample weights, yielded as a third item.
        data_format: the images' layout.
        save_to_dir, save_prefix, save_format: save each augmented image (for inspection).
        subset: ``'training'`` or ``'validation'`` with the generator's ``validation_split``
            (validation takes the first part).
        ignore_class_split: skip the check that both subsets hold the same classes.
        dtype: the batch dtype.
        **kwargs: ``PyDataset`` options.

    Raises:
        ValueError: for mismatched lengths, images that are not rank 4, or a split that leaves
            the subsets with different classes.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, ignore_class_split=False,
                 dtype=None, **kwargs):
        self.image_data_generator = image_data_generator
        self.data_format = image_io.default_data_format(data_format)
        self.dtype = dtype or "float32"
        misc = []
        if isinstance(x, tuple | list):
            extra = x[1] if isinstance(x[1], list) else [x[1]]
            misc = [np.asarray(m) for m in extra]
            x = x[0]
            for m in misc:
                if len(m) != len(x):
                    raise ValueError(
                        f"All arrays in x must have the same length. Received lengths {len(x)} "
                        f"and {len(m)}."
                    )
        x = np.asarray(x)
        for name, v in (("y", y), ("sample_weight", sample_weight)):
            if v is not None and len(v) != len(x):
                raise ValueError(
                    f"x (images) and {name} must have the same length. Received x.shape="
                    f"{x.shape}, len({name})={len(v)}."
                )
        split = self._validation_range(subset)
        if split is not None:
            cut = int(len(x) * image_data_generator._validation_split)
            if y is not None and not ignore_class_split and not np.array_equal(
                np.unique(y[:cut]), np.unique(y[cut:])
            ):
                raise ValueError(
                    "The training and validation subsets hold different classes after the "
                    "split. If the arrays are sorted by label, shuffle them first (or pass "
                    "ignore_class_split=True)."
                )
            part = slice(0, cut) if subset == "validation" else slice(cut, None)
            x, misc = x[part], [m[part] for m in misc]
            y = None if y is None else y[part]
            sample_weight = None if sample_weight is None else sample_weight[part]
        if x.ndim != 4:
            raise ValueError(
                f"flow expects images of rank 4 (samples, rows, cols, channels). Received an "
                f"array of shape {x.shape}. Add a channel axis with x[..., None] for grayscale."
            )
        channels_axis = 3 if self.data_format == "channels_last" else 1
        if x.shape[channels_axis] not in (1, 3, 4):
            warnings.warn(
                f"NumpyArrayIterator uses data_format={self.data_format!r} (channels on axis "
                f"{channels_axis}) and expects 1, 3 or 4 channels there; x has shape {x.shape}.",
                stacklevel=3,
            )
        self.x, self.x_misc = x, misc
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_shape = x.shape[1:]
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(len(x), batch_size, shuffle, seed, **kwargs)

    def _build(self, index_array, plan):
        self._last_index = index_array
        batch_x = self._augment(self.x[index_array].astype(self.dtype), plan)
        out = batch_x if not self.x_misc else [batch_x] + [m[index_array] for m in self.x_misc]
        if self.y is None:
            return out
        if self.sample_weight is None:
            return out, self.y[index_array]
        return out, self.y[index_array], self.sample_weight[index_array]


class _FileIterator(_AugmentingIterator):
    """Loads, resizes and augments image files listed in ``self.filepaths``."""

    save_hash_range = 10_000_000

    def _set_file_attrs(self, image_data_generator, target_size, color_mode, data_format,
                        save_to_dir, save_prefix, save_format, interpolation, keep_aspect_ratio,
                        dtype):
        self.image_data_generator = image_data_generator
        if len(tuple(target_size)) != 2:
            raise ValueError(f"target_size must be (height, width). Received: {target_size!r}.")
        self.target_size = tuple(int(v) for v in target_size)
        if color_mode not in ("rgb", "rgba", "grayscale"):
            raise ValueError(
                f"color_mode must be 'rgb', 'rgba' or 'grayscale'. Received: {color_mode!r}."
            )
        self.color_mode = color_mode
        self.data_format = image_io.default_data_format(data_format)
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (
            self.target_size + (channels,)
            if self.data_format == "channels_last"
            else (channels,) + self.target_size
        )
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.interpolation, self.keep_aspect_ratio = interpolation, keep_aspect_ratio
        self.dtype = dtype or "float32"

    def _load(self, index_array):
        batch = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            img = image_io.load_img(
                self.filepaths[j], color_mode=self.color_mode, target_size=self.target_size,
                interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio,
            )
            batch[i] = image_io.img_to_array(img, data_format=self.data_format, dtype=self.dtype)
            if hasattr(img, "close"):
                img.close()
        return batch

    def _build(self, index_array, plan):
        self._last_index = index_array
        batch_x = self._augment(self._load(index_array), plan)
        mode = self.class_mode
        if mode is None:
            return batch_x
        if mode == "input":
            batch_y = batch_x.copy()
        elif mode in ("binary", "sparse"):
            batch_y = np.asarray(self.classes, dtype=self.dtype)[index_array]
        elif mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            for i, j in enumerate(index_array):
                batch_y[i, self.classes[j]] = 1.0  # a list of classes marks several columns
        elif mode == "multi_output":
            batch_y = [t[index_array] for t in self.labels]
        else:  # 'raw'
            batch_y = self.labels[index_array]
        weights = self.sample_weight
        if weights is None:
            return batch_x, batch_y
        return batch_x, batch_y, weights[index_array]
