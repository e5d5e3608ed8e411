"""Shared pieces of the applications (``keras.applications.imagenet_utils``).

Argument checks, the input tensor, the classifier head, the weights cache and ImageNet's
``preprocess_input`` / ``decode_predictions``.  Lamina makes no network calls: ImageNet weights
and the class index are read from the folder where Keras caches them
(``$KERAS_HOME/models`` or ``~/.keras/models``).

>>> import numpy as np
>>> x = np.full((1, 2, 2, 3), 127.5, "float32")
>>> float(preprocess_input(x, mode="tf").max())
0.0
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

CLASS_INDEX_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
KERAS_APPS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_CLASS_INDEX: dict | None = None


# ------------------------------------------------------------------ the weights cache
def cache_dir() -> str:
    """The folder Keras caches downloaded models in (``$KERAS_HOME/models``)."""
    base = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    if not os.access(base, os.W_OK) and not os.path.isdir(os.path.join(base, "models")):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return os.path.join(base, "models")


def cached_file(file_name: str, url: str, what: str = "ImageNet weights") -> str:
    """The path of ``file_name`` in Keras's cache; a ``FileNotFoundError`` saying how to get it."""
    path = os.path.join(cache_dir(), file_name)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{what}: expected the file {file_name!r} in {cache_dir()!r}, but it is not there. "
            "Lamina makes no network calls; download it by hand from "
            f"{url} and put it in that folder (set KERAS_HOME to use another cache folder), "
            "or pass weights=None or the path of a weights file."
        )
    return path


def load_weights_file(model, path: str) -> None:
    """Loads a Keras weights file into an application model.

    Keras 3 ``.weights.h5`` and ``.keras`` files load as Keras would; legacy ``.h5`` files
    (the published ImageNet weights) load by layer name when the file names every layer of the
    model that has weights, otherwise by layer order as Keras does (counts and shapes checked).
    """
    from lamina.saving import h5_tree, legacy_h5, load_weights, safety, weights_h5

    path = os.fspath(path)
    if safety.sniff(path) == "zip":
        load_weights(model, path)
        return
    with legacy_h5.read(path) as f:
        if weights_h5.is_keras3_layout(f):
            keras3 = True
        else:
            keras3 = False
            group = f["model_weights"] if "model_weights" in f else f
            if not isinstance(group, h5_tree.Group):
                raise ValueError(f"{path!r}: not a Keras weights file.")
            names = set(legacy_h5._attr_list(group, "layer_names", path))
    if keras3:
        load_weights(model, path)
        return
    view = model.saving_view()
    weighted = [
        layer.name for i, layer in enumerate(view.layers) if sum(map(len, view.weight_order[i]))
    ]
    if all(name in names for name in weighted):
        load_weights(model, path, by_name=True)
    else:
        # Auto-named layers (conv2d_12, ...) differ between sessions: by order, as Keras does.
        load_weights(model, path)


# ------------------------------------------------------------------ argument checks
def check_weights(weights, include_top: bool, classes: int) -> None:
    """Keras's checks of ``weights`` and ``classes``."""
    is_path = isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)
    if not (weights in {"imagenet", None} or is_path):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), "
            "'imagenet' (pre-training on ImageNet), or the path to the weights file to be "
            f"loaded.  Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be "
            f"1000.  Received classes={classes}"
        )


def _check_channels_last() -> None:
    from lamina.backend import image_data_format

    if image_data_format() != "channels_last":
        raise ValueError(
            "lamina.applications builds channels_last models only; received "
            f"image_data_format()={image_data_format()!r}. Call "
            "keras.config.set_image_data_format('channels_last')."
        )


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None):
    """Keras's input-shape resolution (``channels_last``)."""
    _check_channels_last()
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"`input_shape` must be a tuple of three integers; received {input_shape}."
            )
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(
                f"The input must have 3 channels; Received `input_shape={input_shape}`"
            )
        if any(d is not None and d < min_size for d in input_shape[:2]):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}; "
                f"Received: input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            "If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def image_input(input_tensor, input_shape):
    """The model's input: ``Input(shape)`` or the given symbolic ``input_tensor``."""
    from lamina.layers import Input
    from lamina.utils.general import is_keras_tensor

    if input_tensor is None:
        return Input(shape=input_shape)
    if not is_keras_tensor(input_tensor):
        raise TypeError(
            "`input_tensor` must be a symbolic tensor (the output of keras.Input or of a "
            f"layer); received {type(input_tensor).__name__}."
        )
    return input_tensor


def validate_activation(classifier_activation, weights) -> None:
    """With pretrained weights the top activation must be ``None`` or ``"softmax"``."""
    if weights is None:
        return
    from lamina import activations

    act = activations.get(classifier_activation)
    if act not in {activations.get("softmax"), activations.get(None)}:
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the "
            "`classifier_activation` argument when using pretrained weights, with "
            f"`include_top=True`; Received: classifier_activation={classifier_activation}"
        )


