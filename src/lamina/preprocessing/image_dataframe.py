"""``ImageDataGenerator.flow_from_dataframe``: image files and labels listed in a DataFrame."""

from __future__ import annotations

import os
import warnings

import numpy as np

from lamina.preprocessing.image_iterators import _FileIterator


class DataFrameIterator(_FileIterator):
    """Batches of augmented images whose paths (and labels) are columns of a DataFrame.

    Args:
        dataframe: a pandas DataFrame.
        directory: folder the ``x_col`` paths are relative to (``None``: they are full paths).
        image_data_generator: the ``ImageDataGenerator`` (or ``None``).
        x_col: the column of file names.
        y_col: the label column (a list of columns for ``'multi_output'``/``'raw'``).
        weight_col: an optional numeric column of sample weights.
        class_mode: ``'categorical'`` (string labels, or lists of them for multi-label),
            ``'binary'``, ``'sparse'``, ``'raw'`` (the ``y_col`` values as they are),
            ``'multi_output'``, ``'input'`` or ``None``; Keras 2's ``'other'`` means ``'raw'``.
        classes: the class names in index order (default: the sorted labels found); rows
            with other labels are dropped.
        validate_filenames: drop rows whose file is missing or not an image (with a warning).
        Other arguments: as in ``DirectoryIterator``.

    Raises:
        TypeError: for non-string file names or labels of the wrong type.
        ValueError: for an unknown class mode or a ``'binary'`` column without two classes.
    """

    allowed_class_modes = ("binary", "categorical", "input", "multi_output", "raw", "sparse",
                           None)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename",
                 y_col="class", weight_col=None, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                 data_format="channels_last", save_to_dir=None, save_prefix="",
                 save_format="png", subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype="float32", validate_filenames=True, **kwargs):
        if class_mode == "other":
            warnings.warn("class_mode='other' is deprecated; use class_mode='raw'.",
                          DeprecationWarning, stacklevel=2)
            class_mode = "raw"
        if class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"class_mode must be one of {self.allowed_class_modes}. Received: {class_mode!r}."
            )
        self._set_file_attrs(image_data_generator, target_size, color_mode, data_format,
                             save_to_dir, save_prefix, save_format, interpolation,
                             keep_aspect_ratio, dtype)
        self.directory = directory or ""
        self.class_mode = class_mode
        self.split = self._validation_range(subset)
        self.subset = subset
        df = dataframe.copy()
        self._check_columns(df, x_col, y_col, weight_col, classes)
        if validate_filenames:
            full = df[x_col].map(lambda f: os.path.join(self.directory, f))
            ok = full.map(lambda p: p.lower().endswith(self.white_list_formats)
                          and os.path.isfile(p))
            if (~ok).sum():
                warnings.warn(
                    f"Found {int((~ok).sum())} invalid image filename(s) in x_col={x_col!r}; "
                    f"they are ignored.", stacklevel=3,
                )
            df = df[ok]
        labelled = class_mode not in ("input", "multi_output", "raw", None)
        if labelled:
            df, classes = self._filter_classes(df, y_col, classes)
            self.class_indices = {c: i for i, c in enumerate(classes)}
            self.num_classes = len(classes)
        if self.split:
            start, stop = int(self.split[0] * len(df)), int(self.split[1] * len(df))
            df = df.iloc[start:stop]
        if labelled:
            self.classes = [
                [self.class_indices[v] for v in label] if isinstance(label, list | tuple)
                else self.class_indices[label]
                for label in df[y_col]
            ]
        self.filenames = df[x_col].tolist()
        self._sample_weight = df[weight_col].values if weight_col else None
        if class_mode == "multi_output":
            self._targets = [np.array(df[c].tolist()) for c in y_col]
        elif class_mode == "raw":
            self._targets = df[y_col].values
        self.samples = len(self.filenames)
        checked = "validated" if validate_filenames else "non-validated"
        tail = f" belonging to {self.num_classes} classes" if labelled else ""
        print(f"Found {self.samples} {checked} image filenames{tail}.")
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)

    def _check_columns(self, df, x_col, y_col, weight_col, classes):
        mode = self.class_mode
        for col in [x_col] + ([] if mode in ("input", None) else
                              list(y_col) if isinstance(y_col, list) else [y_col]) + (
                                  [weight_col] if weight_col else []):
            if col not in df.columns:
                raise ValueError(
                    f"Column {col!r} is not in the DataFrame (columns: {list(df.columns)})."
                )
        if mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(
                f"class_mode='multi_output' needs y_col as a list of columns. Received: {y_col!r}."
            )
        if not all(isinstance(v, str) for v in df[x_col]):
            raise TypeError(f"All values in column x_col={x_col!r} must be strings (file names).")
        if mode in ("binary", "sparse") and not all(isinstance(v, str) for v in df[y_col]):
            raise TypeError(
                f"class_mode={mode!r} needs string labels in y_col={y_col!r}. Convert them with "
                f"df[{y_col!r}].astype(str), or use class_mode='raw' for numeric targets."
            )
        if mode == "binary":
            found = len(set(classes)) if classes else df[y_col].nunique()
            if found != 2:
                raise ValueError(f"class_mode='binary' needs exactly 2 classes; found {found}.")
        if mode == "categorical" and not all(
            isinstance(v, str | list | tuple) for v in df[y_col]
        ):
            raise TypeError(
                f"class_mode='categorical' needs labels in y_col={y_col!r} as strings or "
                f"lists/tuples of strings."
            )
        if classes and mode in ("input", "multi_output", "raw", None):
            warnings.warn(f"classes is ignored with class_mode={mode!r}.", stacklevel=4)
        if weight_col and not np.issubdtype(df[weight_col].dtype, np.number):
            raise TypeError(f"Column weight_col={weight_col!r} must be numeric.")

    @staticmethod
    def _filter_classes(df, y_col, classes):
        if classes:
            keep = list(dict.fromkeys(classes))
            wanted = set(keep)

            def restrict(label):
                if isinstance(label, list | tuple):
                    return [c for c in label if c in wanted] or None
                return label if label in wanted else None

            df = df.copy()
            df[y_col] = df[y_col].apply(restrict)
            return df.dropna(subset=[y_col]), keep
        found = set()
        for label in df[y_col]:
            found.update(label if isinstance(label, list | tuple) else [label])
        return df, sorted(found)

    @property
    def filepaths(self):
        """Full paths of the image files, in sample order."""
        return self._filepaths

    @property
    def labels(self):
        """Targets: class indices, or the raw / multi-output target arrays."""
        if self.class_mode in ("multi_output", "raw"):
            return self._targets
        return self.classes

    @property
    def sample_weight(self):
        return self._sample_weight
