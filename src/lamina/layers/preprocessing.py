"""Preprocessing layers that live inside the model: Normalization (with ``adapt``) and Rescaling."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from lamina.layers import arg_checks as _checks
from lamina.layers.base import Layer

_EPSILON = 1e-7  # keras.backend.epsilon()


class Normalization(Layer):
    """Standardizes inputs feature-wise: ``(x - mean) / max(sqrt(variance), 1e-7)``.

    Either pass ``mean`` and ``variance`` (constants, no weights), or call :meth:`adapt` on
    data before building the model: the layer then holds Keras's non-trainable weights
    ``mean``, ``variance`` and ``count`` (in that order; ``count`` stays 0 as in Keras 3),
    computed in one streaming pass.

    Args:
        axis: the axis (or axes) that keep separate statistics; ``None`` for one scalar pair.
        mean, variance: optional constants, broadcast against the kept axes.
        invert: apply the inverse transformation, ``mean + x * sqrt(variance)``.

    >>> import numpy as np
    >>> from lamina.layers import Normalization
    >>> layer = Normalization()
    >>> layer.adapt(np.array([[0.0, 7.0], [2.0, 9.0]], "float32"))
    >>> params, state = layer.init(None, (None, 2))
    >>> y, _ = layer.apply(params, state, np.array([[0.0, 7.0]], "float32"))
    >>> y.tolist()
    [[-1.0, -1.0]]
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif _checks.is_int(axis):
            axis = (axis,)
        self.axis = _checks.check_int_items(
            axis, "axis", "Normalization", "an integer, a tuple of integers or None"
        )
        for arg, value in (("mean", mean), ("variance", variance)):
            if value is not None:  # checked now, not at the first call
                _checks.numeric_array(value, arg, "Normalization")
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: pass both mean= and variance=, or neither (and call adapt()). "
                f"Received: mean={mean!r}, variance={variance!r}."
            )
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(
                f"Normalization: mean and variance must have the same shape; received "
                f"{np.shape(mean)} and {np.shape(variance)}."
            )
        self.input_mean = mean
        self.input_variance = variance
        self.invert = _checks.check_bool(invert, "invert", "Normalization")
        self._adapted = None  # (input_shape, mean, variance, count) once adapt() ran

    # ------------------------------------------------------------------ shapes
    def _keep_axes(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Layer {self.name!r} (Normalization): axis={self.axis} is out of range for "
                f"inputs of shape {tuple(input_shape)}."
            )
        keep = tuple(sorted(a % ndim for a in self.axis))
        for d in keep:
            if input_shape[d] is None:
                raise ValueError(
                    f"Layer {self.name!r} (Normalization): axis {d} keeps statistics, so its size "
                    f"must be known; received input shape {tuple(input_shape)}."
                )
        return keep

    def _broadcast_shape(self, input_shape):
        keep = self._keep_axes(input_shape)
        return tuple(input_shape[d] if d in keep else 1 for d in range(len(input_shape)))

    # -------------------------------------------------------------- statistics
    @property
    def mean(self):
        """Keras's ``mean``: the statistics broadcast to the input's rank (``(1, features)``
        for rows of features), with ``.numpy()`` as in ``tf.keras``; from ``adapt``, the
        weights (once built or loaded) or the ``mean=`` argument.

        Raises:
            AttributeError: nothing has set the statistics yet (no ``adapt``, no ``mean=``).
        """
        return self._statistic("mean")

    @property
    def variance(self):
        """Keras's ``variance``, as :attr:`mean`."""
        return self._statistic("variance")

    def _statistic(self, which):
        from lamina.utils.dataset_utils import with_numpy

        input_shape = value = None
        if self._adapted is not None:
            input_shape = self._adapted[0]
            value = self._adapted[1 if which == "mean" else 2]
        try:
            _, state, _ = self._weights_source(build=False)
            value = state.get(which, value)
        except (ValueError, AttributeError, TypeError):
            pass
        if self.input_mean is not None:
            value = self.input_mean if which == "mean" else self.input_variance
        if value is None:
            raise AttributeError(
                f"Layer {self.name!r} (Normalization) has no {which} yet: call adapt(data) or "
                f"pass mean= and variance=."
            )
        value = np.asarray(value, np.float32)
        if input_shape is None:
            try:
                input_shape = self.input_shape
            except (AttributeError, ValueError):
                input_shape = None
        if isinstance(input_shape, tuple):
            bshape = self._broadcast_shape(input_shape)
            if int(np.prod(bshape)) == value.size:
                value = value.reshape(bshape)
        return with_numpy(value)

    # ------------------------------------------------------------------ adapt
    def adapt(self, data, batch_size: int = 1024) -> None:
        """Computes the mean and variance of ``data`` in one streaming pass.

        Args:
            data: a NumPy array (read in slices of ``batch_size`` rows) or an iterable of
                batches (arrays, or ``(x, y)`` tuples whose first element is used).
            batch_size: rows per slice when ``data`` is an array.

        Batches are merged with the parallel-variance formula (Chan et al.) in float64, so the
        result equals the variance of all the data at once.  Call it before the model is built
        (or build it again): the statistics become the layer's initial ``state``.
        """
        if (
            hasattr(data, "shape")
            and hasattr(data, "__getitem__")
            and not isinstance(data, list | tuple)
        ):
            arr = np.asarray(data)
            batches = (arr[i : i + batch_size] for i in range(0, max(len(arr), 1), batch_size))
            shape = arr.shape
        else:
            it = iter(data)
            first = next(it, None)
            if first is None:
                raise ValueError("Normalization.adapt() received no data (an empty iterable).")
            first = np.asarray(first[0] if isinstance(first, tuple) else first)
            shape = first.shape
            batches = _chain(first, it)
        keep = self._keep_axes(shape)
        reduce = tuple(d for d in range(len(shape)) if d not in keep)
        stat_shape = tuple(shape[d] for d in keep)
        count, mean, m2 = 0, np.zeros(stat_shape), np.zeros(stat_shape)
        for batch in batches:
            batch = np.asarray(batch, np.float64)
            if tuple(batch.shape[d] for d in keep) != stat_shape:
                raise ValueError(
                    f"Normalization.adapt(): a batch of shape {batch.shape} does not match the "
                    f"first batch's shape {shape} on the kept axes {keep}."
                )
            n = math.prod(batch.shape[d] for d in reduce) if reduce else 1
            if n == 0:
                continue
            b_mean = batch.mean(axis=reduce) if reduce else batch
            b_m2 = (
                ((batch - _expand(b_mean, batch.ndim, keep)) ** 2).sum(axis=reduce)
                if reduce
                else 0.0
            )
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + b_m2 + delta**2 * (count * n / total)
            count = total
        if count == 0:
            raise ValueError("Normalization.adapt() received no rows.")
        self._adapted = (
            tuple(shape),
            np.asarray(mean, np.float32),
            np.asarray(m2 / count, np.float32),
            np.asarray(0, np.int32),  # Keras keeps "count" at 0 (a legacy weight)
        )
        self._write_adapted()

    def _write_adapted(self):
        """Copies new statistics into weights that already exist (a layer called or built in
        a model before this ``adapt``), as Keras's ``adapt`` assigns its variables."""
        try:
            _, state, _ = self._weights_source()
        except (ValueError, AttributeError, TypeError):  # no weights yet: init reads _adapted
            if self._owner_model() is None:
                # Keras's adapt builds a standalone layer: ``norm.mean``, ``get_weights()``
                # and ``norm(x)`` then work before the layer joins a model.
                self._build_standalone((None, *self._adapted[0][1:]))
            return
        if "mean" not in state:
            return
        _, mean, variance, count = self._adapted
        if tuple(np.shape(state["mean"])) != mean.shape:
            raise ValueError(
                f"Layer {self.name!r} (Normalization) was built for statistics of shape "
                f"{tuple(np.shape(state['mean']))}; adapt() received data giving "
                f"{mean.shape}. Adapt on data with the same feature axes."
            )
        for key, value in (("mean", mean), ("variance", variance), ("count", count)):
            self._write_weight(key, False, value)

    # ------------------------------------------------------------------ pure core
    def init(self, key, input_shape):
        if self.input_mean is not None:
            self._check_constants(input_shape)  # validates the axes and the constants' shape
            return {}, {}
        keep = self._keep_axes(input_shape)
        stat_shape = tuple(input_shape[d] for d in keep)
        if self._adapted is not None:
            _, mean, variance, count = self._adapted
            if mean.shape != stat_shape:
                raise ValueError(
                    f"Layer {self.name!r} (Normalization) was adapted on data of shape "
                    f"{self._adapted[0]}, which does not match the model's input "
                    f"{tuple(input_shape)}."
                )
            return {}, {
                "mean": jnp.asarray(mean),
                "variance": jnp.asarray(variance),
                "count": jnp.asarray(count),
            }
        return {}, {
            "mean": jnp.zeros(stat_shape, jnp.float32),
            "variance": jnp.ones(stat_shape, jnp.float32),
            "count": jnp.zeros((), jnp.int32),
        }

    def _check_constants(self, input_shape):
        """Refuses ``mean=``/``variance=`` constants that cannot broadcast to the kept axes
        of ``input_shape`` (a config's 3 means for 4 features), when the layer is built."""
        bshape = self._broadcast_shape(input_shape)
        keep = self._keep_axes(input_shape)
        shape = np.shape(self.input_mean)
        ok = len(shape) <= len(keep)
        if ok and shape:
            expanded = [1] * len(input_shape)
            for i in range(1, len(shape) + 1):
                expanded[keep[-i]] = shape[-i]
            ok = all(e in (1, b) for e, b in zip(expanded, bshape))
        if not ok:
            raise ValueError(
                f"Layer {self.name!r} (Normalization): mean and variance of shape {shape} do "
                f"not fit inputs of shape {tuple(input_shape)} with axis={self.axis} (they "
                f"must broadcast to {tuple(bshape)})."
            )

    def _constants(self, ndim, bshape, keep):
        mean = np.asarray(self.input_mean, np.float32)
        variance = np.asarray(self.input_variance, np.float32)
        if mean.ndim:
            expanded = [1] * ndim
            for i in range(1, mean.ndim + 1):
                expanded[keep[-i]] = mean.shape[-i]
            mean, variance = mean.reshape(expanded), variance.reshape(expanded)
        else:
            mean, variance = mean.reshape((1,) * ndim), variance.reshape((1,) * ndim)
        return jnp.broadcast_to(mean, bshape), jnp.broadcast_to(variance, bshape)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        bshape = self._broadcast_shape(x.shape)
        if self.input_mean is not None:
            mean, variance = self._constants(x.ndim, bshape, self._keep_axes(x.shape))
        else:
            mean = jnp.reshape(state["mean"], bshape)
            variance = jnp.reshape(state["variance"], bshape)
        scale = jnp.maximum(jnp.sqrt(variance), _EPSILON)
        if self.invert:
            return mean + x * scale, state
        return (x - mean) / scale, state

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis,
            invert=self.invert,
            mean=None if self.input_mean is None else np.asarray(self.input_mean).tolist(),
            variance=None
            if self.input_variance is None
            else np.asarray(self.input_variance).tolist(),
        )
        return config


