"""Shape layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D, RepeatVector,
Permute."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.arg_checks import check_int, check_int_items, int_items, is_int, shown
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.conv_utils import normalize_data_format, normalize_tuple


def _pair(value, name, layer) -> tuple[int, int]:
    if is_int(value):
        return (int(value), int(value))
    items = int_items(value)
    if items is None or len(items) != 2:
        raise ValueError(
            f"{layer}({name}=...) must be an int or a pair of ints. Received: "
            f"{name}={shown(value)}."
        )
    return items


def _pairs(value, name, layer, n=2) -> tuple[tuple[int, int], ...]:
    """``1 -> ((1, 1),) * n``; ``(1, 2) -> ((1, 1), (2, 2))``; pairs stay (``n`` spatial axes)."""
    if is_int(value):
        return ((int(value), int(value)),) * n
    if isinstance(value, str | bytes | dict | set) or not hasattr(value, "__len__"):
        value = (value,)  # reported by the length check below
    value = tuple(value)
    if len(value) != n:
        raise ValueError(
            f"{layer}({name}=...) must be an int, {n} ints or {n} pairs. Received: "
            f"{name}={shown(value)}."
        )
    return tuple(_pair(v, name, layer) for v in value)


def _non_negative(pairs, name, layer):
    flat = [v for p in pairs for v in (p if isinstance(p, tuple) else (p,))]
    if any(v < 0 for v in flat):
        raise ValueError(f"{layer}({name}=...) cannot be negative. Received: {name}={pairs}.")
    return pairs


def _add(n, delta):
    return None if n is None else n + delta


class _Spatial(Layer):
    """A layer acting on the ``rank`` spatial axes of ``channels_last``/``channels_first`` data
    (images for ``rank = 2``, volumes for ``rank = 3``)."""

    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)

    def expected_rank(self):
        return (self.rank + 2,)

    def _axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))


@derived_config
class ZeroPadding1D(Layer):
    """Pads the steps axis with zeros: ``padding`` is an int or ``(left, right)``.

    >>> from lamina.layers import ZeroPadding1D
    >>> ZeroPadding1D((1, 2)).compute_output_shape((None, 5, 3))
    (None, 8, 3)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _non_negative(_pair(padding, "padding", "ZeroPadding1D"), "padding",
                                     "ZeroPadding1D")  # fmt: skip
        self.data_format = normalize_data_format(data_format, "ZeroPadding1D")

    def expected_rank(self):
        return (3,)

    def _axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def apply(self, params, state, x, *, training=False, key=None):
        pads = [(0, 0)] * 3
        pads[self._axis()] = self.padding
        return jnp.pad(x, pads), state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis()] = _add(shape[self._axis()], sum(self.padding))
        return tuple(shape)


@derived_config
class _ZeroPadding(_Spatial):
    """Zero padding of the ``rank`` spatial axes (ZeroPadding2D/3D)."""

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        cls = type(self).__name__
        self.padding = _non_negative(_pairs(padding, "padding", cls, self.rank), "padding", cls)

    def apply(self, params, state, x, *, training=False, key=None):
        pads = [(0, 0)] * x.ndim
        for axis, p in zip(self._axes(), self.padding):
            pads[axis] = p
        return jnp.pad(x, pads), state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, p in zip(self._axes(), self.padding):
            shape[axis] = _add(shape[axis], sum(p))
        return tuple(shape)


class ZeroPadding2D(_ZeroPadding):
    """Pads rows and columns of images with zeros.

    ``padding``: an int, ``(rows, cols)`` or ``((top, bottom), (left, right))``.

    >>> from lamina.layers import ZeroPadding2D
    >>> ZeroPadding2D(((1, 0), (2, 2))).compute_output_shape((None, 4, 4, 3))
    (None, 5, 8, 3)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@derived_config
class Cropping1D(Layer):
    """Removes ``(start, end)`` steps from the steps axis.

    >>> from lamina.layers import Cropping1D
    >>> Cropping1D((1, 2)).compute_output_shape((None, 10, 3))
    (None, 7, 3)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _non_negative(_pair(cropping, "cropping", "Cropping1D"), "cropping",
                                      "Cropping1D")  # fmt: skip

    def expected_rank(self):
        return (3,)

    def apply(self, params, state, x, *, training=False, key=None):
        start, end = self.cropping
        return x[:, start : x.shape[1] - end], state

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        if n is not None and n - sum(self.cropping) <= 0:
            raise ValueError(
                f"Layer {self.name!r} (Cropping1D): cropping {self.cropping} removes every step of "
                f"inputs of shape {tuple(input_shape)}."
            )
        return (input_shape[0], _add(n, -sum(self.cropping)), *input_shape[2:])


