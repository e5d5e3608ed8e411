"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization`` (Keras 3 formulas)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import arg_checks as _checks
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.weight_specs import WeightSpec, create_weights
from lamina.utils import random as _random

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), used by Keras's masked moments


def _norm_axis(axis: int, rank: int, name: str) -> int:
    if not -rank <= axis < rank:
        raise ValueError(
            f"Layer {name!r}: axis {axis} is out of bounds for inputs of rank {rank} "
            f"(batch dimension included)."
        )
    return axis % rank


class _GammaBeta(Layer):
    """Shared arguments and weights of the two normalization layers."""

    weight_specs = (
        WeightSpec("gamma", lambda layer, s: layer._param_shape(s), when="scale"),
        WeightSpec("beta", lambda layer, s: layer._param_shape(s), when="center"),
    )

    def __init__(
        self,
        *,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)

    def _param_shape(self, input_shape) -> tuple:
        """The shape of ``gamma``/``beta`` for inputs of ``input_shape``."""
        raise NotImplementedError


@derived_config
class BatchNormalization(_GammaBeta):
    """Normalizes each feature with batch statistics in training, moving statistics otherwise.

    In training (and when the layer is trainable) the output is
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the batch's mean and (biased)
    variance over every axis but ``axis``, and the moving statistics become
    ``moving * momentum + batch_stat * (1 - momentum)``.  At inference the moving statistics
    replace the batch's.  Padding rows of a short last batch (``batch_mask``) and masked
    timesteps (a mask from ``Embedding(mask_zero=True)``) are left out of the statistics, so
    results equal Keras's.

    Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance`` (state).

    Args:
        axis: the features axis (an int).
        momentum: momentum of the moving averages.
        epsilon: added to the variance.
        center, scale: whether to use ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as Keras.

    >>> import jax, numpy as np
    >>> from lamina.layers import BatchNormalization
    >>> bn = BatchNormalization()
    >>> params, state = bn.init(jax.random.key(0), (None, 3))
    >>> list(params), list(state)
    (['gamma', 'beta'], ['moving_mean', 'moving_variance'])
    >>> x = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]], "float32")
    >>> y, new_state = bn.apply(params, state, x, training=True)
    >>> [round(float(v), 3) for v in new_state["moving_mean"]]
    [0.01, 0.02, 0.03]
    """

    uses_mask = True
    uses_batch_mask = True

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        if renorm:
            raise ValueError("BatchNormalization(renorm=True) is not supported by Lamina.")
        if synchronized:
            raise ValueError(
                "BatchNormalization(synchronized=True) is only supported by Keras's TensorFlow "
                "backend; Lamina computes statistics over the whole (global) batch already."
            )
        if isinstance(axis, list | tuple):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization takes a single int axis; received {axis!r}.")
            axis = axis[0]
        super().__init__(
            center=center,
            scale=scale,
            beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
            **kwargs,
        )
        self.axis = _checks.check_int(axis, "axis", "BatchNormalization")
        self.momentum = _checks.check_number(momentum, "momentum", "BatchNormalization")
        self.epsilon = _checks.check_number(epsilon, "epsilon", "BatchNormalization")
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.renorm_momentum = renorm_momentum
        # Validated above: Lamina supports neither, and its configs say so.
        self.renorm, self.renorm_clipping, self.synchronized = False, None, False

    def _param_shape(self, input_shape):
        return (int(input_shape[_norm_axis(self.axis, len(input_shape), self.name)]),)

    def init(self, key, input_shape):
        axis = _norm_axis(self.axis, len(input_shape), self.name)
        if input_shape[axis] is None:
            raise ValueError(
                f"Layer {self.name!r} (BatchNormalization) needs a known size on axis "
                f"{self.axis}; received input shape {tuple(input_shape)}."
            )
        shape = (int(input_shape[axis]),)
        k1, k2, k3 = _random.split(key, 3)
        params, _ = create_weights(self, k1, input_shape)  # gamma, beta
        state = {
            "moving_mean": _initializers.or_default(self.moving_mean_initializer)(shape, jnp.float32, key=k2),
            "moving_variance": _initializers.or_default(self.moving_variance_initializer)(shape, jnp.float32, key=k3),
        }
        return params, state

    def compute_output_shape(self, input_shape):
        _norm_axis(self.axis, len(input_shape), self.name)
        return tuple(input_shape)

    def _moments(self, x, axis, mask, batch_mask):
        red = tuple(a for a in range(x.ndim) if a != axis)
        if mask is None and batch_mask is None:
            return jnp.mean(x, axis=red), jnp.var(x, axis=red)
        w = jnp.ones(x.shape[:1], x.dtype) if batch_mask is None else batch_mask.astype(x.dtype)
        w = jnp.reshape(w, w.shape + (1,) * (x.ndim - 1))
        eps = 0.0
        if mask is not None:  # Keras's masked moments: mask has the input's rank minus one
            m = jnp.asarray(mask).astype(x.dtype)
            w = w * jnp.reshape(m, m.shape + (1,) * (x.ndim - m.ndim))
            eps = _KERAS_EPSILON
        w = jnp.broadcast_to(w, x.shape)
        total = jnp.sum(w, axis=red)
        mean = jnp.sum(x * w, axis=red) / (total + eps)
        shape = [1] * x.ndim
        shape[axis] = -1
        diff = (x - jnp.reshape(mean, shape)) * w
        var = jnp.sum(diff * diff, axis=red) / (total + eps)
        return mean, var

    def apply(self, params, state, x, *, training=False, key=None, mask=None, batch_mask=None):
        x = jnp.asarray(x, jnp.float32)
        axis = _norm_axis(self.axis, x.ndim, self.name)
        if training and self.trainable:
            mean, var = self._moments(x, axis, mask, batch_mask)
            m = self.momentum
            state = {
                "moving_mean": state["moving_mean"] * m + mean * (1.0 - m),
                "moving_variance": state["moving_variance"] * m + var * (1.0 - m),
            }
        else:
            mean, var = state["moving_mean"], state["moving_variance"]
        shape = [1] * x.ndim
        shape[axis] = -1
        inv = jax.lax.rsqrt(jnp.reshape(var, shape) + self.epsilon)
        if self.scale:
            inv = inv * jnp.reshape(params["gamma"], shape)
        res = -jnp.reshape(mean, shape) * inv
        if self.center:
            res = res + jnp.reshape(params["beta"], shape)
        return x * inv + res, state


