"""The convolution base classes and the plain convolutions ``Conv1D``/``Conv2D``.

``_Conv`` holds what every convolution layer shares (spatial rank, data format, activation,
bias and the ``<weight>_initializer``/``_regularizer``/``_constraint`` options);
``_BaseConv`` adds ``filters`` and ``groups``; ``_PlainConv`` (Keras's ``BaseConv``) adds
``convolution_op``, Keras's hook for customizing the convolution in a subclass.  Every layer
runs one ``jax.lax`` convolution (:mod:`lamina.layers.conv_ops`) unless a subclass overrides
``convolution_op``.
Weight names, shapes and order are Keras 3's (``kernel`` ``(*kernel_size, in // groups,
filters)``, then ``bias``), so weights exchange with a Keras model through
``get_weights``/``set_weights`` unchanged.  Transposed, depthwise and separable convolutions
build on these classes in :mod:`lamina.layers.conv_transpose` and
:mod:`lamina.layers.conv_depthwise`; ``Conv3D`` in :mod:`lamina.layers.conv3d`.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import conv_ops
from lamina.layers.activation_sublayer import activate
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.conv_utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from lamina.layers.lora import LoraMixin, lora_config, merged
from lamina.layers.weight_specs import WeightSpec
from lamina.ops._tensor import tensor


class _Conv(Layer):
    """Shared machinery: spatial rank, data format, activation, bias and the weight options.

    Each subclass declares its ``weight_specs``; the constructor accepts each weight's
    ``<option>_initializer``/``_regularizer``/``_constraint`` keywords (``bias_*`` included).
    """

    rank = 2
    _paddings = ("valid", "same")
    #: ``activation=PReLU()`` holds the layer's weights (:mod:`lamina.layers.activation_sublayer`).
    _activation_sublayer = True

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
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", cls, 1)
        self.strides = normalize_tuple(strides, self.rank, "strides", cls, 1)
        self.padding = normalize_padding(padding, self._paddings, cls)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", cls, 1)
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

    def _finish(self, params, y, state, training=False):
        """``(activation(y + bias), state)``; an activation layer's state comes back in it."""
        if self.use_bias:
            shape = [1] * y.ndim
            shape[self._channel_axis()] = -1
            y = y + jnp.reshape(params["bias"], tuple(shape))
        return activate(self, params, state, y, training=training)

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
    """Convolutions with ``filters`` (plain and transposed): ``activation(conv(x, kernel) + bias)``."""

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
        # Keras's Conv1D/2D/3D take LoRA's arguments; its other convolutions do not.
        lora = (
            [kwargs.pop(k, None) for k in ("lora_rank", "lora_alpha")]
            if isinstance(self, LoraMixin)
            else None
        )
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
        if lora is not None:
            self._lora_setup(*lora)

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


class _PlainConv(LoraMixin, _BaseConv):
    """Conv1D/2D/3D (Keras's ``BaseConv``): ``activation(convolution_op(x, kernel) + bias)``.

    ``convolution_op(inputs, kernel)`` is Keras's hook for customizing the convolution (the
    keras.io recipe standardizes the kernel first).  ``apply`` runs it only when a subclass
    overrides it: the built-in convolution keeps its own fast forms and is traced as before.
    """

    #: Whether ``apply`` runs an overriding ``convolution_op`` (Conv1D: not, as in Keras).
    _runs_convolution_op = True

    def convolution_op(self, inputs, kernel):
        """The layer's convolution of ``inputs`` with ``kernel``, before bias and activation.

        Keras's ``BaseConv.convolution_op``: ``ops.conv(inputs, kernel, strides, padding,
        dilation_rate, data_format)`` with the layer's settings, the groups read off the
        kernel's in-channels.  Override it in a subclass to change the convolution;
        ``super().convolution_op(inputs, kernel)`` reaches this one.  Inside the layer's
        ``apply``, ``kernel`` is the traced weight, so gradients flow through the override.

        Args:
            inputs: the layer's input, laid out per ``data_format``.
            kernel: ``(*kernel_size, in_channels // groups, filters)``.

        Returns:
            The convolution, laid out as ``inputs``.

        >>> import numpy as np
        >>> from lamina import layers
        >>> class Negated(layers.Conv2D):
        ...     def convolution_op(self, inputs, kernel):
        ...         return super().convolution_op(inputs, -kernel)
        >>> x = np.random.rand(1, 5, 5, 2).astype("float32")
        >>> layer = Negated(3, 3, use_bias=False)
        >>> y = layer(x)  # runs the override
        >>> base = layers.Conv2D.convolution_op(layer, x, layer.kernel)
        >>> bool(np.allclose(y, -base, atol=1e-5))
        True
        """
        kernel = jnp.asarray(tensor(kernel))
        inputs = jnp.asarray(tensor(inputs)).astype(kernel.dtype)
        rank = self.rank + 2
        channels = inputs.shape[self._channel_axis()] if inputs.ndim == rank else 0
        y = None
        if (
            self.padding in ("valid", "same")
            and inputs.ndim == kernel.ndim == rank
            and channels % kernel.shape[-2] == 0
        ):
            # The layers' convolution (its matrix-product gradient is the fast one inside
            # ``fit``'s scan), equal in value to ``ops.conv``.
            groups = channels // kernel.shape[-2]
            y = self._conv(
                inputs, kernel, self.strides, self.padding.upper(), self.dilation_rate, groups
            )
        if y is None or (y.size == 0 and inputs.size != 0):
            from lamina import ops

            # Anything else is ``ops.conv``'s to compute or refuse, with Keras's messages.
            return ops.conv(
                inputs,
                kernel,
                strides=list(self.strides),
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
        return y

    def _overrides_convolution_op(self) -> bool:
        return (
            self._runs_convolution_op and type(self).convolution_op is not _PlainConv.convolution_op
        )

    def init(self, key, input_shape):
        return self._lora_layout(*super().init(key, input_shape))

    def get_config(self):
        return lora_config(self, self._derived_config())  # Keras adds LoRA's keys when set

    def apply(self, params, state, x, *, training=False, key=None):
        params = merged(self, params, state)
        if self._overrides_convolution_op():
            y = self.convolution_op(x, params["kernel"])
            return self._finish(params, jnp.asarray(tensor(y)), state, training)
        padding = self.padding.upper()
        if self.padding == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            padding = [(left, 0)]
        y = self._conv(x, params["kernel"], self.strides, padding, self.dilation_rate, self.groups)
        return self._finish(params, y, state, training)

    def _spec_key(self) -> tuple:
        key = super()._spec_key()
        if self._overrides_convolution_op():
            # The user's convolution may read attributes the config leaves out: this layer only.
            key = (*key, "convolution_op", id(self))
        return key


class Conv1D(_PlainConv):
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
    # Keras 3's Conv1D.call (it pads for "causal" itself) calls ops.conv, not
    # convolution_op: an override there changes nothing, in Keras as here.
    _runs_convolution_op = False


class Conv2D(_PlainConv):
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
