"""Keras 2's locally-connected layers: ``LocallyConnected1D`` and ``LocallyConnected2D``.

A locally-connected layer is a convolution whose weights are not shared: every output
position has its own filters.  Keras 3 dropped the layers; Lamina keeps Keras 2's (tf.keras
2.x, ``keras.layers.local``) arguments, config, weight names, weight shapes and maths, so a
Keras 2 model's weights load with ``set_weights`` unchanged.  ``implementation`` chooses one of
Keras 2's three weight layouts (the outputs are the same function of the inputs):

* ``1``: ``kernel`` ``(outputs, prod(kernel_size) * channels, filters)``, one matrix per output
  position (``outputs = output_length``, or ``output_row * output_col``); ``'valid'`` padding
  only, as in Keras 2;
* ``2``: a dense ``kernel`` ``(*input_spatial, channels, *output_spatial, filters)``
  (``channels_first``: ``(channels, *input_spatial, filters, *output_spatial)``), masked to the
  connected pairs;
* ``3``: a 1-D ``kernel`` holding one value per connected ``(output, input)`` pair, in Keras
  2's sorted order.

``bias`` is ``(*output_spatial, filters)`` in all three.  With ``channels_first``, Keras 2 added
the bias reshaped (not transposed) to ``(filters, *output_spatial)``; Lamina does the same, so
the outputs stay equal for the same weights.

>>> import numpy as np
>>> from lamina.layers import LocallyConnected1D
>>> layer = LocallyConnected1D(4, 3)
>>> y = layer(np.ones((2, 10, 5), "float32"))
>>> tuple(y.shape), [tuple(w.shape) for w in layer.get_weights()]
((2, 8, 4), [(8, 15, 4), (8, 4)])
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import local_connectivity as _conn
from lamina.layers.arg_checks import is_int, shown
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.conv_utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from lamina.layers.weight_specs import WeightSpec


def _kernel_shape(layer, input_shape):
    spatial, channels = layer._geometry(input_shape)
    out = _conn.output_spatial(spatial, layer.kernel_size, layer.strides, layer.padding)
    if layer.implementation == 1:
        return (math.prod(out), math.prod(layer.kernel_size) * channels, layer.filters)
    if layer.implementation == 2:
        if layer.data_format == "channels_first":
            return (channels, *spatial, layer.filters, *out)
        return (*spatial, channels, *out, layer.filters)
    outs, _ = _conn.spatial_pairs(spatial, layer.kernel_size, layer.strides, layer.padding)
    return (len(outs) * channels * layer.filters,)


def _bias_shape(layer, input_shape):
    spatial, _ = layer._geometry(input_shape)
    out = _conn.output_spatial(spatial, layer.kernel_size, layer.strides, layer.padding)
    return (*out, layer.filters)


@derived_config(extra=("activity_regularizer",))
class _LocallyConnected(Layer):
    """The shared machinery of ``LocallyConnected1D``/``2D`` (``rank`` spatial axes)."""

    rank = 1
    weight_specs = (
        WeightSpec("kernel", _kernel_shape),
        WeightSpec("bias", _bias_shape, when="use_bias"),
    )

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, implementation=1,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not is_int(filters) or filters < 1:
            raise ValueError(
                f"{cls}(filters=...) must be a positive integer, the number of output filters. "
                f"Received: filters={shown(filters)}."
            )
        if not is_int(implementation) or implementation not in (1, 2, 3):
            raise ValueError(
                f"{cls}(implementation=...) must be 1, 2 or 3 (Keras 2's weight layouts). "
                f"Received: implementation={shown(implementation)}."
            )
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", cls, 1)
        self.strides = normalize_tuple(strides, self.rank, "strides", cls, 1)
        if min(self.kernel_size) < 1 or min(self.strides) < 1:
            raise ValueError(
                f"{cls}: kernel_size and strides must be positive. Received: "
                f"kernel_size={self.kernel_size}, strides={self.strides}."
            )
        self.padding = normalize_padding(padding, ("valid", "same"), cls)
        self.implementation = int(implementation)
        if self.padding != "valid" and self.implementation == 1:
            raise ValueError(
                f"{cls}(padding='same') needs implementation=2 or 3: implementation=1 supports "
                f"only padding='valid', as in Keras 2. Received: padding={padding!r}, "
                "implementation=1."
            )
        self.data_format = normalize_data_format(data_format, cls)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    def expected_rank(self):
        return (self.rank + 2,)

    def _geometry(self, input_shape):
        """``(spatial, channels)`` of inputs of ``input_shape``; all must be known."""
        shape = tuple(input_shape)
        if self.data_format == "channels_first":
            spatial, channels = shape[2:], shape[1]
        else:
            spatial, channels = shape[1:-1], shape[-1]
        if channels is None or any(n is None for n in spatial):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) needs inputs whose spatial and "
                f"channel dimensions are known (its weights depend on them); received input "
                f"shape {shape}. Give the model an Input with a fixed shape."
            )
        out = _conn.output_spatial(spatial, self.kernel_size, self.strides, self.padding)
        if min(out) <= 0:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}): inputs of shape {shape} are "
                f"smaller than the kernel_size {self.kernel_size}, which gives an output of "
                f"spatial shape {out}. Use larger inputs or a smaller kernel_size."
            )
        return tuple(int(n) for n in spatial), int(channels)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        spatial = shape[2:] if self.data_format == "channels_first" else shape[1:-1]
        out = [
            None if n is None else conv_output_length(n, k, self.padding, s)
            for n, k, s in zip(spatial, self.kernel_size, self.strides)
        ]
        if self.data_format == "channels_first":
            return (shape[0], self.filters, *out)
        return (shape[0], *out, self.filters)

    def apply(self, params, state, x, *, training=False, key=None):
        spatial, channels = self._geometry(x.shape)
        out = _conn.output_spatial(spatial, self.kernel_size, self.strides, self.padding)
        kernel = params["kernel"]
        flat = jnp.reshape(x, (x.shape[0], -1)).astype(kernel.dtype)
        if self.implementation == 1:
            idx = _conn.patch_indices(
                spatial, channels, self.kernel_size, self.strides, self.data_format
            )
            y = jnp.einsum("bpk,pkf->bpf", flat[:, idx], kernel)  # (batch, outputs, filters)
            y = jnp.reshape(y, (x.shape[0], *out, self.filters))
            if self.data_format == "channels_first":
                y = jnp.moveaxis(y, -1, 1)
        elif self.implementation == 2:
            mask = _conn.connection_mask(spatial, self.kernel_size, self.strides, self.padding)
            if self.data_format == "channels_first":
                mask = mask.reshape(1, *spatial, 1, *out)
            else:
                mask = mask.reshape(*spatial, 1, *out, 1)
            y = jnp.tensordot(x.astype(kernel.dtype), kernel * mask, axes=self.rank + 1)
        else:
            outs, ins = _conn.sparse_indices(
                spatial, channels, self.filters, self.kernel_size, self.strides, self.padding,
                self.data_format,
            )  # fmt: skip
            size = math.prod(out) * self.filters
            y = jnp.zeros((x.shape[0], size), kernel.dtype)
            y = y.at[:, outs].add(flat[:, ins] * kernel[None])  # the sparse matrix product
            layout = (self.filters, *out) if self.data_format == "channels_first" else (
                *out, self.filters)  # fmt: skip
            y = jnp.reshape(y, (x.shape[0], *layout))
        if self.use_bias:
            bias = params["bias"]
            if self.data_format == "channels_first":
                # Keras 2's ``K.bias_add`` reshapes (does not transpose) the bias here.
                bias = jnp.reshape(bias, (self.filters, *out))
            y = y + bias[None]
        return self.activation(y), state


class LocallyConnected1D(_LocallyConnected):
    """Keras 2's unshared-weight 1-D convolution over ``(batch, steps, channels)``.

    Args:
        filters: the number of output filters.
        kernel_size: an int or a tuple of 1 int, the window length.
        strides: an int or a tuple of 1 int.
        padding: ``'valid'``, or ``'same'`` with ``implementation=2`` or ``3`` (as Keras 2).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in ``Conv1D``.
        implementation: 1, 2 or 3, Keras 2's weight layout (see the module docstring).

    >>> import jax, numpy as np
    >>> from lamina.layers import LocallyConnected1D
    >>> layer = LocallyConnected1D(64, 3)
    >>> params, _ = layer.init(jax.random.key(0), (None, 10, 32))
    >>> tuple(params["kernel"].shape), layer.compute_output_shape((None, 10, 32))
    ((8, 96, 64), (None, 8, 64))
    """

    rank = 1


class LocallyConnected2D(_LocallyConnected):
    """Keras 2's unshared-weight 2-D convolution over images ``(batch, rows, cols, channels)``.

    Args:
        filters: the number of output filters.
        kernel_size: an int or a tuple of 2 ints, the window's height and width.
        strides: an int or a tuple of 2 ints.
        padding: ``'valid'``, or ``'same'`` with ``implementation=2`` or ``3`` (as Keras 2).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in ``Conv2D``.
        implementation: 1, 2 or 3, Keras 2's weight layout (see the module docstring).

    >>> import jax
    >>> from lamina.layers import LocallyConnected2D
    >>> layer = LocallyConnected2D(64, (3, 3))
    >>> params, _ = layer.init(jax.random.key(0), (None, 32, 32, 3))
    >>> tuple(params["kernel"].shape), tuple(params["bias"].shape)
    ((900, 27, 64), (30, 30, 64))
    """

    rank = 2


__all__ = ["LocallyConnected1D", "LocallyConnected2D"]
