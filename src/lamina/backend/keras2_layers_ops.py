"""Keras 2's layer-level functions of ``keras.backend``: ``K.conv2d_transpose``, ``K.conv3d``,
``K.pool3d``, the zero paddings (``K.temporal_padding``, ``K.spatial_2d_padding``,
``K.spatial_3d_padding``), ``K.resize_images``/``K.resize_volumes``,
``K.batch_normalization`` and ``K.dropout``.

Keras 2's own layers were written with them (``UpSampling2D`` called ``K.resize_images``,
``ZeroPadding2D`` ``K.spatial_2d_padding``), and so are many custom layers of Keras 2 code.
They keep Keras 2's arguments: ``data_format=None`` meaning ``image_data_format()`` (except
``K.resize_images``/``K.resize_volumes``, whose ``data_format`` is required), kernels laid out
``(spatial..., in, out)`` and ``K.conv2d_transpose``'s ``(height, width, out, in)``.

>>> import numpy as np
>>> from lamina import backend as K
>>> K.temporal_padding(np.ones((1, 2, 1), "float32"), (1, 2))[0, :, 0].tolist()
[0.0, 1.0, 1.0, 0.0, 0.0]
>>> K.resize_images(np.ones((1, 2, 2, 3)), 2, 3, "channels_last").shape
(1, 4, 6, 3)
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from lamina import random as _random
from lamina.backend.keras2_nn import _data_format, _nn, _padding, _pool
from lamina.ops import _symbolic as _symbolic_ops

__all__ = [
    "batch_normalization", "conv2d_transpose", "conv3d", "dropout", "pool3d", "resize_images",
    "resize_volumes", "spatial_2d_padding", "spatial_3d_padding", "temporal_padding",
]  # fmt: skip

#: Keras 2's interpolations of ``K.resize_images`` (TensorFlow's resize methods).
_INTERPOLATIONS = (
    "area", "bicubic", "bilinear", "gaussian", "lanczos3", "lanczos5", "mitchellcubic", "nearest",
)  # fmt: skip


def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):  # fmt: skip
    """Transposed 2D convolution (``K.conv2d_transpose``): the gradient of ``K.conv2d`` with
    respect to its input, as TensorFlow computes it.

    Args:
        x: ``(batch, rows, cols, in)`` (channels last) inputs.
        kernel: ``(height, width, out, in)``, the kernel of the forward convolution.
        output_shape: the output's shape, in ``data_format``'s layout; its batch may be None.
        strides: the forward convolution's strides.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the default).
        dilation_rate: the forward convolution's dilation (equal in both dimensions).

    Returns:
        The ``output_shape`` result.

    Raises:
        ValueError: an unknown ``padding``/``data_format``, unequal dilations, or an
            ``output_shape`` that the forward convolution would not map to ``x``'s shape.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> x = np.ones((1, 2, 2, 1), "float32")
    >>> K.conv2d_transpose(x, np.ones((2, 2, 1, 1), "float32"), (1, 4, 4, 1), (2, 2)).shape
    (1, 4, 4, 1)
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    dilation_rate = tuple(dilation_rate)
    if dilation_rate[0] != dilation_rate[1]:
        raise ValueError(
            "Expected the 2 dimensions of the `dilation_rate` argument to be equal to each "
            f"other. Received: dilation_rate={dilation_rate}"
        )
    x = jnp.asarray(x)
    output_shape = tuple(int(d) if d is not None else None for d in output_shape)
    if output_shape[0] is None:
        output_shape = (x.shape[0],) + output_shape[1:]

    def forward(y):
        return _nn().conv(y, kernel, tuple(strides), padding, data_format, dilation_rate)

    expected = jax.eval_shape(forward, jax.ShapeDtypeStruct(output_shape, x.dtype)).shape
    if tuple(expected) != tuple(x.shape):
        raise ValueError(
            f"conv2d_transpose: output_shape={output_shape} does not match the input: a "
            f"convolution with strides={tuple(strides)} and padding={padding!r} maps it to "
            f"{tuple(expected)}, not to the input's shape {tuple(x.shape)}. Pass the shape the "
            "forward convolution's input had."
        )
    (out,) = jax.linear_transpose(forward, jax.ShapeDtypeStruct(output_shape, x.dtype))(x)
    return out


