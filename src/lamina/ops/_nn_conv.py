"""Keras's convolution and pooling ops (``keras.ops.conv``, ``max_pool``, ...) on ``jax.lax``.

Kernels are laid out as Keras's: ``(*spatial, in_channels, out_channels)`` for ``conv``,
``(*spatial, in_channels, multiplier)`` for ``depthwise_conv``, ``(*spatial, out, in)`` for
``conv_transpose``. ``data_format=None`` means ``image_data_format()``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops._tensor import tensor

__all__ = [
    "adaptive_average_pool", "adaptive_max_pool", "average_pool", "conv", "conv_transpose",
    "depth_to_space", "depthwise_conv", "fold", "max_pool", "separable_conv", "space_to_depth",
    "unfold",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _fmt(data_format):
    fmt = data_format or _config.image_data_format()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            "data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}."
        )
    return fmt


def _tuple(value, n, name):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"`{name}` must have {n} values for {n} spatial dims. Received: {value}.")
    return value


def _dn(rank, fmt):
    spatial = "DHW"[3 - rank :] if rank <= 3 else None
    if spatial is None:
        raise ValueError(f"Only 1, 2 or 3 spatial dimensions are supported. Received rank {rank}.")
    lhs = "N" + spatial + "C" if fmt == "channels_last" else "NC" + spatial
    return lhs, spatial + "IO", lhs


def _padding(padding):
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}.")
    return padding.upper()


def _check_rank(inputs, kernel, name):
    if inputs.ndim < 3 or inputs.ndim > 5 or kernel.ndim != inputs.ndim:
        raise ValueError(
            f"{name} expects inputs of rank 3, 4 or 5 (batch, *spatial, channels) and a kernel "
            f"of the same rank. Received inputs.shape={inputs.shape}, kernel.shape={kernel.shape}."
        )


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (``keras.ops.conv``); grouped when the kernel has fewer in-channels.

    Args:
        inputs: ``(batch, *spatial, channels)`` (or channels first).
        kernel: ``(*kernel_spatial, in_channels / groups, out_channels)``.
        strides, dilation_rate: an int or one per spatial dimension.
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` or ``'channels_first'``.

    Raises:
        ValueError: for bad ranks, channels not divisible by the kernel's, or an empty output.

    >>> from lamina import ops
    >>> ops.conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 3, 8))).shape
    (1, 3, 3, 8)
    """
    kernel = _a(kernel)
    inputs = _a(inputs).astype(kernel.dtype)
    _check_rank(inputs, kernel, "conv")
    fmt, rank = _fmt(data_format), inputs.ndim - 2
    channels = inputs.shape[-1] if fmt == "channels_last" else inputs.shape[1]
    if channels % kernel.shape[-2]:
        raise ValueError(
            "The number of input channels must be evenly divisible by kernel's in_channels. "
            f"Received input channels {channels} and kernel in_channels {kernel.shape[-2]}."
        )
    out = jax.lax.conv_general_dilated(
        inputs, kernel, _tuple(strides, rank, "strides"), _padding(padding),
        rhs_dilation=_tuple(dilation_rate, rank, "dilation_rate"),
        dimension_numbers=_dn(rank, fmt), feature_group_count=channels // kernel.shape[-2],
    )  # fmt: skip
    if out.size == 0 and inputs.size != 0:
        raise ValueError(
            "The convolution operation resulted in an empty output: the input is too small for "
            "the given kernel size, strides, dilation rate and padding."
        )
    return out


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution (``keras.ops.depthwise_conv``); kernel ``(*k, channels, mult)``.

    >>> from lamina import ops
    >>> ops.depthwise_conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 3, 2))).shape
    (1, 3, 3, 6)
    """
    inputs, kernel = _a(inputs), _a(kernel)
    _check_rank(inputs, kernel, "depthwise_conv")
    fmt, rank = _fmt(data_format), inputs.ndim - 2
    channels = inputs.shape[-1] if fmt == "channels_last" else inputs.shape[1]
    if kernel.shape[-2] != channels:
        raise ValueError(
            f"depthwise_conv: the kernel's in_channels ({kernel.shape[-2]}) must equal the "
            f"input channels ({channels})."
        )
    kernel = jnp.reshape(kernel, (*kernel.shape[:-2], 1, channels * kernel.shape[-1]))
    return jax.lax.conv_general_dilated(
        inputs, kernel, _tuple(strides, rank, "strides"), _padding(padding),
        rhs_dilation=_tuple(dilation_rate, rank, "dilation_rate"),
        dimension_numbers=_dn(rank, fmt), feature_group_count=channels,
    )  # fmt: skip


def separable_conv(
    inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
    dilation_rate=1,
):  # fmt: skip
    """A depthwise convolution followed by a 1x1 convolution (``keras.ops.separable_conv``).

    >>> from lamina import ops
    >>> ops.separable_conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 3, 2)), ops.ones((1, 1, 6, 4))).shape
    (1, 3, 3, 4)
    """
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def _transpose_pads(kernel_spatial, strides, dilation, padding, output_padding):
    """Keras's ``compute_conv_transpose_padding_args_for_jax``."""
    pads = []
    for i, (k, s, d) in enumerate(zip(kernel_spatial, strides, dilation)):
        k = (k - 1) * d + 1
        op = None if output_padding is None else output_padding[i]
        if padding == "VALID":
            op = max(k, s) - k if op is None else op
            pads.append((k - 1, k - 1 + op))
        else:
            pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, k - 1)
            pads.append((left, pad_len - left))
    return pads


