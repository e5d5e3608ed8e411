"""Pooling layers: Max/AveragePooling1D/2D/3D and GlobalMax/GlobalAveragePooling1D/2D/3D.

Windowed pooling is one ``jax.lax.reduce_window``.  Max pooling over up to ``MAX_TAPS`` window
positions is differentiated as a running max over strided slices of the input (one per window
position): XLA's CPU backend differentiates ``reduce_window`` max into a ``select_and_scatter``
that was measured 3-4x slower than the gradient of the slices form (``mnist_cnn``'s 2x2 pool
over 128x24x24x64, 2 cores), while as a forward pass (predict) the slices form was up to 6x
slower than ``reduce_window``, so the value stays ``reduce_window``'s (a ``jax.custom_jvp``).
The running max keeps the first maximal entry of a window, so the gradient goes where
``reduce_window``'s does.  With ``padding='same'``
the average divides by the number of real (non-padding) entries in each window, as Keras does.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp

from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.conv_utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)

#: Largest number of window positions whose max-pool gradient is taken over strided slices.
MAX_TAPS = 16


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _global_max(axes, keepdims, x):
    """``jnp.max(x, axes)`` with JAX's own derivative (ties share the tangent equally) written
    as one mask: inside ``lax.scan`` on XLA's CPU backend its gradient ran 1.6x faster than
    ``jnp.max``'s (``imdb_cnn``'s pool over 32x398x250, 2 shared cores), same numbers."""
    return jnp.max(x, axis=axes, keepdims=keepdims)


@_global_max.defjvp
def _global_max_jvp(axes, keepdims, primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.max(x, axis=axes, keepdims=True)
    hit = x == y
    count = jnp.sum(hit, axis=axes, keepdims=keepdims, dtype=x.dtype)
    ty = jnp.sum(jnp.where(hit, t, 0), axis=axes, keepdims=keepdims) / count
    return (y if keepdims else jnp.squeeze(y, axes)), ty


def _max_taps(x, tx, window, strides, pads):
    """Max pooling and its tangent as a running max over one strided slice per window position.

    A later entry replaces the kept one only if larger (or NaN), so the tangent follows the
    first maximal entry of each window, as ``select_and_scatter`` (XLA's gradient) does.
    """
    neg = jnp.asarray(-jnp.inf, x.dtype)
    x = jax.lax.pad(x, neg, [(lo, hi, 0) for lo, hi in pads])
    tx = jax.lax.pad(tx, jnp.zeros((), tx.dtype), [(lo, hi, 0) for lo, hi in pads])
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape, window, strides)]
    y = t = None
    for tap in itertools.product(*(range(k) for k in window)):
        limit = [b + (o - 1) * s + 1 for b, o, s in zip(tap, out, strides)]
        w = jax.lax.slice(x, tap, limit, strides)
        tw = jax.lax.slice(tx, tap, limit, strides)
        if y is None:
            y, t = w, tw
            continue
        take = (w > y) | jnp.isnan(w)
        y, t = jnp.where(take, w, y), jnp.where(take, tw, t)
    return y, t


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _max_pool(x, window, strides, pads):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, pads)


@_max_pool.defjvp
def _max_pool_jvp(window, strides, pads, primals, tangents):
    # The value is ``reduce_window`` (fastest forward: predict); under differentiation the
    # taps form, whose transpose is slices and selects instead of ``select_and_scatter``.
    return _max_taps(primals[0], tangents[0], window, strides, pads)


def max_pool(x, window, strides, padding):
    """``reduce_window`` max with the gradient of :func:`_max_taps` (windows up to ``MAX_TAPS``).

    >>> import numpy as np
    >>> max_pool(np.arange(4.0).reshape(1, 4, 1), (1, 2, 1), (1, 2, 1), "VALID")[0, :, 0].tolist()
    [1.0, 3.0]
    """
    if math.prod(window) > MAX_TAPS:
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, padding)
    if isinstance(padding, str):
        padding = jax.lax.padtype_to_pads(x.shape, window, strides, padding)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return _max_pool(x, tuple(window), tuple(strides), pads)


@derived_config
class _Pooling(Layer):
    rank = 2
    _op = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", cls, 1)
        self.strides = (
            self.pool_size
            if strides is None
            else normalize_tuple(strides, self.rank, "strides", cls, 1)
        )
        self.padding = normalize_padding(padding, ("valid", "same"), cls)
        self.data_format = normalize_data_format(data_format, cls)

    def expected_rank(self):
        return (self.rank + 2,)

    def _window(self, values):
        if self.data_format == "channels_first":
            return (1, 1, *values)
        return (1, *values, 1)

    def apply(self, params, state, x, *, training=False, key=None):
        window, strides, padding = (
            self._window(self.pool_size),
            self._window(self.strides),
            self.padding.upper(),
        )
        if self._op == "max":
            return max_pool(x, window, strides, padding), state
        total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, padding)
        if self.padding == "valid":
            return total / float(math.prod(self.pool_size)), state
        ones = jnp.ones((1, *x.shape[1:]), x.dtype)
        counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, padding)
        return total / counts, state

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        first = self.data_format == "channels_first"
        spatial = input_shape[2:] if first else input_shape[1:-1]
        out = [
            conv_output_length(n, k, self.padding, s)
            for n, k, s in zip(spatial, self.pool_size, self.strides)
        ]
        if first:
            return (input_shape[0], input_shape[1], *out)
        return (input_shape[0], *out, input_shape[-1])


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of ``(batch, steps, channels)``.

    >>> import numpy as np
    >>> from lamina.layers import MaxPooling1D
    >>> y, _ = MaxPooling1D(2).apply({}, {}, np.arange(6, dtype="float32").reshape(1, 6, 1))
    >>> y[0, :, 0].tolist()
    [1.0, 3.0, 5.0]
    """

    rank = 1


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of images; ``strides`` defaults to ``pool_size``.

    >>> from lamina.layers import MaxPooling2D
    >>> MaxPooling2D((2, 2)).compute_output_shape((None, 7, 7, 3))
    (None, 3, 3, 3)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps.

    >>> import numpy as np
    >>> from lamina.layers import AveragePooling1D
    >>> y, _ = AveragePooling1D(2).apply({}, {}, np.arange(4, dtype="float32").reshape(1, 4, 1))
    >>> y[0, :, 0].tolist()
    [0.5, 2.5]
    """

    rank = 1
    _op = "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of images.

    >>> from lamina.layers import AveragePooling2D
    >>> AveragePooling2D(2, padding="same").compute_output_shape((None, 5, 5, 1))
    (None, 3, 3, 1)
    """

    _op = "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """Max over ``pool_size`` windows of volumes ``(batch, depth, height, width, channels)``.

    >>> from lamina.layers import MaxPooling3D
    >>> MaxPooling3D().compute_output_shape((None, 4, 5, 6, 3))
    (None, 2, 2, 3, 3)
    """

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):  # fmt: skip
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling):
    """Mean over ``pool_size`` windows of volumes.

    >>> from lamina.layers import AveragePooling3D
    >>> AveragePooling3D(2, padding="same").compute_output_shape((None, 3, 4, 5, 1))
    (None, 2, 2, 3, 1)
    """

    rank = 3
    _op = "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@derived_config
class _GlobalPooling(Layer):
    rank = 2
    _op = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def expected_rank(self):
        return (self.rank + 2,)

    def _axes(self):
        if self.data_format == "channels_first":
            return tuple(range(2, self.rank + 2))
        return tuple(range(1, self.rank + 1))

    def apply(self, params, state, x, *, training=False, key=None):
        if self._op == "max":
            return _global_max(self._axes(), self.keepdims, x), state
        return jnp.mean(x, axis=self._axes(), keepdims=self.keepdims), state

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps axis: ``(batch, steps, channels) -> (batch, channels)``.

    >>> from lamina.layers import GlobalMaxPooling1D
    >>> GlobalMaxPooling1D().compute_output_shape((None, 5, 3))
    (None, 3)
    """

    rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: ``(batch, h, w, channels) -> (batch, channels)``.

    >>> from lamina.layers import GlobalMaxPooling2D
    >>> GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, 5, 5, 3))
    (None, 1, 1, 3)
    """


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps axis.

    >>> import numpy as np
    >>> from lamina.layers import GlobalAveragePooling1D
    >>> y, _ = GlobalAveragePooling1D().apply({}, {}, np.ones((2, 4, 3), "float32"))
    >>> tuple(y.shape)
    (2, 3)
    """

    rank = 1
    _op = "avg"
    # Keras 3 averages over the unmasked steps only (e.g. after Embedding(mask_zero=True)).
    uses_mask = True

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        if mask is None:
            return super().apply(params, state, x, training=training, key=key)
        steps_axis = 1 if self.data_format == "channels_last" else 2
        m = jnp.expand_dims(mask.astype(x.dtype), 2 if steps_axis == 1 else 1)
        total = jnp.sum(x * m, axis=steps_axis, keepdims=self.keepdims)
        return total / jnp.sum(m, axis=steps_axis, keepdims=self.keepdims), state

    def compute_mask(self, x, mask):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width, the usual head of a convolutional classifier.

    >>> from lamina.layers import GlobalAveragePooling2D
    >>> GlobalAveragePooling2D().compute_output_shape((None, 7, 7, 16))
    (None, 16)
    """

    _op = "avg"


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over depth, height and width: ``(batch, d, h, w, channels) -> (batch, channels)``.

    >>> from lamina.layers import GlobalMaxPooling3D
    >>> GlobalMaxPooling3D().compute_output_shape((None, 3, 4, 5, 2))
    (None, 2)
    """

    rank = 3


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width.

    >>> from lamina.layers import GlobalAveragePooling3D
    >>> GlobalAveragePooling3D(keepdims=True).compute_output_shape((None, 3, 4, 5, 2))
    (None, 1, 1, 1, 2)
    """

    rank = 3
    _op = "avg"