def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1)):  # fmt: skip
    """3D convolution (``K.conv3d``); ``kernel`` of shape ``(depth, height, width, in, out)``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.conv3d(np.ones((1, 3, 3, 3, 1), "float32"), np.ones((2, 2, 2, 1, 4), "float32")).shape
    (1, 2, 2, 2, 4)

    Raises:
        ValueError: an unknown ``padding`` or ``data_format``.
    """
    data_format, padding = _data_format(data_format), _padding(padding)
    return _nn().conv(x, kernel, strides, padding, data_format, dilation_rate)


def pool3d(x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None, pool_mode="max"):
    """3D pooling (``K.pool3d``); Keras 2's ``strides`` default is ``(1, 1, 1)``, not the pool
    size, and ``pool_mode`` is ``"max"`` or ``"avg"``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.pool3d(np.ones((1, 4, 4, 4, 2), "float32"), (2, 2, 2), (2, 2, 2)).shape
    (1, 2, 2, 2, 2)

    Raises:
        ValueError: an unknown ``pool_mode``, ``padding`` or ``data_format``.
    """
    return _pool(x, pool_size, strides, padding, data_format, pool_mode)


def _pairs(padding, n):
    """``padding`` as ``n`` ``(before, after)`` int pairs.

    Raises:
        ValueError: another structure (Keras 2's message).
    """
    try:
        pairs = [tuple(int(v) for v in p) for p in padding]
    except TypeError:
        pairs = []
    if len(pairs) != n or any(len(p) != 2 for p in pairs):
        raise ValueError(
            f"Expected `padding` to be a tuple of {n} tuples of 2 integers. "
            f"Received: padding={padding}"
        )
    return pairs


def temporal_padding(x, padding=(1, 1)):
    """Zero-pads the middle (time) axis of a 3D tensor (``K.temporal_padding``).

    Raises:
        ValueError: ``padding`` is not 2 integers.
    """
    if len(padding) != 2:
        raise ValueError(
            f"Expected `padding` to be a tuple of 2 integers. Received: padding={padding}"
        )
    return jnp.pad(jnp.asarray(x), [(0, 0), (int(padding[0]), int(padding[1])), (0, 0)])


def _spatial_padding(x, pairs, data_format):
    data_format = _data_format(data_format)
    if data_format == "channels_first":
        return jnp.pad(jnp.asarray(x), [(0, 0), (0, 0), *pairs])
    return jnp.pad(jnp.asarray(x), [(0, 0), *pairs, (0, 0)])


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zero-pads the rows and columns of a 4D tensor (``K.spatial_2d_padding``).

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.spatial_2d_padding(np.ones((1, 2, 2, 1))).shape
    (1, 4, 4, 1)

    Raises:
        ValueError: ``padding`` is not 2 pairs of integers, or an unknown ``data_format``.
    """
    return _spatial_padding(x, _pairs(padding, 2), data_format)


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zero-pads the depth, rows and columns of a 5D tensor (``K.spatial_3d_padding``).

    Raises:
        ValueError: ``padding`` is not 3 pairs of integers, or an unknown ``data_format``.
    """
    return _spatial_padding(x, _pairs(padding, 3), data_format)