def conv_transpose(
    inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
    dilation_rate=1,
):  # fmt: skip
    """Transposed convolution (``keras.ops.conv_transpose``); kernel ``(*k, out, in)``.

    >>> from lamina import ops
    >>> ops.conv_transpose(ops.ones((1, 3, 3, 4)), ops.ones((3, 3, 2, 4)), strides=2).shape
    (1, 7, 7, 2)
    """
    inputs, kernel = _a(inputs), _a(kernel)
    _check_rank(inputs, kernel, "conv_transpose")
    fmt, rank = _fmt(data_format), inputs.ndim - 2
    strides = _tuple(strides, rank, "strides")
    dilation = _tuple(dilation_rate, rank, "dilation_rate")
    if output_padding is not None:
        output_padding = _tuple(output_padding, rank, "output_padding")
    pads = _transpose_pads(
        kernel.shape[:rank], strides, dilation, _padding(padding), output_padding
    )
    return jax.lax.conv_transpose(
        inputs, kernel, strides, padding=pads, rhs_dilation=dilation,
        dimension_numbers=_dn(rank, fmt), transpose_kernel=True,
    )  # fmt: skip


def _window(inputs, pool_size, strides, fmt):
    rank = inputs.ndim - 2
    pool = _tuple(pool_size, rank, "pool_size")
    strides = pool if strides is None else _tuple(strides, rank, "strides")
    if fmt == "channels_last":
        return (1, *pool, 1), (1, *strides, 1)
    return (1, 1, *pool), (1, 1, *strides)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over the spatial dims (``keras.ops.max_pool``); ``strides`` defaults to
    ``pool_size``.

    >>> from lamina import ops
    >>> ops.max_pool(ops.ones((1, 4, 4, 3)), 2).shape
    (1, 2, 2, 3)
    """
    inputs = _a(inputs)
    window, strides = _window(inputs, pool_size, strides, _fmt(data_format))
    return jax.lax.reduce_window(inputs, -jnp.inf, jax.lax.max, window, strides, _padding(padding))


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling (``keras.ops.average_pool``); with ``'same'`` padding each window is
    averaged over its real (unpadded) elements, as Keras does.

    >>> from lamina import ops
    >>> ops.average_pool(ops.ones((1, 5, 5, 3)), 2, padding="same").shape
    (1, 3, 3, 3)
    """
    inputs = _a(inputs)
    window, strides = _window(inputs, pool_size, strides, _fmt(data_format))
    pad = _padding(padding)
    summed = jax.lax.reduce_window(inputs, 0.0, jax.lax.add, window, strides, pad)
    if pad == "VALID":
        return summed / math.prod(window)
    ones = jnp.ones([n if w != 1 else 1 for n, w in zip(inputs.shape, window)], inputs.dtype)
    counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
    return summed / counts


