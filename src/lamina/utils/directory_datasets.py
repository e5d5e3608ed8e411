"""``image_dataset_from_directory`` and ``text_dataset_from_directory`` (Keras's arguments).

Both index the folder as Keras does (one subfolder per class with ``labels="inferred"``,
sorted; the same seeded shuffle and ``validation_split``/``subset`` cut, ``subset="both"``
included) and return :class:`lamina.utils.dataset_utils.Batches` objects: ``fit``,
``evaluate`` and ``predict`` take them, iterating yields NumPy ``(x, y)`` batches, and they
carry ``class_names`` and ``file_paths``.  Files are read batch by batch, on demand.

Images are decoded and resized with Pillow (``pip install "lamina[image]"``) to ``float32``
arrays with values 0-255, as Keras's.  Pillow's resampling (which antialiases when shrinking)
is close to, not bit-identical with, TensorFlow's ``tf.image.resize``.
"""

from __future__ import annotations

import numpy as np

from lamina.utils import dataset_utils as du

__all__ = [
    "audio_dataset_from_directory",
    "image_dataset_from_directory",
    "text_dataset_from_directory",
]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                   "mitchellcubic")  # fmt: skip
_PIL_RESAMPLE = {"bilinear": "BILINEAR", "nearest": "NEAREST", "bicubic": "BICUBIC",
                 "area": "BOX", "lanczos3": "LANCZOS", "lanczos5": "LANCZOS",
                 "gaussian": "BICUBIC", "mitchellcubic": "BICUBIC"}  # fmt: skip
_MODES = {"rgb": ("RGB", 3), "rgba": ("RGBA", 4), "grayscale": ("L", 1)}


class DirectoryDataset(du.Batches):
    """Batches of files from a folder: ``(x, y)`` (or ``x`` without labels), decoded lazily.

    Attributes:
        class_names: the class names (``None`` without labels).
        file_paths: the files, in dataset order.
    """

    def __init__(self, paths, labels, load, batch_size, shuffle, seed, class_names):
        self._labels = labels
        self._load_file = load
        self.file_paths = list(paths)
        self.class_names = class_names
        self._unbatched = batch_size is None
        super().__init__(np.arange(len(self.file_paths)), batch_size or 1, shuffle=shuffle,
                         seed=seed)  # fmt: skip

    def _load(self, index):
        x = np.stack([self._load_file(self.file_paths[int(i)]) for i in index])
        if self._unbatched:
            x = x[0]
        if self._labels is None:
            return x
        y = self._labels[index]
        return x, (y[0] if self._unbatched else y)


def _check_common(labels, label_mode, class_names):
    if labels not in ("inferred", None):
        if not isinstance(labels, list | tuple):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size as "
                "the number of files in the target directory. If you wish to infer the labels "
                'from the subdirectory names in the target directory, pass `labels="inferred"`. '
                "If you wish to get a dataset that only contains the files (no labels), pass "
                f"`labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. Received: '
                f"labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", or None. '
            f"Received: label_mode={label_mode}"
        )


def _build(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
           validation_split, subset, follow_links, verbose, formats, load, what):  # fmt: skip
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    du.check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = du.index_directory(
        directory, labels, formats=formats, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose,
    )  # fmt: skip
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 class_names. Received: '
            f"class_names={class_names}"
        )
    num_classes = len(class_names) if class_names else 0

    def make(sub, train_shuffle):
        p, lab = du.training_or_validation_split(paths, labels, validation_split, sub)
        if not p:
            kind = {"training": "training ", "validation": "validation "}.get(sub, "")
            kind = kind if subset == "both" else ""
            raise ValueError(
                f"No {kind}{what} found in directory {directory}. Allowed formats: {formats}"
            )
        enc = None if lab is None else du.encode_labels(lab, label_mode, num_classes)
        return DirectoryDataset(p, enc, load, batch_size, train_shuffle, seed, class_names)

    if subset == "both":
        return [make("training", shuffle), make("validation", False)]
    return make(subset, shuffle)