def _chain(first, rest):
    yield first
    for batch in rest:
        yield np.asarray(batch[0] if isinstance(batch, tuple) else batch)


def _expand(stat, ndim, keep):
    shape = [1] * ndim
    for d, n in zip(keep, np.shape(stat)):
        shape[d] = n
    return np.reshape(stat, shape)


class Rescaling(Layer):
    """Computes ``x * scale + offset``, e.g. ``Rescaling(1 / 255)`` for 8-bit images.

    ``scale``/``offset`` may be floats or arrays broadcast against the trailing axes.

    >>> import numpy as np
    >>> from lamina.layers import Rescaling
    >>> y, _ = Rescaling(1 / 127.5, offset=-1).apply({}, {}, np.array([[0.0, 255.0]], "float32"))
    >>> y.tolist()
    [[-1.0, 1.0]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        _checks.numeric_array(scale, "scale", "Rescaling")  # checked now, not at the first call
        _checks.numeric_array(offset, "offset", "Rescaling")
        self.scale = scale
        self.offset = offset

    @staticmethod
    def _aligned(value, ndim):
        v = jnp.asarray(value, jnp.float32)
        return jnp.reshape(v, (1,) * (ndim - v.ndim) + v.shape)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        return x * self._aligned(self.scale, x.ndim) + self._aligned(self.offset, x.ndim), state

    def get_config(self):
        config = super().get_config()
        scale = np.asarray(self.scale).tolist() if np.ndim(self.scale) else self.scale
        offset = np.asarray(self.offset).tolist() if np.ndim(self.offset) else self.offset
        config.update(scale=scale, offset=offset)
        return config
