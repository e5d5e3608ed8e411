"""``SpectralNormalization``: a wrapper dividing a layer's kernel by its spectral norm.

As Keras (Miyato et al., 2018): in training, ``power_iterations`` steps of power iteration
refine the estimate ``vector_u`` of the kernel's top singular vector (a non-trainable weight,
in ``state``), and the wrapped layer runs with ``kernel / sigma``, where
``sigma = v @ W @ u.T`` (``u`` and ``v`` taken as constants, so gradients flow through
``sigma``).  At inference the layer runs with its kernel as stored.  This is Keras's behaviour
on the JAX backend, where the normalized kernel a training call assigns is not kept (a
trainable variable is only updated by the optimizer); so weights and losses match Keras-JAX
step by step.

Weights: ``vector_u`` ``(1, units)`` is held in ``state`` beside the wrapped layer's; the
weight list is Keras's, ``[kernel, vector_u, bias, ...]`` (the wrapper's own weights, the
kernel it tracks and ``vector_u``, then the wrapped layer's others), so ``get_weights`` lists
move both ways.  ``.keras`` and ``.weights.h5`` files use Keras's layout too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina import initializers as _initializers
from lamina.layers.core_methods import layer_init
from lamina.layers.wrapper_base import Wrapper
from lamina.utils import random as _random

_EPSILON = 1e-7  # Keras's backend.epsilon(), used by ops.normalize


def _l2_normalize(x):
    inv = jnp.minimum(jax.lax.rsqrt(jnp.sum(jnp.square(x))), 1.0 / _EPSILON)
    return x * inv


class SpectralNormalization(Wrapper):
    """Spectral normalization of a ``Dense``, ``Conv*`` or ``Embedding`` layer's kernel.

    Args:
        layer: the wrapped layer; it must have a ``kernel`` (or ``embeddings``) weight.
        power_iterations: power-iteration steps per training call (a positive int).

    Raises:
        ValueError: ``power_iterations`` is not positive, or the layer has no kernel.

    >>> import jax, numpy as np
    >>> from lamina.layers import Dense, SpectralNormalization
    >>> sn = SpectralNormalization(Dense(3))
    >>> params, state = sn.init(jax.random.key(0), (None, 4))
    >>> list(params), list(state)
    (['kernel', 'bias'], ['vector_u'])
    >>> y, state = sn.apply(params, state, np.ones((2, 4), "float32"), training=True)
    >>> tuple(y.shape)
    (2, 3)
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or int(power_iterations) <= 0:
            raise ValueError(
                "`power_iterations` should be greater than zero. Received: "
                f"`power_iterations={power_iterations}`"
            )
        self.power_iterations = int(power_iterations)
        self.uses_rng = layer.uses_rng
        self.uses_mask = layer.uses_mask

    def _kernel_name(self, params) -> str:
        for name in ("kernel", "embeddings"):
            if name in params:
                return name
        raise ValueError(
            f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'"
        )

    def init(self, key, input_shape):
        lkey, ukey = _random.split(key)
        params, state = layer_init(self.layer)(lkey, input_shape)
        self._inner_names = (*params, *state)  # the file layout (see _keras_weight_groups)
        units = params[self._kernel_name(params)].shape[-1]
        u = _initializers.TruncatedNormal(stddev=0.02)((1, units), jnp.float32, key=ukey)
        return params, {**state, "vector_u": u}

    def _normalized(self, kernel, u):
        weights = jnp.reshape(kernel, (-1, kernel.shape[-1]))
        v = None
        for _ in range(self.power_iterations):
            v = _l2_normalize(u @ weights.T)
            u = _l2_normalize(v @ weights)
        u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
        sigma = (v @ weights) @ u.T
        return u, kernel / sigma[0, 0]

    def apply(self, params, state, x, *, training=False, key=None, **kwargs):
        inner_state = {k: v for k, v in state.items() if k != "vector_u"}
        u = state["vector_u"]
        if training:
            name = self._kernel_name(params)
            kernel = params[name]
            new_u, new_kernel = self._normalized(kernel, u)
            zero = jnp.all(kernel == 0)  # Keras leaves an all-zero kernel alone
            u = jnp.where(zero, u, new_u)
            params = {**params, name: jnp.where(zero, kernel, new_kernel)}
        y, inner_state = self.layer.apply(
            params, inner_state, x, training=training, key=key, **kwargs
        )
        return y, {**inner_state, "vector_u": u}

    def _keras_weight_groups(self):
        """Keras's file layout: the wrapper's own ``vars`` hold the kernel and ``vector_u``,
        ``layer/vars`` the wrapped layer's weights (the kernel stored twice, as Keras does)."""
        names = getattr(self, "_inner_names", None) or ("kernel", "bias")
        own = ("embeddings" if "embeddings" in names else "kernel", "vector_u")
        return [((), own), (("layer",), tuple(names))]

    def _keras_weight_list(self, items, key_of):
        """``items`` (one per weight, named by ``key_of``) in Keras's ``weights`` order: the
        kernel (or embeddings), ``vector_u``, then the wrapped layer's other weights."""
        first = ("embeddings" if any(key_of(i) == "embeddings" for i in items) else "kernel",)
        first += ("vector_u",)
        head = [i for name in first for i in items if key_of(i) == name]
        return head + [i for i in items if key_of(i) not in first]

    def expected_rank(self):
        return self.layer.expected_rank()

    def _weight_regularizers(self):
        return self.layer._weight_regularizers()

    def _weight_constraints(self):
        return self.layer._weight_constraints()

    def get_config(self):
        config = super().get_config()
        config["power_iterations"] = self.power_iterations
        return config


__all__ = ["SpectralNormalization"]
