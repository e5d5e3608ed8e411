"""Filtering ops of ``keras.ops.image``: ``gaussian_blur``, ``sobel_edges``, ``ssim`` and
``extract_patches_3d``, computed as Keras's JAX backend computes them.

One deliberate difference: Keras's eager ``gaussian_blur`` with ``data_format=None`` treats the
images as channels-first whatever ``image_data_format()`` says (its backend compares the raw
``None`` with ``"channels_last"``), while its symbolic path and its documentation use
``image_data_format()``. Here ``None`` always means ``image_data_format()``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.backend import config as _config
from lamina.ops._nn_conv import _fmt, conv
from lamina.ops._tensor import tensor

__all__ = ["extract_patches_3d", "gaussian_blur", "sobel_edges", "ssim"]


def _images(images, name="images"):
    x = jnp.asarray(tensor(images))
    if x.ndim not in (3, 4):
        raise ValueError(
            f"Invalid {name} rank: expected rank 3 (single image) or rank 4 (batch of "
            f"images). Received input with shape: {name}.shape={x.shape}"
        )
    return x


def _compute_dtype(dtype):
    """Keras's ``result_type(dtype, float)``: floats keep theirs, others become floatx."""
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(_config.floatx())


def _pair(value, name, cast):
    values = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(values) != 2:
        raise ValueError(
            f"`{name}` must be a number or a pair of numbers. Received: {name}={value}"
        )
    return tuple(cast(v) for v in values)


def _depthwise_nchw(x, kernel):
    """``x`` (N, C, H, W) convolved channel by channel with the 2-D ``kernel``, 'SAME'."""
    channels = x.shape[1]
    kernel = jnp.tile(kernel[None, None], (channels, 1, 1, 1))
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=(1, 1), padding="SAME",
        dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=channels,
    )  # fmt: skip


