"""Keras 2's ``keras.utils.conv_utils``: the argument and shape helpers Keras 2-era custom
convolution layers import (``conv_utils.normalize_tuple(kernel_size, 2, 'kernel_size')``),
with Keras 2's signatures, and ``convert_kernel`` (Theano <-> TensorFlow kernels).

>>> from lamina.utils import conv_utils
>>> conv_utils.normalize_tuple(3, 2, "kernel_size"), conv_utils.normalize_data_format(None)
((3, 3), 'channels_last')
>>> conv_utils.conv_output_length(28, 3, "valid", 1), conv_utils.deconv_length(7, 2, 3, "same")
(26, 14)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "conv_input_length",
    "conv_output_length",
    "convert_kernel",
    "deconv_length",
    "normalize_data_format",
    "normalize_padding",
    "normalize_tuple",
]


def _layers():
    # lamina.layers imports lamina.utils (through the initializers): load it on first use.
    from lamina.layers import conv_utils

    return conv_utils


def normalize_tuple(value, n, name):
    """``value`` as a tuple of ``n`` ints (an int repeats).

    Raises:
        ValueError: not an int or a tuple of ``n`` ints.
    """
    return _layers().normalize_tuple(value, n, name, "normalize_tuple")


def normalize_data_format(value):
    """``'channels_last'``/``'channels_first'``; ``None`` gives the global image data format.

    Raises:
        ValueError: any other value.
    """
    return _layers().normalize_data_format(value, "normalize_data_format")


def normalize_padding(value):
    """``'valid'``, ``'same'`` or ``'causal'``, lower-cased.

    Raises:
        ValueError: any other value.
    """
    return _layers().normalize_padding(value, ("valid", "same", "causal"), "normalize_padding")


def conv_output_length(input_length, filter_size, padding, stride, dilation=1):
    """The output length of a convolution along one axis (``None`` stays ``None``);
    ``padding='full'`` as Keras 2 computed it."""
    if input_length is None:
        return None
    if padding == "full":
        dilated = (filter_size - 1) * dilation + 1
        return (input_length + dilated - 1 + stride - 1) // stride
    return _layers().conv_output_length(input_length, filter_size, padding, stride, dilation)


def conv_input_length(output_length, filter_size, padding, stride):
    """The input length a convolution needs for ``output_length`` (Keras 2's formula)."""
    if output_length is None:
        return None
    if padding not in ("same", "valid", "full"):
        raise ValueError(f"padding must be 'same', 'valid' or 'full'. Received: {padding!r}.")
    pad = {"same": filter_size // 2, "valid": 0, "full": filter_size - 1}[padding]
    return (output_length - 1) * stride - 2 * pad + filter_size


def deconv_length(dim_size, stride_size, kernel_size, padding, output_padding=None, dilation=1):
    """The output length of a transposed convolution along one axis (Keras 2's formula)."""
    if dim_size is None:
        return None
    kernel_size = kernel_size + (kernel_size - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return dim_size * stride_size + max(kernel_size - stride_size, 0)
        if padding == "full":
            return dim_size * stride_size - (stride_size + kernel_size - 2)
        return dim_size * stride_size
    pad = {"same": kernel_size // 2, "valid": 0, "full": kernel_size - 1}[padding]
    return (dim_size - 1) * stride_size + kernel_size - 2 * pad + output_padding


def convert_kernel(kernel):
    """A convolution kernel flipped along its spatial axes (Theano's convolution against
    TensorFlow's correlation): every axis but the last two, which are the channels.

    >>> import numpy as np
    >>> convert_kernel(np.arange(4).reshape(2, 2, 1, 1))[..., 0, 0].tolist()
    [[3, 2], [1, 0]]
    """
    kernel = np.asarray(kernel)
    if kernel.ndim < 3:
        raise ValueError(
            f"convert_kernel expects a convolution kernel (spatial axes, then input and output "
            f"channels). Received an array of shape {kernel.shape}."
        )
    flip = (slice(None, None, -1),) * (kernel.ndim - 2) + (slice(None), slice(None))
    return np.copy(kernel[flip])
