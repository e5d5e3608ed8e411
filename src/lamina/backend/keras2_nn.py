"""Keras 2's convolution, pooling and CTC functions of ``keras.backend``: ``K.conv1d``,
``K.conv2d``, ``K.depthwise_conv2d``, ``K.separable_conv2d``, ``K.pool2d``,
``K.ctc_batch_cost`` and ``K.ctc_decode``.

Custom layers written for Keras 2 call them in ``call`` (the capsule network of Keras 2's
``cifar10_cnn_capsule.py`` computes ``K.conv1d(inputs, self.kernel)``).  They keep Keras 2's
arguments: kernels laid out ``(spatial..., in, out)``, ``data_format=None`` meaning
``image_data_format()``, ``K.pool2d``'s ``strides=(1, 1)`` default and ``pool_mode``, and
``K.conv1d``'s ``padding="causal"``.  The CTC functions take probabilities (a softmax's
output) and keep the blank label last, as TensorFlow's CTC did (Keras 2's ``image_ocr.py``:
``Lambda(lambda a: K.ctc_batch_cost(*a))`` on the softmax, then
``K.ctc_decode(prediction, input_length)``).

>>> import numpy as np
>>> from lamina import backend as K
>>> x = np.arange(5, dtype="float32").reshape(1, 5, 1)
>>> K.conv1d(x, np.ones((2, 1, 1), "float32"))[0, :, 0].tolist()
[1.0, 3.0, 5.0, 7.0]
>>> K.conv1d(x, np.ones((2, 1, 1), "float32"), padding="causal")[0, :, 0].tolist()
[0.0, 1.0, 3.0, 5.0, 7.0]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops import _symbolic as _symbolic_ops

__all__ = [
    "conv1d", "conv2d", "ctc_batch_cost", "ctc_decode", "depthwise_conv2d", "pool2d",
    "separable_conv2d",
]  # fmt: skip


def _data_format(data_format):
    data_format = data_format or _config.image_data_format()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            f"Unknown data_format: {data_format!r}. Expected 'channels_first' or 'channels_last'."
        )
    return data_format


def _padding(padding, allowed=("valid", "same")):
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"Unknown padding: {padding!r}. Expected one of {allowed}.")
    return padding.lower()


def _nn():
    from lamina.ops import nn  # lamina.ops imports this package

    return nn


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1D convolution (``K.conv1d``): ``x`` of shape ``(batch, steps, in)`` (channels last),
    ``kernel`` of shape ``(width, in, out)``; ``padding`` is ``"valid"``, ``"same"`` or
    ``"causal"`` (zeros on the left only, so no output sees a later step).

    Raises:
        ValueError: an unknown ``padding`` or ``data_format``.
    """
    data_format = _data_format(data_format)
    padding = _padding(padding, ("valid", "same", "causal"))
    if padding == "causal":  # Keras 2: left-pad by dilation * (width - 1), then "valid"
        left = int(dilation_rate if isinstance(dilation_rate, int) else dilation_rate[0])
        left *= int(jnp.shape(kernel)[0]) - 1
        pads = [(0, 0), (left, 0), (0, 0)]
        if data_format == "channels_first":
            pads = [(0, 0), (0, 0), (left, 0)]
        x = jnp.pad(jnp.asarray(x), pads)
        padding = "valid"
    return _nn().conv(x, kernel, strides, padding, data_format, dilation_rate)


def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)):
    """2D convolution (``K.conv2d``); ``kernel`` of shape ``(height, width, in, out)``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.conv2d(np.ones((1, 3, 3, 1), "float32"), np.ones((2, 2, 1, 1), "float32")).shape
    (1, 2, 2, 1)

    Raises:
        ValueError: an unknown ``padding`` or ``data_format``.
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    return _nn().conv(x, kernel, strides, padding, data_format, dilation_rate)


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):  # fmt: skip
    """Depthwise 2D convolution (``K.depthwise_conv2d``); ``depthwise_kernel`` of shape
    ``(height, width, in, depth_multiplier)``.

    Raises:
        ValueError: an unknown ``padding`` or ``data_format``.
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    return _nn().depthwise_conv(x, depthwise_kernel, strides, padding, data_format, dilation_rate)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1)):  # fmt: skip
    """Separable 2D convolution (``K.separable_conv2d``): a depthwise convolution, then a
    ``(1, 1, in * depth_multiplier, out)`` pointwise one.

    Raises:
        ValueError: an unknown ``padding`` or ``data_format``.
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    return _nn().separable_conv(
        x, depthwise_kernel, pointwise_kernel, strides, padding, data_format, dilation_rate
    )


def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """2D pooling (``K.pool2d``); Keras 2's ``strides`` default is ``(1, 1)``, not the pool
    size, and ``pool_mode`` is ``"max"`` or ``"avg"``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    >>> K.pool2d(x, (2, 2))[0, :, :, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]

    Raises:
        ValueError: an unknown ``pool_mode``, ``padding`` or ``data_format``.
    """
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def _pool(x, pool_size, strides, padding, data_format, pool_mode):
    """Keras 2's pooling of any rank, behind ``K.pool2d`` and ``K.pool3d``.

    Raises:
        ValueError: an unknown ``pool_mode``, ``padding`` or ``data_format``.
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    if pool_mode == "max":
        return _nn().max_pool(x, pool_size, strides, padding, data_format)
    if pool_mode == "avg":
        return _nn().average_pool(x, pool_size, strides, padding, data_format)
    raise ValueError(f"Invalid pooling mode: pool_mode={pool_mode!r}. Expected 'max' or 'avg'.")


