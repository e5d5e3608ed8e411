"""``ImageDataGenerator.flow_from_directory``: one sub-folder of image files per class."""

from __future__ import annotations

import os

import numpy as np

from lamina.preprocessing.image_iterators import _FileIterator


def _list_class_files(class_dir, formats, split, follow_links):
    """Sorted image files under ``class_dir`` (recursively), cut to the ``split`` fraction."""
    found = []
    for root, _, files in sorted(os.walk(class_dir, followlinks=follow_links), key=lambda t: t[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                found.append(os.path.join(root, name))
    if split:
        found = found[int(split[0] * len(found)) : int(split[1] * len(found))]
    return found


class DirectoryIterator(_FileIterator):
    """Batches of augmented images read from one sub-directory per class.

    Args:
        directory: the folder holding one sub-folder per class.
        image_data_generator: the ``ImageDataGenerator`` (or ``None``: no augmentation).
        target_size: ``(height, width)`` every image is resized to.
        color_mode: ``'rgb'``, ``'rgba'`` or ``'grayscale'``.
        classes: class sub-folder names in index order (default: all, sorted).
        class_mode: ``'categorical'`` (one-hot), ``'binary'``/``'sparse'`` (class index),
            ``'input'`` (the images again, for autoencoders) or ``None`` (images only).
        batch_size, shuffle, seed: as in ``Iterator``.
        data_format, save_to_dir, save_prefix, save_format: as in ``NumpyArrayIterator``.
        follow_links: follow symbolic links into sub-folders.
        subset: ``'training'`` / ``'validation'`` part of each class (validation first).
        interpolation: resampling for the resize (see ``load_img``).
        keep_aspect_ratio: centre-crop to the target aspect ratio before resizing.
        dtype: the batch dtype.

    Attributes:
        class_indices: class name -> index.  classes: the class index of every file.
        filenames: paths relative to ``directory``.  samples: the number of files.

    Raises:
        ValueError: for an unknown ``class_mode`` or ``color_mode``, or a missing directory.
    """

    allowed_class_modes = ("categorical", "binary", "sparse", "input", None)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png",
                 follow_links=False, subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype=None, **kwargs):
        if class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"class_mode must be one of {self.allowed_class_modes}. Received: {class_mode!r}."
            )
        if not os.path.isdir(directory):
            raise ValueError(f"flow_from_directory: {directory!r} is not a directory.")
        self._set_file_attrs(image_data_generator, target_size, color_mode, data_format,
                             save_to_dir, save_prefix, save_format, interpolation,
                             keep_aspect_ratio, dtype)
        self.directory, self.class_mode = directory, class_mode
        self.split = self._validation_range(subset)
        self.subset = subset
        if not classes:
            classes = [d for d in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, d))]
        self.num_classes = len(classes)
        self.class_indices = {c: i for i, c in enumerate(classes)}
        self.filenames, labels = [], []
        for name in classes:
            class_dir = os.path.join(directory, name)
            for path in _list_class_files(class_dir, self.white_list_formats, self.split,
                                          follow_links):
                self.filenames.append(os.path.join(name, os.path.relpath(path, class_dir)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)

    @property
    def filepaths(self):
        """Full paths of the image files, in sample order."""
        return self._filepaths

    @property
    def labels(self):
        """The class index of every sample."""
        return self.classes

    @property
    def sample_weight(self):
        return None
