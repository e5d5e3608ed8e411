"""Convolution layers: Conv1D/2D, Conv1D/2DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Every layer runs one ``jax.lax`` convolution.  Weight names, shapes and order are Keras 3's
(``kernel`` ``(*kernel_size, in // groups, filters)``, then ``bias``), so weights exchange with a
Keras model through ``get_weights``/``set_weights`` unchanged.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina._unsupported import layer_module_getattr as _layer_module_getattr
from lamina.layers import conv_ops
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.weight_specs import WeightSpec


def normalize_tuple(value, n: int, name: str, layer: str) -> tuple[int, ...]:
    """``3 -> (3, 3)``; checks a tuple's length.  Shared with pooling and reshaping."""
    if isinstance(value, int):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(
            f"{layer}({name}=...) must be an int or a tuple of {n} ints. Received: {value}."
        )
    return value


def normalize_data_format(data_format, layer: str) -> str:
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}(data_format=...) must be 'channels_last' or 'channels_first'. "
            f"Received: {data_format!r}."
        )
    return data_format


def normalize_padding(padding, allowed, layer: str) -> str:
    padding = str(padding).lower()
    if padding not in allowed:
        raise ValueError(f"{layer}(padding=...) must be one of {allowed}. Received: {padding!r}.")
    return padding


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """Keras's output length of a convolution or pooling along one axis (``None`` stays)."""
    if length is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return (length + stride - 1) // stride
    return (length - kernel + stride) // stride


class _Conv(Layer):
    """Shared machinery: spatial rank, data format, activation, bias and the weight options.

    Each subclass declares its ``weight_specs``; the constructor accepts each weight's
    ``<option>_initializer``/``_regularizer``/``_constraint`` keywords (``bias_*`` included).
    """

    rank = 2
    _paddings = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, **kwargs):  # fmt: skip
        options = {}
        for prefix in (spec.prefix for spec in self.weight_specs):
            default = "zeros" if prefix == "bias" else "glorot_uniform"
            init = kwargs.pop(f"{prefix}_initializer", default)
            reg = kwargs.pop(f"{prefix}_regularizer", None)
            cons = kwargs.pop(f"{prefix}_constraint", None)
            options[prefix] = (init, reg, cons)
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", cls)
        self.strides = normalize_tuple(strides, self.rank, "strides", cls)
        self.padding = normalize_padding(padding, self._paddings, cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", cls)
        if any(s > 1 for s in self.strides) and any(d > 1 for d in self.dilation_rate):
            raise ValueError(
                f"{cls}: strides > 1 is not supported together with dilation_rate > 1."
            )
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        for prefix, (init, reg, cons) in options.items():
            setattr(self, f"{prefix}_initializer", _initializers.get(init))
            setattr(self, f"{prefix}_regularizer", _regularizers.get(reg))
            setattr(self, f"{prefix}_constraint", _constraints.get(cons))

    def expected_rank(self):
        return (self.rank + 2,)

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _spatial(self, shape):
        shape = tuple(shape)
        return shape[2:] if self.data_format == "channels_first" else shape[1:-1]

    def _in_channels(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) needs a known number of input "
                f"channels; received input shape {tuple(input_shape)}."
            )
        return int(channels)

    def _assemble(self, input_shape, spatial, channels):
        if self.data_format == "channels_first":
            return (input_shape[0], channels, *spatial)
        return (input_shape[0], *spatial, channels)

    def _bias_shape(self, input_shape):
        return (self._out_channels(input_shape),)

    def _finish(self, params, y):
        if self.use_bias:
            shape = [1] * y.ndim
            shape[self._channel_axis()] = -1
            y = y + jnp.reshape(params["bias"], tuple(shape))
        return self.activation(y)

    def _conv(self, x, kernel, strides, padding, dilation, groups=1):
        return conv_ops.conv(x, kernel, strides, padding, dilation, groups, self.data_format)

    def compute_output_shape(self, input_shape):
        spatial = [
            conv_output_length(n, k, self.padding, s, d)
            for n, k, s, d in zip(
                self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate
            )
        ]
        return self._assemble(input_shape, spatial, self._out_channels(input_shape))


# Keras's convolution configs hold ``activity_regularizer`` even when it is None.
@derived_config(extra=("activity_regularizer",))
class _BaseConv(_Conv):
    """Conv1D/Conv2D: ``activation(conv(x, kernel) + bias)``."""

    weight_specs = (
        WeightSpec(
            "kernel",
            lambda layer, s: (
                *layer.kernel_size,
                layer._in_channels(s) // layer.groups,
                layer.filters,
            ),
        ),
        WeightSpec("bias", _Conv._bias_shape, when="use_bias"),
    )

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True, **kwargs):  # fmt: skip
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
        if filters is None or isinstance(filters, bool) or int(filters) < 1:
            raise ValueError(
                f"{type(self).__name__}(filters=...) must be a positive integer. "
                f"Received: filters={filters!r}."
            )
        self.filters = int(filters)
        self.groups = int(groups)
        if self.groups < 1 or self.filters % self.groups:
            raise ValueError(
                f"{type(self).__name__}: filters ({self.filters}) must be divisible "
                f"by groups ({self.groups})."
            )

    def _out_channels(self, input_shape):
        return self.filters

    def init(self, key, input_shape):
        in_ch = self._in_channels(input_shape)
        if in_ch % self.groups:
            raise ValueError(
                f"Layer {self.name!r}: input channels ({in_ch}) must be divisible "
                f"by groups ({self.groups})."
            )
        return super().init(key, input_shape)  # the declared weight_specs

    def apply(self, params, state, x, *, training=False, key=None):
        padding = self.padding.upper()
        if self.padding == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            padding = [(left, 0)]
        y = self._conv(x, params["kernel"], self.strides, padding, self.dilation_rate, self.groups)
        return self._finish(params, y), state


class Conv1D(_BaseConv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` may also be ``'causal'``.

    >>> import jax, numpy as np
    >>> from lamina.layers import Conv1D
    >>> layer = Conv1D(4, 3, padding="causal")
    >>> params, state = layer.init(jax.random.key(0), (None, 10, 2))
    >>> y, _ = layer.apply(params, state, np.ones((1, 10, 2), "float32"))
    >>> tuple(y.shape)
    (1, 10, 4)
    """

    rank = 1
    _paddings = ("valid", "same", "causal")


class Conv2D(_BaseConv):
    """2-D convolution over images ``(batch, height, width, channels)`` (or channels_first).

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a tuple of 2 ints.
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        groups: number of channel groups (feature_group_count).
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in ``Dense``.

    >>> import jax, numpy as np
    >>> from lamina.layers import Conv2D
    >>> layer = Conv2D(8, 3, strides=2, padding="same", activation="relu")
    >>> params, state = layer.init(jax.random.key(0), (None, 8, 8, 1))
    >>> [tuple(w.shape) for w in params.values()]
    [(3, 3, 1, 8), (8,)]
    >>> layer.compute_output_shape((None, 8, 8, 1))
    (None, 4, 4, 8)
    """

    rank = 2


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
            self.output_padding = normalize_tuple(output_padding, self.rank, "output_padding", cls)

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
        return self._finish(params, y), state

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
        return self._finish(params, self._depthwise(x, params)), state


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
        return self._finish(params, y), state


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


# Keras 2's keras.layers.convolutional re-exported more layers; scripts import them from here.
__getattr__ = _layer_module_getattr("convolutional")