def _gaussian_1d(size, sigma, dtype):
    x = jnp.arange(size, dtype=dtype) - jnp.array((size - 1) / 2, dtype=dtype)
    k = jnp.exp(-0.5 * (x / sigma) ** 2)
    return k / jnp.sum(k)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blurs images with a Gaussian kernel, channel by channel, zero-padded to the same size
    (``keras.ops.image.gaussian_blur``).

    As Keras's JAX backend, the first entries of ``kernel_size`` and ``sigma`` apply along the
    width and the second along the height.

    Args:
        images: 3-D (single) or 4-D (batch) images.
        kernel_size: two ints (or one int for both).
        sigma: two standard deviations (or one for both).
        data_format: 'channels_last' or 'channels_first'; ``image_data_format()`` if None.

    Returns:
        The blurred images, of the input's shape and dtype.

    Raises:
        ValueError: for images of another rank.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.zeros((5, 5, 1), "float32"); x[2, 2] = 1.0
    >>> y = ops.image.gaussian_blur(x, kernel_size=(3, 3), sigma=(1.0, 1.0))
    >>> round(float(y[2, 2, 0]), 4), round(float(y.sum()), 4)
    (0.2042, 1.0)
    """
    fmt = _fmt(data_format)
    x = _images(images)
    size = _pair(kernel_size, "kernel_size", int)
    dtype = x.dtype
    work = _compute_dtype(dtype)
    sig = jnp.asarray(_pair(sigma, "sigma", lambda v: v), dtype=work)
    single = x.ndim == 3
    x = x[None] if single else x
    if fmt == "channels_last":
        x = jnp.transpose(x, (0, 3, 1, 2))
    kernel = jnp.outer(_gaussian_1d(size[1], sig[1], work), _gaussian_1d(size[0], sig[0], work))
    out = _depthwise_nchw(x.astype(work), kernel)
    if fmt == "channels_last":
        out = jnp.transpose(out, (0, 2, 3, 1))
    if not jnp.issubdtype(dtype, jnp.floating):
        out = jnp.round(out)
    out = out.astype(dtype)
    return out[0] if single else out


def sobel_edges(images, data_format=None):
    """Sobel gradients of each channel, stacked ``[dy, dx]`` on a new last axis
    (``keras.ops.image.sobel_edges``); zero padding keeps the spatial size.

    Args:
        images: a 4-D batch of images.
        data_format: 'channels_last' or 'channels_first'; ``image_data_format()`` if None.

    Returns:
        ``images.shape + (2,)``: ``(batch, height, width, channels, 2)`` for channels-last,
        ``(batch, channels, height, width, 2)`` for channels-first.

    Raises:
        ValueError: for images that are not a 4-D batch.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.zeros((1, 4, 4, 1), "float32"); x[0, :, 2:, 0] = 1.0
    >>> e = ops.image.sobel_edges(x)
    >>> e.shape, e[0, 1, :, 0, 1].tolist()
    ((1, 4, 4, 1, 2), [0.0, 4.0, 4.0, -4.0])
    """
    fmt = _fmt(data_format)
    x = jnp.asarray(tensor(images))
    if x.ndim != 4:
        raise ValueError(
            "Invalid images rank: expected rank 4 (batch of images). "
            f"Received: images.shape={list(x.shape)}"
        )
    if fmt == "channels_last":
        x = jnp.transpose(x, (0, 3, 1, 2))
    sobel_x = jnp.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype)
    edges = [_depthwise_nchw(x, k) for k in (sobel_x.T, sobel_x)]  # [dy, dx]
    if fmt == "channels_last":
        edges = [jnp.transpose(e, (0, 2, 3, 1)) for e in edges]
    return jnp.stack(edges, axis=-1)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):  # fmt: skip
    """Structural similarity of two images, averaged over the valid windows of a Gaussian
    filter and over the channels (``keras.ops.image.ssim``).

    Args:
        image1: 3-D (single) or 4-D (batch) images.
        image2: images of the same shape.
        max_val: the dynamic range (1.0 for images in [0, 1], 255.0 for [0, 255]).
        filter_size: the Gaussian window's odd size; the images must be at least this big.
        filter_sigma: the window's standard deviation.
        k1: the luminance stabilisation constant.
        k2: the contrast stabilisation constant.
        data_format: 'channels_last' or 'channels_first'; ``image_data_format()`` if None.

    Returns:
        A scalar for single images, ``(batch,)`` for batches, in ``image1``'s dtype.

    Raises:
        ValueError: for images of another rank or of different shapes.

    >>> import numpy as np
    >>> from lamina import ops
    >>> x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    >>> [round(v, 4) for v in ops.image.ssim(x, x, filter_size=7).tolist()]
    [1.0, 1.0]
    """
    fmt = _fmt(data_format)
    a, b = _images(image1, "image1"), _images(image2, "image2")
    if a.shape != b.shape:
        raise ValueError(
            "`image1` and `image2` must have the same shape. Received: "
            f"image1.shape={a.shape}, image2.shape={b.shape}"
        )
    dtype = a.dtype
    work = _compute_dtype(dtype)
    a, b = a.astype(work), b.astype(work)
    single = a.ndim == 3
    if single:
        a, b = a[None], b[None]
    if fmt == "channels_first":
        a, b = jnp.moveaxis(a, 1, -1), jnp.moveaxis(b, 1, -1)
    batch, height, width, channels = a.shape
    size = int(filter_size)
    g = jnp.arange(size, dtype=work) - (size - 1) / 2.0
    g = jnp.exp(-(g**2) / (2.0 * filter_sigma**2))
    g = g / jnp.sum(g)
    kernel = jnp.reshape(jnp.outer(g, g), (size, size, 1, 1))
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    # Every channel as its own single-channel image, as Keras does.
    a = jnp.reshape(jnp.transpose(a, (0, 3, 1, 2)), (-1, height, width, 1))
    b = jnp.reshape(jnp.transpose(b, (0, 3, 1, 2)), (-1, height, width, 1))

    def filt(v):
        return conv(v, kernel, 1, "valid", "channels_last")

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filt(a * a) - mu1_sq
    sigma2_sq = filt(b * b) - mu2_sq
    sigma12 = filt(a * b) - mu1_mu2
    numerator = (2.0 * mu1_mu2 + c1) * (2.0 * sigma12 + c2)
    denominator = (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    per_channel = jnp.mean(numerator / denominator, axis=(1, 2, 3))
    out = jnp.mean(jnp.reshape(per_channel, (batch, channels)), axis=-1)
    return (out[0] if single else out).astype(dtype)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):  # fmt: skip
    """Patches of ``size = (depth, height, width)`` as channels, ordered (depth, row, column,
    channel) (``keras.ops.image.extract_patches_3d``); ``strides`` defaults to ``size``.

    Args:
        volumes: a 4-D volume or a 5-D batch of volumes.
        size: an int or three ints.
        strides: an int or three ints; ``size`` if None.
        dilation_rate: the input stride between the samples of one patch.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' (``(batch, depth, height, width, channels)``) or
            'channels_first'; ``image_data_format()`` if None.

    Returns:
        4-D (single volume) or 5-D patches, ``prod(size) * channels`` of them per position.

    Raises:
        TypeError: for a ``size`` that is not an int or three ints.
        ValueError: for ``strides`` that are not three values, or volumes of another rank.

    >>> import numpy as np
    >>> from lamina import ops
    >>> ops.image.extract_patches_3d(np.ones((2, 6, 6, 6, 3), "float32"), (3, 3, 3)).shape
    (2, 2, 2, 2, 81)
    """
    if isinstance(size, int):
        size = (size, size, size)
    elif not isinstance(size, tuple | list) or len(size) != 3:
        raise TypeError(
            "Invalid `size` argument. Expected an int or a tuple of length 3. "
            f"Received: size={size}"
        )
    if strides is None:
        strides = size
    if isinstance(strides, int):
        strides = (strides, strides, strides)
    if len(strides) != 3:
        raise ValueError(f"Invalid `strides` argument. Got: {strides}")
    fmt = _fmt(data_format)
    x = jnp.asarray(tensor(volumes))
    if x.ndim not in (4, 5):
        raise ValueError(
            "Invalid volumes rank: expected rank 4 (single volume) or rank 5 (batch of "
            f"volumes). Received input with shape: volumes.shape={x.shape}"
        )
    pd, ph, pw = (int(v) for v in size)
    channels = x.shape[-1] if fmt == "channels_last" else x.shape[-4]
    out_dim = pd * ph * pw * channels
    kernel = jnp.reshape(jnp.eye(out_dim, dtype=x.dtype), (pd, ph, pw, channels, out_dim))
    single = x.ndim == 4
    out = conv(x[None] if single else x, kernel, tuple(strides), padding, fmt, dilation_rate)
    return out[0] if single else out