def _image_loader(image_size, color_mode, interpolation, crop, pad, data_format):
    from lamina.preprocessing.image_io import require_pil

    image_module = require_pil()
    mode, _ = _MODES[color_mode]
    resample = getattr(image_module, _PIL_RESAMPLE[interpolation])
    height, width = image_size

    def load(path):
        with image_module.open(path) as img:
            img = img.convert(mode)
            if crop or pad:
                w, h = img.size
                target = width / height
                if crop:  # centred crop to the target aspect ratio
                    cw, ch = (min(w, round(h * target)), min(h, round(w / target)))
                    left, top = (w - cw) // 2, (h - ch) // 2
                    img = img.crop((left, top, left + cw, top + ch))
                else:  # centred zero padding to the target aspect ratio
                    pw, ph = (max(w, round(h * target)), max(h, round(w / target)))
                    canvas = image_module.new(mode, (pw, ph))
                    canvas.paste(img, ((pw - w) // 2, (ph - h) // 2))
                    img = canvas
            img = img.resize((width, height), resample=resample)
            x = np.asarray(img, dtype="float32")
        if x.ndim == 2:
            x = x[..., None]
        return np.transpose(x, (2, 0, 1)) if data_format == "channels_first" else x

    return load


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    format="tf",
    verbose=True,
):
    """A dataset of ``(images, labels)`` batches from image files in ``directory``.

    With ``labels="inferred"``, each subfolder is a class (sorted by name, or in the order of
    ``class_names``).  Images are ``float32`` ``(batch, *image_size, channels)`` with values
    0-255; labels follow ``label_mode``: ``"int"`` (int32), ``"categorical"`` (one-hot
    float32), ``"binary"`` (float32 ``(batch, 1)``) or ``None`` (images only).

    Args:
        directory: the folder.
        labels: ``"inferred"``, ``None``, or a list of integer labels in file order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or ``None``.
        class_names: the classes to use (subfolder names), in label order.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        batch_size: images per batch (``None``: single images).
        image_size: ``(height, width)`` (or one int) to resize to.
        shuffle: shuffle the files (and reshuffle each epoch).
        seed: seed of the shuffles; required with ``validation_split`` and ``shuffle``.
        validation_split: the fraction kept for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns both, in a list).
        interpolation: the resampling (Keras's names, mapped to Pillow's filters).
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: centre-crop to the target aspect ratio before resizing.
        pad_to_aspect_ratio: zero-pad to the target aspect ratio before resizing.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: the global one).
        format: Keras's ``"tf"`` or ``"grain"``; Lamina returns its own batches for both.
        verbose: print how many files were found.

    Returns:
        A :class:`DirectoryDataset` (a list of two with ``subset="both"``).

    Raises:
        ValueError: for invalid arguments or a folder without images.
        ImportError: if Pillow is not installed.
    """
    _check_common(labels, label_mode, class_names)
    if color_mode not in _MODES:
        raise ValueError(
            '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
            f"Received: color_mode={color_mode}"
        )
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, list | tuple) or len(image_size) != 2:
        raise ValueError(
            "Invalid `image_size` value. Expected a tuple of 2 integers. "
            f"Received: image_size={image_size}"
        )
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"Argument `interpolation` should be one of {_INTERPOLATIONS}. "
            f"Received: interpolation={interpolation}"
        )
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    from lamina.preprocessing.image_io import default_data_format

    load = _image_loader(tuple(image_size), color_mode, interpolation, crop_to_aspect_ratio,
                         pad_to_aspect_ratio, default_data_format(data_format))  # fmt: skip
    return _build(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                  validation_split, subset, follow_links, verbose, ALLOWLIST_FORMATS, load,
                  "images")  # fmt: skip


def text_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    max_length=None,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    format="tf",
    verbose=True,
):
    """A dataset of ``(texts, labels)`` batches from the ``.txt`` files in ``directory``.

    Texts are NumPy arrays of Python strings (``max_length`` truncates each to that many
    characters); labels as in :func:`image_dataset_from_directory`.  Feed the texts to a
    ``TextVectorization`` layer, as in Keras.

    Returns:
        A :class:`DirectoryDataset` (a list of two with ``subset="both"``).
    """
    _check_common(labels, label_mode, class_names)
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')

    def load(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        return np.asarray(text if max_length is None else text[:max_length], dtype=object)

    return _build(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                  validation_split, subset, follow_links, verbose, (".txt",), load,
                  "text files")  # fmt: skip


def audio_dataset_from_directory(directory, *args, **kwargs):
    """Not supported by Lamina (decoding audio needs TensorFlow); raises an error saying so."""
    from lamina._unsupported import unsupported

    raise unsupported(
        "utils",
        "audio_dataset_from_directory",
        "decode the .wav files yourself (e.g. with the soundfile or scipy.io.wavfile "
        "packages) into arrays and pass them to fit",
    )