@derived_config
class LayerNormalization(_GammaBeta):
    """Normalizes each sample over ``axis``: Keras 3's ``ops.layer_normalization``.

    ``y = x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)``, the mean
    and (biased) variance taken over ``axis`` of each sample.

    Args:
        axis: an int or a list of ints, the axes normalized (and the shape of gamma/beta).
        epsilon: added to the variance.
        center, scale: whether to use ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint: as Keras.

    >>> import jax, numpy as np
    >>> from lamina.layers import LayerNormalization
    >>> ln = LayerNormalization()
    >>> params, state = ln.init(jax.random.key(0), (None, 4))
    >>> y, _ = ln.apply(params, state, np.array([[1.0, 2.0, 3.0, 4.0]], "float32"))
    >>> [round(float(v), 3) for v in y[0]]
    [-1.341, -0.447, 0.447, 1.341]
    """

    def __init__(
        self,
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
        rms_scaling=False,
        **kwargs,
    ):
        if rms_scaling:
            warnings.warn(
                "LayerNormalization(rms_scaling=True) is deprecated in Keras (use "
                "RMSNormalization); it scales by 1/sqrt(var + epsilon) * gamma with no centering.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(
            center=center,
            scale=scale,
            beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
            **kwargs,
        )
        if isinstance(axis, list | tuple) and _checks.int_items(axis) is not None:
            self.axis = list(_checks.int_items(axis))
        elif _checks.is_int(axis):
            self.axis = int(axis)
        else:
            raise TypeError(
                f"LayerNormalization(axis=...) takes an int or a list of ints; received {axis!r}."
            )
        self.epsilon = _checks.check_number(epsilon, "epsilon", "LayerNormalization")
        self.rms_scaling = bool(rms_scaling)

    def _axes(self, rank):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return sorted(_norm_axis(a, rank, self.name) for a in axes)

    def _param_shape(self, input_shape):
        return tuple(int(input_shape[a]) for a in self._axes(len(input_shape)))

    def init(self, key, input_shape):
        if self.rms_scaling:  # Keras: gamma always, no beta
            shape = self._param_shape(input_shape)
            return {"gamma": _initializers.or_default(self.gamma_initializer)(shape, jnp.float32, key=key)}, {}
        return super().init(key, input_shape)  # the declared weight_specs

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        axes = self._axes(x.ndim)
        bshape = [1] * x.ndim
        for a in axes:
            bshape[a] = x.shape[a]
        mean = jnp.mean(x, axis=tuple(axes), keepdims=True)
        var = jnp.var(x, axis=tuple(axes), keepdims=True)
        inv = jax.lax.rsqrt(var + self.epsilon)
        if self.rms_scaling:  # Keras 3's (deprecated) rms_scaling: variance, not mean square
            return x * inv * jnp.reshape(params["gamma"], bshape), state
        if self.scale:
            inv = inv * jnp.reshape(params["gamma"], bshape)
        res = -mean * inv
        if self.center:
            res = res + jnp.reshape(params["beta"], bshape)
        return x * inv + res, state
