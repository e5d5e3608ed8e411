"""Depthwise and separable convolutions: ``DepthwiseConv1D``/``DepthwiseConv2D`` and
``SeparableConv1D``/``SeparableConv2D`` (a depthwise convolution followed by a 1x1 one).

Weights as Keras 3's: ``kernel`` ``(*kernel_size, in, depth_multiplier)`` then ``bias`` for
the depthwise layers; ``depthwise_kernel``, ``pointwise_kernel`` then ``bias`` for the
separable ones.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.layers.config import derived_config
from lamina.layers.conv import _Conv
from lamina.layers.weight_specs import WeightSpec


def _depthwise_shape(layer, input_shape):
    return (*layer.kernel_size, layer._in_channels(input_shape), layer.depth_multiplier)


@derived_config(extra=("activity_regularizer",))
class _Depthwise(_Conv):
    """Depthwise convolution: each input channel convolved with ``depth_multiplier`` filters.

    Keras 3 names the depthwise weight ``kernel`` here (``depthwise_kernel`` in separable layers);
    its options are ``depthwise_initializer``/``_regularizer``/``_constraint``.
    """

    weight_specs = (
        WeightSpec("kernel", _depthwise_shape, option="depthwise"),
        WeightSpec("bias", _Conv._bias_shape, when="use_bias"),
    )

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 **kwargs):  # fmt: skip
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            **kwargs,
        )
        self.depth_multiplier = int(depth_multiplier)

    def _out_channels(self, input_shape):
        return self._in_channels(input_shape) * self.depth_multiplier

    def _depthwise(self, x, params):
        kernel = params[self.weight_specs[0].name]
        in_ch = kernel.shape[-2]
        kernel = jnp.reshape(kernel, (*self.kernel_size, 1, in_ch * self.depth_multiplier))
        return self._conv(x, kernel, self.strides, self.padding.upper(), self.dilation_rate, in_ch)

    def apply(self, params, state, x, *, training=False, key=None):
        return self._finish(params, self._depthwise(x, params), state, training)


class DepthwiseConv1D(_Depthwise):
    """1-D depthwise convolution; weights ``kernel`` ``(k, in, depth_multiplier)``, ``bias``.

    >>> from lamina.layers import DepthwiseConv1D
    >>> DepthwiseConv1D(3, depth_multiplier=2).compute_output_shape((None, 8, 3))
    (None, 6, 6)
    """

    rank = 1


class DepthwiseConv2D(_Depthwise):
    """2-D depthwise convolution; weights ``kernel`` ``(kh, kw, in, depth_multiplier)``, ``bias``.

    >>> import jax, numpy as np
    >>> from lamina.layers import DepthwiseConv2D
    >>> layer = DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    >>> params, state = layer.init(jax.random.key(0), (None, 5, 5, 3))
    >>> y, _ = layer.apply(params, state, np.ones((2, 5, 5, 3), "float32"))
    >>> tuple(y.shape)
    (2, 5, 5, 6)
    """

    rank = 2


@derived_config(extra=("activity_regularizer",))
class _Separable(_Depthwise):
    """Depthwise convolution followed by a 1x1 ("pointwise") convolution to ``filters``."""

    weight_specs = (
        WeightSpec("depthwise_kernel", _depthwise_shape, option="depthwise"),
        WeightSpec(
            "pointwise_kernel",
            lambda layer, s: (
                *(1,) * layer.rank,
                layer._in_channels(s) * layer.depth_multiplier,
                layer.filters,
            ),
            option="pointwise",
        ),
        WeightSpec("bias", _Conv._bias_shape, when="use_bias"),
    )

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 **kwargs):  # fmt: skip
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, **kwargs)  # fmt: skip
        self.filters = int(filters)

    def _out_channels(self, input_shape):
        return self.filters

    def apply(self, params, state, x, *, training=False, key=None):
        y = self._depthwise(x, params)
        one = (1,) * self.rank
        y = self._conv(y, params["pointwise_kernel"], one, "VALID", one)
        return self._finish(params, y, state, training)


class SeparableConv1D(_Separable):
    """1-D separable convolution: depthwise then pointwise.

    >>> from lamina.layers import SeparableConv1D
    >>> SeparableConv1D(4, 3, padding="same").compute_output_shape((None, 8, 3))
    (None, 8, 4)
    """

    rank = 1


class SeparableConv2D(_Separable):
    """2-D separable convolution; weights ``depthwise_kernel``, ``pointwise_kernel``, ``bias``.

    >>> import jax
    >>> from lamina.layers import SeparableConv2D
    >>> layer = SeparableConv2D(8, 3, depth_multiplier=2)
    >>> params, _ = layer.init(jax.random.key(0), (None, 6, 6, 3))
    >>> [(k, tuple(v.shape)) for k, v in params.items()]
    [('depthwise_kernel', (3, 3, 3, 2)), ('pointwise_kernel', (1, 1, 6, 8)), ('bias', (8,))]
    """

    rank = 2