def _lengths(lengths):
    """Keras 2's ``(batch, 1)`` (or ``(batch,)``) lengths as an int32 ``(batch,)`` vector."""
    lengths = jnp.asarray(lengths)
    return jnp.reshape(lengths, (lengths.shape[0],)).astype(jnp.int32)


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """The CTC loss of each sample (``K.ctc_batch_cost``, Keras 2), shape ``(batch, 1)``.

    Args:
        y_true: ``(batch, max_label_length)`` labels (in ``[0, num_classes - 1)``); entries past
            a sample's ``label_length`` are ignored.
        y_pred: ``(batch, time, num_classes)`` probabilities (a softmax output); the last class
            is the blank.
        input_length: ``(batch, 1)`` number of time steps of each sample in ``y_pred``.
        label_length: ``(batch, 1)`` number of labels of each sample in ``y_true``.

    Returns:
        The negative log-likelihood of each sample's labels, ``(batch, 1)``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> probs = np.full((1, 2, 2), 0.5, "float32")  # label 0 or blank (1) at each step
    >>> round(float(K.ctc_batch_cost(np.array([[0]]), probs, [[2]], [[1]])[0, 0]), 4)
    0.2877
    """
    y_pred = jnp.asarray(y_pred)
    labels = jnp.asarray(y_true).astype(jnp.int32)
    labels = jnp.where(labels < 0, 0, labels)  # padding past label_length (image_ocr uses -1)
    logits = jnp.log(y_pred + _config.epsilon())  # Keras 2: log(y_pred + epsilon())
    loss = _nn().ctc_loss(
        labels, logits, _lengths(label_length), _lengths(input_length),
        mask_index=y_pred.shape[-1] - 1,
    )  # fmt: skip
    return jnp.expand_dims(loss, 1)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Decodes CTC probabilities (``K.ctc_decode``, Keras 2): best paths with repeats merged
    and blanks (the last class) removed.

    Args:
        y_pred: ``(batch, time, num_classes)`` probabilities.
        input_length: ``(batch,)`` number of time steps of each sample.
        greedy: the best class at each step; else a beam search.
        beam_width: the beam search's width.
        top_paths: how many paths the beam search returns.

    Returns:
        ``(decoded, log_prob)``: a list of ``top_paths`` int arrays ``(batch, length)``, padded
        with -1 to the longest decoding (to the time steps inside a compiled function), and
        the ``(batch, top_paths)`` log probabilities.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> probs = np.eye(3, dtype="float32")[[[0, 0, 2, 1, 1, 2]]]  # 0 0 blank 1 1 blank
    >>> K.ctc_decode(probs, [6])[0][0].tolist()
    [[0, 1]]
    """
    y_pred = jnp.asarray(y_pred)
    decoded, log_prob = _nn().ctc_decode(
        jnp.log(y_pred + _config.epsilon()), _lengths(input_length),
        strategy="greedy" if greedy else "beam_search", beam_width=beam_width,
        top_paths=top_paths, mask_index=y_pred.shape[-1] - 1,
    )  # fmt: skip
    if not isinstance(decoded, jax.core.Tracer):  # Keras 2's width: the longest decoding
        width = int(jnp.max(jnp.sum(decoded >= 0, axis=-1), initial=0))
        decoded = decoded[..., :width]
    return [decoded[i] for i in range(decoded.shape[0])], log_prob


# Keras 2 code may call them on the symbolic tensors of keras.Input: a graph node there.
_symbolic_ops.wrap_module(sys.modules[__name__], __all__)