def pool(x, pooling, avg_name=None, max_name=None):
    """``include_top=False`` pooling: ``None``, ``"avg"`` or ``"max"``."""
    from lamina import layers

    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    if pooling is not None:
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'; received {pooling!r}.")
    return x


def finish(img_input, input_tensor, x, name, weights, imagenet=None):
    """Builds the functional model and loads its weights.

    ``imagenet`` is ``(file_name, url)`` of the published file (``None`` when there is none).
    """
    from lamina.models import Model
    from lamina.utils.general import get_source_inputs

    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Model(inputs, x, name=name)
    if weights == "imagenet":
        if imagenet is None:
            raise ValueError(f"{name!r} has no published ImageNet weights for these arguments.")
        load_weights_file(model, cached_file(*imagenet))
    elif weights is not None:
        load_weights_file(model, weights)
    return model


def correct_pad(inputs, kernel_size):
    """Zero-padding for a 2D convolution with downsampling (Keras's ``correct_pad``)."""
    size = inputs.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


# ------------------------------------------------------------------ ImageNet helpers
def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses a batch of images as the ImageNet models expect.

    Args:
        x: float array (3D or 4D, 3 color channels, values in [0, 255]); NumPy inputs of a
            float dtype are changed in place, as in Keras.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses the global
            setting.
        mode: ``"caffe"`` (RGB to BGR, minus the ImageNet mean), ``"tf"`` (scaled to [-1, 1])
            or ``"torch"`` (scaled to [0, 1], normalized by the ImageNet mean and std).

    Returns:
        The preprocessed array (NumPy in, NumPy out; JAX arrays give JAX arrays).

    >>> import numpy as np
    >>> [round(float(v), 3) for v in preprocess_input(np.zeros((1, 1, 1, 3), "float32"))[0, 0, 0]]
    [-103.939, -116.779, -123.68]
    """
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(
            f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}"
        )
    if data_format is None:
        from lamina.backend import image_data_format

        data_format = image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError(
            "Expected data_format to be one of `channels_first` or `channels_last`. "
            f"Received: data_format={data_format}"
        )
    from lamina.utils.general import is_keras_tensor

    if is_keras_tensor(x):
        return _preprocess_symbolic(x, data_format, mode)
    if isinstance(x, np.ndarray):
        if not issubclass(x.dtype.type, np.floating):
            x = x.astype("float32", copy=False)
        xp = np
    else:
        import jax.numpy as jnp

        x = jnp.asarray(x)
        xp = jnp
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    first = data_format == "channels_first"
    if mode == "torch":
        x /= 255.0
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        if first:
            x = x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
        else:
            x = x[..., ::-1]
        mean, std = [103.939, 116.779, 123.68], None
    if first:
        shape = (3, 1, 1) if x.ndim == 3 else (1, 3) + (1,) * (x.ndim - 2)
    else:
        shape = (1,) * (x.ndim - 1) + (3,)
    x = x - xp.asarray(mean, x.dtype).reshape(shape) if xp is not np else _sub(x, mean, shape)
    if std is not None:
        x = x / xp.asarray(std, x.dtype).reshape(shape)
    return x


def _preprocess_symbolic(x, data_format, mode):
    """``preprocess_input`` on a symbolic tensor (inside a functional model), with ``ops``."""
    from lamina import ops

    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    ndim = len(x.shape)
    if data_format == "channels_first":
        axis, shape = (0, (3, 1, 1)) if ndim == 3 else (1, (1, 3) + (1,) * (ndim - 2))
    else:
        axis, shape = -1, (1,) * (ndim - 1) + (3,)
    if mode == "torch":
        x = ops.divide(x, 255.0)
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        x = ops.flip(x, axis=axis)
        mean, std = [103.939, 116.779, 123.68], None
    x = ops.subtract(x, np.asarray(mean, "float32").reshape(shape))
    if std is not None:
        x = ops.divide(x, np.asarray(std, "float32").reshape(shape))
    return x


def _sub(x, mean, shape):
    x -= np.asarray(mean, x.dtype).reshape(shape)
    return x


def decode_predictions(preds, top=5):
    """Decodes ImageNet predictions into ``[(class_id, class_name, score), ...]`` per row.

    The class index is ``imagenet_class_index.json`` from Keras's cache folder (read as JSON).
    """
    global _CLASS_INDEX
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
            f"(samples, 1000)). Received array with shape: {preds.shape}"
        )
    if _CLASS_INDEX is None:
        path = cached_file("imagenet_class_index.json", CLASS_INDEX_URL, "ImageNet class index")
        try:
            with open(path, encoding="utf-8") as f:
                index = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path!r}: not a valid ImageNet class index ({e}).") from None
        if not isinstance(index, dict) or not all(
            isinstance(v, list) and len(v) == 2 for v in index.values()
        ):
            raise ValueError(f"{path!r}: expected {{'0': [wnid, name], ...}}.")
        _CLASS_INDEX = index
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(_CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda t: t[2], reverse=True)
        results.append(result)
    return results
