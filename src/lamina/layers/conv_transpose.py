"""Transposed convolutions: ``Conv1DTranspose`` and ``Conv2DTranspose`` (as ``keras.layers``).

The kernel is ``(*kernel_size, filters, in_channels)``, then ``bias``, as in Keras 3; the
padding and output shape follow Keras's ``compute_conv_transpose_padding_args_for_jax``.
``Conv3DTranspose`` is in :mod:`lamina.layers.conv3d`.
"""

from __future__ import annotations

from lamina.layers import conv_ops
from lamina.layers.config import derived_config
from lamina.layers.conv import _BaseConv, _Conv
from lamina.layers.conv_utils import normalize_tuple
from lamina.layers.weight_specs import WeightSpec


# ``activation``/``use_bias`` reach ``_BaseConv`` through ``**kwargs``; Keras has no ``groups``.
@derived_config(extra=("activation", "use_bias", "activity_regularizer"))
class _ConvTranspose(_BaseConv):
    """Transposed convolution; kernel ``(*kernel_size, filters, in_channels)`` as in Keras."""

    weight_specs = (
        WeightSpec(
            "kernel", lambda layer, s: (*layer.kernel_size, layer.filters, layer._in_channels(s))
        ),
        WeightSpec("bias", _Conv._bias_shape, when="use_bias"),
    )

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):  # fmt: skip
        kwargs.pop("groups", None)
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, **kwargs
        )
        self.output_padding = None
        if output_padding is not None:
            cls = type(self).__name__
            self.output_padding = normalize_tuple(output_padding, self.rank, "output_padding", cls, 0)

    def _out_pad(self, i):
        return None if self.output_padding is None else self.output_padding[i]

    def _pads(self):
        """Keras's ``compute_conv_transpose_padding_args_for_jax``."""
        pads = []
        for i, (k, s, d) in enumerate(zip(self.kernel_size, self.strides, self.dilation_rate)):
            k = (k - 1) * d + 1
            op = self._out_pad(i)
            if self.padding == "valid":
                op = max(k, s) - k if op is None else op
                pads.append((k - 1, k - 1 + op))
            else:
                pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
                left = min(pad_len // 2 + pad_len % 2, k - 1)
                pads.append((left, pad_len - left))
        return pads

    def apply(self, params, state, x, *, training=False, key=None):
        y = conv_ops.conv_transpose(
            x, params["kernel"], self.strides, self._pads(), self.dilation_rate, self.data_format
        )
        return self._finish(params, y, state, training)

    def compute_output_shape(self, input_shape):
        spatial = []
        sizes = zip(self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate)
        for i, (n, k, s, d) in enumerate(sizes):
            k = (k - 1) * d + 1
            op = self._out_pad(i)
            if n is None:
                spatial.append(None)
            elif self.padding == "valid":
                spatial.append((n - 1) * s + k + (max(k, s) - k if op is None else op))
            else:
                spatial.append(n * s if op is None else (n - 1) * s + k % 2 + op)
        return self._assemble(input_shape, spatial, self.filters)


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution (upsampling a sequence).

    >>> from lamina.layers import Conv1DTranspose
    >>> Conv1DTranspose(4, 3, strides=2, padding="same").compute_output_shape((None, 5, 2))
    (None, 10, 4)
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"), e.g. to upsample feature maps.

    >>> import jax, numpy as np
    >>> from lamina.layers import Conv2DTranspose
    >>> layer = Conv2DTranspose(3, 3, strides=2, padding="same")
    >>> params, state = layer.init(jax.random.key(0), (None, 4, 4, 2))
    >>> tuple(params["kernel"].shape)
    (3, 3, 3, 2)
    >>> y, _ = layer.apply(params, state, np.ones((1, 4, 4, 2), "float32"))
    >>> tuple(y.shape)
    (1, 8, 8, 3)
    """

    rank = 2