def _adaptive(inputs, output_size, data_format, reduce):
    inputs = _a(inputs)
    fmt, rank = _fmt(data_format), inputs.ndim - 2
    sizes = _tuple(output_size, rank, "output_size")
    first = 1 if fmt == "channels_last" else 2
    for d, out_n in enumerate(sizes):
        axis, n = first + d, inputs.shape[first + d]
        # Window i covers [floor(i*n/out), ceil((i+1)*n/out)), PyTorch's and Keras's rule.
        parts = [
            reduce(
                jax.lax.slice_in_dim(
                    inputs, (i * n) // out_n, -(-((i + 1) * n) // out_n), axis=axis
                ),
                axis,
            )
            for i in range(out_n)
        ]
        inputs = jnp.stack(parts, axis=axis)
    return inputs


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed ``output_size`` (``keras.ops.adaptive_average_pool``).

    >>> from lamina import ops
    >>> ops.adaptive_average_pool(ops.ones((1, 7, 5, 3)), (2, 2)).shape
    (1, 2, 2, 3)
    """
    return _adaptive(inputs, output_size, data_format, lambda v, ax: jnp.mean(v, axis=ax))


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed ``output_size`` (``keras.ops.adaptive_max_pool``).

    >>> from lamina import ops
    >>> ops.adaptive_max_pool(ops.ones((1, 7, 5, 3)), 3).shape
    (1, 3, 3, 3)
    """
    return _adaptive(inputs, output_size, data_format, lambda v, ax: jnp.max(v, axis=ax))


def depth_to_space(x, block_size, data_format="channels_last"):
    """Moves channel blocks into ``block_size`` x ``block_size`` spatial blocks
    (``keras.ops.depth_to_space``).

    >>> from lamina import ops
    >>> ops.depth_to_space(ops.ones((1, 2, 2, 8)), 2).shape
    (1, 4, 4, 2)
    """
    x, b = _a(x), int(block_size)
    if _fmt(data_format) == "channels_last":
        n, h, w, c = x.shape
        x = jnp.transpose(jnp.reshape(x, (n, h, w, b, b, c // b**2)), (0, 1, 3, 2, 4, 5))
        return jnp.reshape(x, (n, h * b, w * b, c // b**2))
    n, c, h, w = x.shape
    x = jnp.transpose(jnp.reshape(x, (n, c // b**2, b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return jnp.reshape(x, (n, c // b**2, h * b, w * b))


def space_to_depth(x, block_size, data_format="channels_last"):
    """Moves ``block_size`` x ``block_size`` spatial blocks into channels
    (``keras.ops.space_to_depth``).

    >>> from lamina import ops
    >>> ops.space_to_depth(ops.ones((1, 4, 4, 2)), 2).shape
    (1, 2, 2, 8)
    """
    x, b = _a(x), int(block_size)
    if _fmt(data_format) == "channels_last":
        n, h, w, c = x.shape
        x = jnp.transpose(jnp.reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return jnp.reshape(x, (n, h // b, w // b, c * b * b))
    n, c, h, w = x.shape
    x = jnp.transpose(jnp.reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return jnp.reshape(x, (n, c * b * b, h // b, w // b))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of a ``(N, C, H, W)`` tensor as ``(N, C*kh*kw, L)`` columns
    (``keras.ops.unfold``, PyTorch's ``unfold``).

    >>> from lamina import ops
    >>> ops.unfold(ops.ones((1, 2, 4, 4)), 2).shape
    (1, 8, 9)
    """
    x = _a(x)
    if x.ndim != 4:
        raise ValueError(f"unfold expects a (N, C, H, W) tensor. Received shape {x.shape}.")
    k, d = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    p, s = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    patches = jax.lax.conv_general_dilated_patches(
        x, k, s, [(p[0], p[0]), (p[1], p[1])], rhs_dilation=d,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )  # fmt: skip
    return jnp.reshape(patches, (x.shape[0], patches.shape[1], -1))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sums ``(N, C*kh*kw, L)`` columns back into a ``(N, C, H, W)`` tensor, the adjoint of
    :func:`unfold` (``keras.ops.fold``).

    >>> from lamina import ops
    >>> ops.fold(ops.ones((1, 8, 9)), (4, 4), 2).shape
    (1, 2, 4, 4)
    """
    x = _a(x)
    k = _tuple(kernel_size, 2, "kernel_size")
    h, w = _tuple(output_size, 2, "output_size")
    channels = x.shape[1] // (k[0] * k[1])
    template = jnp.zeros((x.shape[0], channels, h, w), x.dtype)
    (out,) = jax.linear_transpose(
        lambda img: unfold(img, kernel_size, dilation, padding, stride), template
    )(x)
    return out