def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Resizes the rows and columns of a 4D tensor by integer factors (``K.resize_images``).

    Args:
        x: the images.
        height_factor: rows factor.
        width_factor: columns factor.
        data_format: ``"channels_last"`` or ``"channels_first"`` (required, as in Keras 2).
        interpolation: ``"nearest"`` (repeats), ``"bilinear"``, ``"bicubic"``, ``"lanczos3"``,
            ``"lanczos5"``, ``"gaussian"``, ``"mitchellcubic"`` (``tf.image.resize``'s
            formulas) or ``"area"`` (repeats too: the factors are integers).

    Returns:
        The resized images.

    Raises:
        ValueError: an unknown ``data_format`` or ``interpolation``.
    """
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"Invalid `data_format` argument: {data_format}")
    if interpolation not in _INTERPOLATIONS:
        names = '"' + '", "'.join(_INTERPOLATIONS) + '"'
        raise ValueError(
            f'`interpolation` argument should be one of: {names}. Received: "{interpolation}".'
        )
    x = jnp.asarray(x)
    rows = 2 if data_format == "channels_first" else 1
    if interpolation in ("nearest", "area"):
        return jnp.repeat(jnp.repeat(x, height_factor, rows), width_factor, rows + 1)
    from lamina.ops import image  # lamina.ops imports this package

    size = (x.shape[rows] * int(height_factor), x.shape[rows + 1] * int(width_factor))
    return image.resize(x, size, interpolation=interpolation, data_format=data_format)


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format):
    """Repeats the depth, rows and columns of a 5D tensor (``K.resize_volumes``).

    Raises:
        ValueError: an unknown ``data_format``.
    """
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"Invalid data_format: {data_format}")
    first = 2 if data_format == "channels_first" else 1
    out = jnp.asarray(x)
    for i, factor in enumerate((depth_factor, height_factor, width_factor)):
        out = jnp.repeat(out, factor, first + i)
    return out


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` (``K.batch_normalization``).

    ``mean``, ``var``, ``beta`` and ``gamma`` broadcast against ``x``; 1D ones of
    ``x.shape[axis]`` entries apply along ``axis`` (Keras 2's ``axis=1`` for channels-first
    features). ``beta`` or ``gamma`` may be None (no offset, no scale).

    >>> from lamina import backend as K
    >>> K.batch_normalization(K.constant([[1.0, 3.0]]), 2.0, 1.0, 0.0, 1.0, epsilon=0.0).tolist()
    [[-1.0, 1.0]]
    """
    x = jnp.asarray(x)
    axis = axis % x.ndim if x.ndim else 0

    def along_axis(v):
        if v is None:
            return None
        v = jnp.asarray(v)
        if v.ndim == 1 and x.ndim > 1 and axis != x.ndim - 1 and v.shape[0] == x.shape[axis]:
            shape = [1] * x.ndim
            shape[axis] = v.shape[0]
            return v.reshape(shape)
        # NumPy's broadcasting, spelled out (the rank promotion JAX may be set to refuse).
        return v.reshape((1,) * (x.ndim - v.ndim) + v.shape) if 0 < v.ndim < x.ndim else v

    mean, var, beta, gamma = (along_axis(v) for v in (mean, var, beta, gamma))
    inv = jax.lax.rsqrt(var + epsilon)
    if gamma is not None:
        inv = inv * gamma
    out = (x - mean) * inv
    return out if beta is None else out + beta


def dropout(x, level, noise_shape=None, seed=None):
    """Inverted dropout (``K.dropout``): zeroes entries with probability ``level`` and scales
    the rest by ``1 / (1 - level)``; ``noise_shape`` (None entries: ``x``'s) shares a draw
    along its size-1 axes.

    Raises:
        ValueError: ``level`` outside ``[0, 1)``.

    >>> from lamina import backend as K
    >>> sorted(set(K.dropout(K.ones((100,)), 0.5, seed=1).tolist()))
    [0.0, 2.0]
    """
    if isinstance(level, (int, float)) and not 0 <= level < 1:
        raise ValueError(
            f"rate must be a scalar tensor or a float in the range [0, 1), got {level}"
        )
    return _random.dropout(x, level, noise_shape=noise_shape, seed=seed)


# Keras 2 code may call them on the symbolic tensors of keras.Input: a graph node there.
_symbolic_ops.wrap_module(sys.modules[__name__], __all__)
