"""Adaptive pooling: AdaptiveAverage/MaxPooling1D/2D/3D (as ``keras.layers``).

The output has a fixed spatial size ``output_size`` whatever the input's.  Output bin ``i``
of an axis of length ``n`` pools the inputs ``floor(i * n / out) .. ceil((i + 1) * n / out)``
(PyTorch's bins).  As Keras does, each axis is pooled in turn with the two window sizes a bin
can have, ``small = ceil(n / out)`` and ``small + 1``, at stride 1, and each bin gathers the
window starting at its first input; so the values are Keras's exactly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers.base import Layer
from lamina.layers.conv_utils import normalize_data_format


def _gather_indices(n: int, out: int, big: int) -> np.ndarray:
    """Keras's ``_compute_adaptive_pooling_gather_indices`` (host-side: shapes are static)."""
    starts = np.floor(np.arange(out) * n / out).astype(np.int32)
    ends = np.ceil(np.arange(1, out + 1) * n / out).astype(np.int32)
    small_len = n - (big - 1) + 1
    return np.where(ends - starts == big, starts + small_len, starts).astype(np.int32)


def _pool_axis(x, axis: int, out: int, op: str):
    """Adaptive pooling of ``x`` along one ``axis`` to ``out`` bins."""
    n = x.shape[axis]
    small = math.ceil(n / out)
    big = small + 1
    pooled = []
    for size in (small, big):
        window = [1] * x.ndim
        window[axis] = size
        if op == "max":
            p = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, (1,) * x.ndim, "VALID")
        else:
            p = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, (1,) * x.ndim, "VALID") / size
        pooled.append(p)
    combined = jnp.concatenate(pooled, axis=axis)
    return jnp.take(combined, jnp.asarray(_gather_indices(n, out, big)), axis=axis)


def adaptive_pool(x, output_size, data_format: str, op: str):
    """Adaptive ``"max"`` or ``"average"`` pooling of ``x`` to ``output_size`` (one per axis).

    >>> import numpy as np
    >>> x = np.arange(5.0, dtype="float32").reshape(1, 5, 1)
    >>> adaptive_pool(x, (3,), "channels_last", "average")[0, :, 0].tolist()
    [0.5, 2.0, 3.5]
    """
    first = 2 if data_format == "channels_first" else 1
    for i, out in enumerate(output_size):
        x = _pool_axis(x, first + i, int(out), op)
    return x


class _AdaptivePooling(Layer):
    rank = 1
    _op = "average"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if isinstance(output_size, bool) or not isinstance(output_size, int | tuple | list):
            raise TypeError(
                f"{cls}(output_size=...) must be an integer or a tuple of {self.rank} "
                f"integers. Received: {output_size!r} of type {type(output_size).__name__}."
            )
        if isinstance(output_size, int):
            output_size = (output_size,) * self.rank
        if len(output_size) != self.rank:
            raise ValueError(
                f"{cls}(output_size=...) must have {self.rank} entries (one per spatial axis). "
                f"Received: {output_size}."
            )
        self.output_size = tuple(int(s) for s in output_size)
        self.data_format = normalize_data_format(data_format, cls)

    def expected_rank(self):
        return (self.rank + 2,)

    def apply(self, params, state, x, *, training=False, key=None):
        return adaptive_pool(x, self.output_size, self.data_format, self._op), state

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.output_size, input_shape[-1])
        return (input_shape[0], input_shape[1], *self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update(output_size=self.output_size, data_format=self.data_format)
        return config


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Averages ``(batch, steps, channels)`` into ``output_size`` bins of steps.

    >>> from lamina.layers import AdaptiveAveragePooling1D
    >>> AdaptiveAveragePooling1D(4).compute_output_shape((None, 10, 3))
    (None, 4, 3)
    """

    rank = 1


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Averages images into an ``output_size = (height, width)`` grid of bins.

    >>> from lamina.layers import AdaptiveAveragePooling2D
    >>> AdaptiveAveragePooling2D((2, 3)).compute_output_shape((None, 7, 9, 4))
    (None, 2, 3, 4)
    """

    rank = 2


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Averages volumes into an ``output_size = (depth, height, width)`` grid of bins.

    >>> from lamina.layers import AdaptiveAveragePooling3D
    >>> AdaptiveAveragePooling3D(2, data_format="channels_first").compute_output_shape(
    ...     (None, 3, 5, 6, 7))
    (None, 3, 2, 2, 2)
    """

    rank = 3


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max of ``(batch, steps, channels)`` over ``output_size`` bins of steps.

    >>> import numpy as np
    >>> from lamina.layers import AdaptiveMaxPooling1D
    >>> y, _ = AdaptiveMaxPooling1D(2).apply({}, {}, np.arange(5.0, dtype="float32")[None, :, None])
    >>> y[0, :, 0].tolist()
    [2.0, 4.0]
    """

    rank = 1
    _op = "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max of images over an ``output_size = (height, width)`` grid of bins.

    >>> from lamina.layers import AdaptiveMaxPooling2D
    >>> AdaptiveMaxPooling2D(3).compute_output_shape((None, 8, 8, 2))
    (None, 3, 3, 2)
    """

    rank = 2
    _op = "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max of volumes over an ``output_size = (depth, height, width)`` grid of bins.

    >>> from lamina.layers import AdaptiveMaxPooling3D
    >>> AdaptiveMaxPooling3D((1, 2, 3)).compute_output_shape((None, 4, 4, 4, 2))
    (None, 1, 2, 3, 2)
    """

    rank = 3
    _op = "max"


__all__ = [
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
]
