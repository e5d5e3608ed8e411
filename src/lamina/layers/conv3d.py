"""Volumetric convolutions: Conv3D and Conv3DTranspose (as ``keras.layers``).

They are the rank-generic convolutions of :mod:`lamina.layers.conv` and
:mod:`lamina.layers.conv_transpose` with three spatial axes ``(depth, height, width)``: same
arguments, Keras 3's weights (``kernel`` ``(kd, kh, kw, in // groups, filters)`` or,
transposed, ``(kd, kh, kw, filters, in)``, then ``bias``) and ``channels_first`` support.
"""

from __future__ import annotations

from lamina.layers.conv import _PlainConv
from lamina.layers.conv_transpose import _ConvTranspose


class Conv3D(_PlainConv):
    """3-D convolution over volumes ``(batch, depth, height, width, channels)``.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a tuple of 3 ints.
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        groups: number of channel groups.
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in ``Conv2D``.

    >>> import jax, numpy as np
    >>> from lamina.layers import Conv3D
    >>> layer = Conv3D(4, 3, padding="same")
    >>> params, state = layer.init(jax.random.key(0), (None, 5, 6, 7, 2))
    >>> tuple(params["kernel"].shape)
    (3, 3, 3, 2, 4)
    >>> y, _ = layer.apply(params, state, np.ones((1, 5, 6, 7, 2), "float32"))
    >>> tuple(y.shape)
    (1, 5, 6, 7, 4)
    """

    rank = 3


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution, e.g. to upsample volumes.

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a tuple of 3 ints.
        padding: ``'valid'`` or ``'same'``.
        output_padding: ``None``, an int or a tuple of 3 ints: extra size per spatial axis.
        data_format, activation, use_bias, *_initializer, *_regularizer, *_constraint: as in
            ``Conv3D``.

    >>> from lamina.layers import Conv3DTranspose
    >>> Conv3DTranspose(2, 3, strides=2, padding="same").compute_output_shape((None, 3, 4, 5, 1))
    (None, 6, 8, 10, 2)
    """

    rank = 3

    # Keras's Conv3DTranspose takes ``data_format`` before ``output_padding`` (1D/2D: after).
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 output_padding=None, dilation_rate=1, **kwargs):  # fmt: skip
        super().__init__(filters, kernel_size, strides, padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)  # fmt: skip


__all__ = ["Conv3D", "Conv3DTranspose"]
