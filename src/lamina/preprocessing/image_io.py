"""Image files and arrays: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

Pillow is an optional dependency (``pip install "lamina[image]"``); it is imported only when a
function here needs it.  Semantics follow Keras (``keras.utils.load_img`` and friends), plus
Keras 2's ``grayscale=True`` spelling of ``color_mode='grayscale'``.

>>> import numpy as np
>>> from lamina.preprocessing.image import array_to_img, img_to_array
>>> x = np.random.default_rng(0).uniform(0, 255, (4, 5, 3)).astype("float32")
>>> img_to_array(array_to_img(x, scale=False)).shape
(4, 5, 3)
"""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def require_pil():
    """Returns ``PIL.Image``, or raises an ImportError saying how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            'Image loading and saving need Pillow. Install it with: pip install "lamina[image]" '
            "(or pip install pillow)."
        ) from e
    return Image


_DIM_ORDERING = {"th": "channels_first", "tf": "channels_last", "default": None}


def default_data_format(data_format=None):
    """Resolves ``None`` to the global image data format and checks the value.

    Keras 1's ``dim_ordering`` values are accepted: ``'th'`` (channels first), ``'tf'``
    (channels last) and ``'default'``.
    """
    if isinstance(data_format, str) and data_format in _DIM_ORDERING:
        data_format = _DIM_ORDERING[data_format]
    if data_format is None:
        try:
            from lamina import backend

            data_format = backend.image_data_format()
        except (ImportError, AttributeError):
            data_format = "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}."
        )
    return data_format


def load_img(
    path,
    grayscale=False,
    color_mode="rgb",
    target_size=None,
    interpolation="nearest",
    keep_aspect_ratio=False,
):
    """Loads an image file as a PIL image.

    Args:
        path: a path (str, bytes, ``pathlib.Path``) or an ``io.BytesIO``.
        grayscale: Keras 2's flag for ``color_mode='grayscale'`` (deprecated there).
        color_mode: ``'rgb'``, ``'rgba'`` or ``'grayscale'``.
        target_size: ``None`` or ``(height, width)`` to resize to.
        interpolation: resampling for the resize: ``'nearest'``, ``'bilinear'``,
            ``'bicubic'``, ``'hamming'``, ``'box'`` or ``'lanczos'``.
        keep_aspect_ratio: crop the centre to the target aspect ratio before resizing.

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        ImportError: without Pillow.
        TypeError: for a ``path`` of another type.
        ValueError: for an unknown ``color_mode`` or ``interpolation``.
    """
    image_module = require_pil()
    if isinstance(grayscale, str):
        # Keras 3's positional order is (path, color_mode, ...); Keras 2's is (path, grayscale).
        color_mode, grayscale = grayscale, False
    if grayscale:
        warnings.warn("load_img: grayscale=True is deprecated; use color_mode='grayscale'.",
                      stacklevel=2)
        color_mode = "grayscale"
    if color_mode not in ("rgb", "rgba", "grayscale"):
        raise ValueError(
            f"color_mode must be 'grayscale', 'rgb' or 'rgba'. Received: {color_mode!r}."
        )
    if isinstance(path, io.BytesIO):
        img = image_module.open(path)
    elif isinstance(path, str | bytes | pathlib.Path):
        with open(path, "rb") as f:
            img = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(
            f"path must be a file path or an io.BytesIO. Received: {type(path).__name__}."
        )
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is None:
        return img
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"Unknown interpolation {interpolation!r}. Expected one of {', '.join(_INTERPOLATIONS)}."
        )
    height, width = (int(v) for v in target_size)
    if img.size == (width, height):
        return img
    resample = getattr(getattr(image_module, "Resampling", image_module), interpolation.upper())
    box = None
    if keep_aspect_ratio:
        w, h = img.size
        crop_h = min(h, (w * height) // width)
        crop_w = min(w, (h * width) // height)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        box = (left, top, left + crop_w, top + crop_h)
    return img.resize((width, height), resample, box=box)


def img_to_array(img, data_format=None, dtype=None, dim_ordering=None):
    """Converts a PIL image (or array-like image) to a rank-3 array.

    Args:
        img: a PIL image.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        dtype: the array dtype (default float32).
        dim_ordering: Keras 1's name for ``data_format`` (``'th'``, ``'tf'``).

    Returns:
        An array ``(height, width, channels)`` (or channels first).

    Raises:
        ValueError: if the image is not 2-D or 3-D.
    """
    data_format = default_data_format(dim_ordering or data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[..., None]
    elif x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    else:
        raise ValueError(f"Unsupported image shape {x.shape}: expected a 2-D or 3-D image.")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None, dim_ordering=None):
    """Converts a rank-3 array to a PIL image.

    Args:
        x: an array ``(height, width, channels)`` (or channels first) with 1, 3 or 4 channels.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        scale: stretch values to 0..255 (minimum to 0, maximum to 255) first.
        dtype: the float dtype used for the conversion (default float32).
        dim_ordering: Keras 1's name for ``data_format`` (``'th'``, ``'tf'``).

    Returns:
        A ``PIL.Image.Image`` (mode ``L``, ``I``, ``RGB`` or ``RGBA``).

    Raises:
        ImportError: without Pillow.
        ValueError: for an array that is not rank 3 or has another channel count.
    """
    image_module = require_pil()
    data_format = default_data_format(dim_ordering or data_format)
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected one image of rank 3. Received an array of shape {x.shape}.")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x /= peak
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image_module.fromarray(x.astype("uint8"), "RGBA" if channels == 4 else "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported number of channels {channels}: expected 1, 3 or 4.")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves a rank-3 array as an image file.

    Args:
        path: a path or a file object (then pass ``file_format``).
        x: the image array.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        file_format: e.g. ``'png'``; by default taken from the file name's extension.
        scale: stretch values to 0..255 first.
        **kwargs: passed to ``PIL.Image.Image.save``.
    """
    if file_format is None and isinstance(path, str | pathlib.Path):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG has no alpha channel: saving the image as RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