@derived_config
class _Cropping(_Spatial):
    """Cropping of the ``rank`` spatial axes (Cropping2D/3D)."""

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, "cropping", type(self).__name__, self.rank)
        if any(c < 0 for pair in self.cropping for c in pair):
            raise ValueError(f"`cropping` cannot be negative. Received: cropping={self.cropping}.")

    def apply(self, params, state, x, *, training=False, key=None):
        index = [slice(None)] * x.ndim
        for axis, (start, end) in zip(self._axes(), self.cropping):
            index[axis] = slice(start, x.shape[axis] - end)
        return x[tuple(index)], state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, c in zip(self._axes(), self.cropping):
            if shape[axis] is not None and shape[axis] - sum(c) <= 0:
                raise ValueError(
                    f"Layer {self.name!r} ({type(self).__name__}): cropping {self.cropping} "
                    f"removes every entry of a spatial axis of inputs of shape "
                    f"{tuple(input_shape)}. Values in `cropping` must be smaller than the "
                    "corresponding spatial dimension of the input."
                )
            shape[axis] = _add(shape[axis], -sum(c))
        return tuple(shape)


class Cropping2D(_Cropping):
    """Removes rows and columns at the borders of images.

    ``cropping``: an int, ``(rows, cols)`` or ``((top, bottom), (left, right))``.

    >>> from lamina.layers import Cropping2D
    >>> Cropping2D(((1, 1), (2, 0))).compute_output_shape((None, 6, 6, 3))
    (None, 4, 4, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@derived_config
class UpSampling1D(Layer):
    """Repeats each step ``size`` times.

    >>> import numpy as np
    >>> from lamina.layers import UpSampling1D
    >>> y, _ = UpSampling1D(2).apply({}, {}, np.array([[[1.0], [2.0]]], "float32"))
    >>> y[0, :, 0].tolist()
    [1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = check_int(size, "size", "UpSampling1D", minimum=1)

    def expected_rank(self):
        return (3,)

    def apply(self, params, state, x, *, training=False, key=None):
        return jnp.repeat(x, self.size, axis=1), state

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n * self.size, *input_shape[2:])


@derived_config
class UpSampling2D(_Spatial):
    """Repeats rows and columns ``size`` times (``interpolation='nearest'``) or resizes
    bilinearly (``interpolation='bilinear'``).

    >>> from lamina.layers import UpSampling2D
    >>> UpSampling2D((2, 3)).compute_output_shape((None, 4, 4, 1))
    (None, 8, 12, 1)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = _pair(size, "size", "UpSampling2D")
        if min(self.size) < 1:
            raise ValueError(
                f"UpSampling2D(size=...) must be made of integers >= 1. Received: size={size!r}."
            )
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D(interpolation=...) must be 'nearest' or 'bilinear'. "
                f"Received: {interpolation!r}."
            )

    def apply(self, params, state, x, *, training=False, key=None):
        if self.interpolation == "nearest":
            for axis, s in zip(self._axes(), self.size):
                x = jnp.repeat(x, s, axis=axis)
            return x, state
        shape = list(x.shape)
        for axis, s in zip(self._axes(), self.size):
            shape[axis] *= s
        return jax.image.resize(x, tuple(shape), method="bilinear", antialias=False), state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, s in zip(self._axes(), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * s
        return tuple(shape)


class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial axes of volumes with zeros.

    ``padding``: an int, 3 ints or 3 ``(before, after)`` pairs.

    >>> from lamina.layers import ZeroPadding3D
    >>> ZeroPadding3D((1, 0, 2)).compute_output_shape((None, 4, 4, 4, 3))
    (None, 6, 4, 8, 3)
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Removes entries at the borders of the three spatial axes of volumes.

    ``cropping``: an int, 3 ints or 3 ``(before, after)`` pairs.

    >>> from lamina.layers import Cropping3D
    >>> Cropping3D(((1, 1), (0, 2), 1)).compute_output_shape((None, 6, 6, 6, 3))
    (None, 4, 4, 4, 3)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@derived_config
class UpSampling3D(_Spatial):
    """Repeats each entry ``size`` times along depth, height and width.

    >>> from lamina.layers import UpSampling3D
    >>> UpSampling3D((1, 2, 3)).compute_output_shape((None, 2, 3, 4, 1))
    (None, 2, 6, 12, 1)
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = normalize_tuple(size, 3, "size", "UpSampling3D", 1)

    def apply(self, params, state, x, *, training=False, key=None):
        for axis, s in zip(self._axes(), self.size):
            x = jnp.repeat(x, s, axis=axis)
        return x, state

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, s in zip(self._axes(), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * s
        return tuple(shape)


@derived_config
class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features) -> (batch, n, features)``.

    >>> from lamina.layers import RepeatVector
    >>> RepeatVector(3).compute_output_shape((None, 8))
    (None, 3, 8)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector(n=...) must be a positive integer. Received: n={n!r}.")
        self.n = int(n)

    def expected_rank(self):
        return (2,)

    def apply(self, params, state, x, *, training=False, key=None):
        return jnp.repeat(x[:, None, :], self.n, axis=1), state

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])


@derived_config
class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1 (``(2, 1)`` swaps the two axes).

    >>> from lamina.layers import Permute
    >>> Permute((2, 1)).compute_output_shape((None, 10, 64))
    (None, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = check_int_items(dims, "dims", "Permute")
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Permute(dims=...) must be a permutation of 1..{len(self.dims)} (the batch axis "
                f"is not counted). Received: dims={self.dims}."
            )

    def expected_rank(self):
        return (len(self.dims) + 1,)

    def apply(self, params, state, x, *, training=False, key=None):
        return jnp.transpose(x, (0, *self.dims)), state

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))
