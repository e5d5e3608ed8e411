"""GroupNormalization, UnitNormalization and RMSNormalization (as ``keras.layers``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers.base import Layer
from lamina.layers.einsum_dense import _ser


class GroupNormalization(Layer):
    """Normalizes each group of channels of each sample (Wu & He, 2018), as Keras.

    Args:
        groups: number of groups the ``axis`` dimension is split into; ``-1`` for one group
            per channel (instance normalization). The channels must be divisible by it.
        axis: the channel axis.
        epsilon: added to the variance.
        center, scale: whether to learn ``beta`` / ``gamma`` per channel.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint: as for LayerNormalization.

    Raises:
        ValueError: for an invalid ``groups`` or channels not divisible by it.

    >>> import numpy as np
    >>> from lamina.layers import GroupNormalization
    >>> GroupNormalization(groups=2)(np.arange(8.0, dtype="float32").reshape(2, 4)).shape
    (2, 4)
    """

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(groups, bool)
            or not isinstance(groups, int)
            or (groups <= 0 and groups != -1)
        ):
            raise ValueError(
                "Received an invalid value for argument `groups`, expected a positive integer "
                f"value or -1. Received: groups={groups!r}"
            )
        self.groups = groups
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)

    def _dims(self, input_shape):
        rank = len(input_shape)
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise ValueError(
                f"GroupNormalization axis={self.axis} is out of range (or the batch axis) for "
                f"inputs of shape {tuple(input_shape)}."
            )
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(
                f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                f"received an input with shape {tuple(input_shape)}."
            )
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ValueError(
                f"Number of groups ({groups}) cannot be more than the number of channels ({dim})."
            )
        if dim % groups:
            raise ValueError(
                f"Number of groups ({groups}) must be a multiple of the number of channels ({dim})."
            )
        return axis, dim, groups

    def init(self, key, input_shape):
        _, dim, _ = self._dims(input_shape)
        params = {}
        if self.scale:
            params["gamma"] = _initializers.or_default(self.gamma_initializer)((dim,), jnp.float32, key=key)
        if self.center:
            params["beta"] = _initializers.or_default(self.beta_initializer)((dim,), jnp.float32, key=key)
        return params, {}

    def apply(self, params, state, x, *, training=False, key=None):
        axis, dim, groups = self._dims(x.shape)
        shape = x.shape
        grouped = shape[:axis] + (groups, dim // groups) + shape[axis + 1 :]
        g = jnp.reshape(x, grouped)
        red = tuple(i for i in range(1, g.ndim) if i != axis)
        mean = jnp.mean(g, axis=red, keepdims=True)
        var = jnp.mean(jnp.square(g - mean), axis=red, keepdims=True)
        inv = jax.lax.rsqrt(var + self.epsilon)
        bshape = [1] * g.ndim
        bshape[axis], bshape[axis + 1] = groups, dim // groups
        if self.scale:
            inv = inv * jnp.reshape(params["gamma"], bshape)
        res = -mean * inv
        if self.center:
            res = res + jnp.reshape(params["beta"], bshape)
        return jnp.reshape(g * inv + res, shape), state

    def compute_output_shape(self, input_shape):
        self._dims(input_shape)
        return tuple(input_shape)

    def _weight_regularizers(self):
        return {"gamma": self.gamma_regularizer, "beta": self.beta_regularizer}

    def _weight_constraints(self):
        return {"gamma": self.gamma_constraint, "beta": self.beta_constraint}

    def get_config(self):
        config = super().get_config()
        config.update(
            groups=self.groups,
            axis=self.axis,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=_initializers.serialize(self.beta_initializer),
            gamma_initializer=_initializers.serialize(self.gamma_initializer),
            beta_regularizer=_ser(_regularizers.serialize, self.beta_regularizer),
            gamma_regularizer=_ser(_regularizers.serialize, self.gamma_regularizer),
            beta_constraint=_ser(_constraints.serialize, self.beta_constraint),
            gamma_constraint=_ser(_constraints.serialize, self.gamma_constraint),
        )
        return config


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm along ``axis`` (as ``keras.layers.UnitNormalization``).

    Args:
        axis: an int or a list of ints, the axes to normalize over.

    Raises:
        TypeError: for an ``axis`` that is neither an int nor a list of ints.

    >>> import numpy as np
    >>> from lamina.layers import UnitNormalization
    >>> UnitNormalization()(np.array([[3.0, 4.0]], "float32")).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """

    def __init__(self, axis=-1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError(
                "Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                f"Received: axis={axis!r}"
            )

    def apply(self, params, state, x, *, training=False, key=None):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        square_sum = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
        # Keras's ops.normalize: x * min(rsqrt(sum x^2), 1/epsilon) with epsilon 1e-12
        return x * jnp.minimum(jax.lax.rsqrt(square_sum), 1.0 / 1e-12), state

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang & Sennrich, 2019), as Keras's ``RMSNormalization``.

    ``y = x * rsqrt(mean(x**2, axis) + epsilon) * scale``, with one learned ``scale`` (initial
    ones) per entry of the ``axis`` dimensions.

    Args:
        axis: an int or a list of ints, the axes to normalize over.
        epsilon: added to the mean square.

    >>> import jax, numpy as np
    >>> from lamina.layers import RMSNormalization
    >>> layer = RMSNormalization()
    >>> params, state = layer.init(jax.random.key(0), (None, 2))
    >>> y, _ = layer.apply(params, state, np.array([[3.0, 4.0]], "float32"))
    >>> [round(float(v), 4) for v in y[0]]
    [0.8485, 1.1314]
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            axis = [int(a) for a in axis]
        elif isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(
                "Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                f"Received: axis={axis!r}"
            )
        self.axis = axis
        self.epsilon = float(epsilon)

    def _axes(self, input_shape) -> list[int]:
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= rank or a < -rank:
                raise ValueError(
                    f"Axis {a} is out of bounds for input shape {tuple(input_shape)}. "
                    f"Received: axis={self.axis}"
                )
        return sorted(a % rank for a in axes)

    def init(self, key, input_shape):
        shape = tuple(input_shape[a] for a in self._axes(input_shape))
        return {"scale": jnp.ones(shape, jnp.float32)}, {}

    def apply(self, params, state, x, *, training=False, key=None):
        axes = self._axes(x.shape)
        rrms = jax.lax.rsqrt(
            jnp.mean(jnp.square(x), axis=tuple(axes), keepdims=True) + self.epsilon
        )
        bshape = [1] * x.ndim
        for a in axes:
            bshape[a] = x.shape[a]
        return x * rrms * jnp.reshape(params["scale"], bshape), state

    def compute_output_shape(self, input_shape):
        self._axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config
