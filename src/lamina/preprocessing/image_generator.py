"""``ImageDataGenerator``: Keras 2's real-time image augmentation and normalization.

Parameters are drawn per image exactly as Keras 2 draws them (same order, same NumPy calls),
so a seeded iterator yields Keras 2's batches; the pixel work runs once per batch, vectorised
(``image_transforms``).

>>> import numpy as np
>>> from lamina.preprocessing.image import ImageDataGenerator
>>> gen = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True)
>>> it = gen.flow(np.zeros((10, 8, 8, 3)), np.arange(10), batch_size=4, seed=0)
>>> len(it), it[0][0].shape
(3, (4, 8, 8, 3))
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from lamina.preprocessing import image_io, image_transforms
from lamina.preprocessing.image_dataframe import DataFrameIterator
from lamina.preprocessing.image_directory import DirectoryIterator
from lamina.preprocessing.image_iterators import NumpyArrayIterator

_NEUTRAL = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0,
            "flip_horizontal": 0.0, "flip_vertical": 0.0}
_PARAM_NAMES = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical",
                "channel_shift_intensity", "brightness")


def _is_number(v):
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


class ImageDataGenerator:
    """Generates batches of images with random augmentation and normalization.

    Args:
        featurewise_center: subtract the per-channel mean of the data given to ``fit``.
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the per-channel std from ``fit``.
        samplewise_std_normalization: divide each image by its std.
        zca_whitening: apply ZCA whitening learned by ``fit``.
        zca_epsilon: ZCA's regularizer.
        rotation_range: rotate by up to this many degrees.
        width_shift_range, height_shift_range: float < 1 (fraction of the width / height) or
            >= 1 (pixels), drawn uniformly in ``(-r, r)``; int ``n`` (pixels in
            ``{-(n-1)..n-1}``); or a list of choices (times a random sign).  As in tf-keras,
            Keras 2's last version, the height shift is applied along the columns and the width
            shift along the rows (identical for square images).
        brightness_range: ``(low, high)`` brightness factor (8-bit, as PIL in Keras 2).
        shear_range: shear angle in degrees.
        zoom_range: float ``z`` for ``[1 - z, 1 + z]`` or a ``(low, high)`` pair.
        channel_shift_range: add up to this much to all channels.
        fill_mode: ``'constant'``, ``'nearest'``, ``'reflect'`` or ``'wrap'``.
        cval: the fill value for ``'constant'``.
        horizontal_flip, vertical_flip: flip half of the images.
        rescale: a factor multiplied in (after augmentation), e.g. ``1/255``.
        preprocessing_function: a function of one image (rank 3) applied after augmentation.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        validation_split: fraction kept for ``subset='validation'``.
        interpolation_order: 1 (bilinear, default) or 0 (nearest pixel).
        dtype: the batch dtype (default float32).
        dim_ordering: Keras 1's name for ``data_format`` (``'th'``: channels first, ``'tf'``:
            channels last).

    Raises:
        ValueError: for invalid ranges, modes or formats.

    >>> gen = ImageDataGenerator(zoom_range=0.2)
    >>> gen.zoom_range
    [0.8, 1.2]
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range=0.0, zoom_range=0.0,
                 channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None,
                 data_format=None, validation_split=0.0, interpolation_order=1, dtype=None,
                 dim_ordering=None):
        self.data_format = image_io.default_data_format(dim_ordering or data_format)
        self.channel_axis, self.row_axis, self.col_axis = (
            (3, 1, 2) if self.data_format == "channels_last" else (1, 2, 3)
        )
        if fill_mode not in image_transforms.FILL_MODES:
            raise ValueError(
                f"fill_mode must be one of {image_transforms.FILL_MODES}. Received: {fill_mode!r}."
            )
        if interpolation_order not in (0, 1):
            raise ValueError(
                f"interpolation_order must be 0 (nearest) or 1 (bilinear) in Lamina; higher "
                f"spline orders are not supported. Received: {interpolation_order!r}."
            )
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(
                f"validation_split must be strictly between 0 and 1. Received: {validation_split!r}."
            )
        if _is_number(zoom_range):
            zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif isinstance(zoom_range, list | tuple) and len(zoom_range) == 2 and all(
            _is_number(v) for v in zoom_range
        ):
            zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(
                f"zoom_range must be a float or a pair of floats. Received: {zoom_range!r}."
            )
        if brightness_range is not None and (
            not isinstance(brightness_range, list | tuple) or len(brightness_range) != 2
        ):
            raise ValueError(
                f"brightness_range must be a pair of floats (low, high). Received: "
                f"{brightness_range!r}."
            )
        for name, r in (("width_shift_range", width_shift_range),
                        ("height_shift_range", height_shift_range)):
            if not (_is_number(r) or isinstance(r, list | tuple | np.ndarray)):
                raise ValueError(f"{name} must be a float, an int or a list. Received: {r!r}.")
        self.featurewise_center, self.samplewise_center = featurewise_center, samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range = rotation_range
        # An array of choices behaves as the list of them (Keras 2 would fail on its truth value).
        width_shift_range, height_shift_range = (
            r.tolist() if isinstance(r, np.ndarray) else r
            for r in (width_shift_range, height_shift_range)
        )
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.shear_range, self.zoom_range = shear_range, zoom_range
        self.channel_shift_range, self.brightness_range = channel_shift_range, brightness_range
        self.fill_mode, self.cval = fill_mode, cval
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.interpolation_order, self.dtype = interpolation_order, dtype or "float32"
        self._validation_split = validation_split
        self.mean = self.std = self.zca_whitening_matrix = None
        # Keras 2's implied settings, with its warnings.
        if zca_whitening and not featurewise_center:
            self.featurewise_center = True
            warnings.warn("zca_whitening turns on featurewise_center.", stacklevel=2)
        if zca_whitening and featurewise_std_normalization:
            self.featurewise_std_normalization = False
            warnings.warn("zca_whitening turns off featurewise_std_normalization.", stacklevel=2)
        if self.featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn("featurewise_std_normalization turns on featurewise_center.",
                          stacklevel=2)
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("samplewise_std_normalization turns on samplewise_center.",
                          stacklevel=2)

    # ---------------------------------------------------------------- iterators
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", ignore_class_split=False,
             subset=None):
        """Returns a ``NumpyArrayIterator`` of augmented batches of ``x`` (and ``y``)."""
        return NumpyArrayIterator(
            x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
            seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format,
            ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype,
        )

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False):
        """Returns a ``DirectoryIterator`` over ``directory``'s class sub-folders."""
        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
            class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
            data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
            save_format=save_format, follow_links=follow_links, subset=subset,
            interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, dtype=self.dtype,
        )

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class",
                            weight_col=None, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            subset=None, interpolation="nearest", validate_filenames=True,
                            **kwargs):
        """Returns a ``DataFrameIterator`` over the files listed in ``dataframe[x_col]``.

        Keras 2's removed ``has_ext``, ``sort`` and ``drop_duplicates`` arguments are accepted
        with a DeprecationWarning and ignored.
        """
        for old in ("has_ext", "sort", "drop_duplicates"):
            if kwargs.pop(old, None) is not None:
                warnings.warn(f"flow_from_dataframe: {old} is deprecated and ignored.",
                              DeprecationWarning, stacklevel=2)
        return DataFrameIterator(
            dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
            target_size=target_size, color_mode=color_mode, classes=classes,
            class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
            data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
            save_format=save_format, subset=subset, interpolation=interpolation,
            validate_filenames=validate_filenames, dtype=self.dtype, **kwargs,
        )

    # ---------------------------------------------------------------- random parameters
    def _draw_shift(self, r, size, rs):
        if not r:
            return 0
        if _is_number(r) and not isinstance(r, int | np.integer):
            shift = rs.uniform(-r, r)
        else:  # an int n picks from range(n); a list picks an entry; then a random sign
            shift = rs.choice(r)
            shift *= rs.choice([-1, 1])
        if np.max(r) < 1:
            shift *= size
        return shift

    def _draw_transform(self, img_shape, rs):
        """One image's parameters, drawn from ``rs`` in Keras 2's order."""
        theta = rs.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = self._draw_shift(self.height_shift_range, img_shape[self.row_axis - 1], rs)
        ty = self._draw_shift(self.width_shift_range, img_shape[self.col_axis - 1], rs)
        shear = rs.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rs.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_h = (rs.random() < 0.5) * self.horizontal_flip
        flip_v = (rs.random() < 0.5) * self.vertical_flip
        shift = None
        if self.channel_shift_range != 0:
            shift = rs.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = rs.uniform(self.brightness_range[0], self.brightness_range[1])
        return dict(zip(_PARAM_NAMES, (theta, tx, ty, shear, zx, zy, flip_h, flip_v, shift,
                                       brightness), strict=True))

    def get_random_transform(self, img_shape, seed=None):
        """Draws the parameters of one random transformation.

        Args:
            img_shape: the image's shape (rank 3, in this generator's data format).
            seed: a seed for this draw (``None``: the global ``np.random``).

        Returns:
            A dict with ``theta``, ``tx``, ``ty``, ``shear``, ``zx``, ``zy``,
            ``flip_horizontal``, ``flip_vertical``, ``channel_shift_intensity`` and
            ``brightness``.
        """
        rs = np.random if seed is None else np.random.RandomState(seed)
        return self._draw_transform(tuple(img_shape), rs)

    # ---------------------------------------------------------------- pixel work
    def _to_last(self, x):
        return x if self.data_format == "channels_last" else np.moveaxis(x, 1, -1)

    def _from_last(self, x):
        return x if self.data_format == "channels_last" else np.moveaxis(x, -1, 1)

    def _transform_batch(self, batch, params):
        stacked = {}
        for name in _PARAM_NAMES:
            values = [p.get(name) for p in params]
            # A missing value means "unchanged": the neutral parameter, or NaN (skip this
            # image) for the optional channel shift and brightness.
            fill = _NEUTRAL.get(name, np.nan)
            stacked[name] = None if all(v is None for v in values) else np.array(
                [fill if v is None else v for v in values], float)
        out = image_transforms.transform_batch(
            self._to_last(np.asarray(batch, self.dtype)), stacked, fill_mode=self.fill_mode,
            cval=self.cval, order=self.interpolation_order)
        return self._from_last(out)

    def apply_transform(self, x, transform_parameters):
        """Applies the given parameters (see ``get_random_transform``) to one image.

        Args:
            x: one image (rank 3) in this generator's data format.
            transform_parameters: a dict; missing keys mean no change.

        Returns:
            The transformed image.
        """
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"apply_transform expects one image of rank 3. Received {x.shape}.")
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else self.dtype
        out = self._transform_batch(x[None].astype(dtype), [dict(transform_parameters)])[0]
        return out.astype(dtype, copy=False)

    def random_transform(self, x, seed=None):
        """Applies one random transformation to one image (rank 3)."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def standardize(self, x):
        """Applies the normalization settings to ``x`` (in place for float arrays), as Keras 2.

        ``x`` is one image or a batch; the samplewise statistics are taken over all of ``x``
        (call it per image for per-image statistics).

        Args:
            x: an image or batch.

        Returns:
            The normalized array.
        """
        if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
            x = np.array(x, dtype=self.dtype)
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        return self._normalize(x, axes=None)

    def _standardize_batch(self, batch):
        if self.preprocessing_function:
            batch = np.stack([np.asarray(self.preprocessing_function(img), dtype=self.dtype)
                              for img in batch]) if len(batch) else batch
        return self._normalize(np.asarray(batch, dtype=self.dtype),
                               axes=tuple(range(1, np.ndim(batch))))

    def _normalize(self, x, axes):
        keep = axes is not None
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, axis=axes, keepdims=True) if keep else np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= (np.std(x, axis=axes, keepdims=True) if keep else np.std(x, keepdims=True)) + 1e-6
        for flag, stat, what in ((self.featurewise_center, self.mean, "featurewise_center"),
                                 (self.featurewise_std_normalization, self.std,
                                  "featurewise_std_normalization"),
                                 (self.zca_whitening, self.zca_whitening_matrix, "zca_whitening")):
            if flag and stat is None:
                warnings.warn(
                    f"This ImageDataGenerator specifies {what}, but it has not been fit on any "
                    f"training data. Fit it first by calling .fit(numpy_data).", stacklevel=4)
        if self.featurewise_center and self.mean is not None:
            x -= self.mean
        if self.featurewise_std_normalization and self.std is not None:
            x /= self.std + 1e-6
        if self.zca_whitening and self.zca_whitening_matrix is not None:
            flat = x.reshape(-1, math.prod(x.shape[-3:]))
            x = (flat @ self.zca_whitening_matrix).reshape(x.shape)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the featurewise mean/std and the ZCA matrix from sample images.

        Args:
            x: images of rank 4 (rescaled by ``rescale`` first).
            augment: fit on randomly augmented copies.
            rounds: augmentation passes over ``x`` when ``augment``.
            seed: seed for the augmentation.

        Raises:
            ValueError: if ``x`` is not rank 4.
        """
        x = np.array(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(
                f"ImageDataGenerator.fit expects images of rank 4. Received shape {x.shape}."
            )
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(
                f"Expected 1, 3 or 4 channels on axis {self.channel_axis} "
                f"(data_format={self.data_format!r}); received shape {x.shape}.", stacklevel=2)
        rs = np.random if seed is None else np.random.RandomState(seed)
        if self.rescale:
            x *= self.rescale
        if augment:
            params = [self._draw_transform(x.shape[1:], rs)
                      for _ in range(rounds) for _ in range(len(x))]
            x = self._transform_batch(np.concatenate([x] * rounds), params)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.mean(x, axis=(0, self.row_axis, self.col_axis)).reshape(shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=(0, self.row_axis, self.col_axis)).reshape(shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = x.reshape(len(x), -1)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (np.sqrt(len(x)) / (s + self.zca_epsilon))) @ u.T
