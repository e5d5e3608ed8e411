"""Keras 1's ``Highway`` and ``MaxoutDense`` layers (``keras/layers/core.py`` of Keras 1.2).

Keras 2 deprecated both and Keras 3 has neither, so 2016-2017 code using them had nowhere to
run.  They keep Keras 1's maths and weights (names, shapes and order, so ``set_weights`` takes a
Keras 1 model's arrays) and take Keras 1's spellings (``init``, ``W_regularizer``, ``bias``,
``output_dim``) through :mod:`lamina.layers.legacy_args`.

* ``Highway``: ``t = sigmoid(x @ W_carry + b_carry)``, ``y = activation(x @ W + b) * t +
  (1 - t) * x``; weights ``[W, W_carry, b, b_carry]`` (Keras 1.2's order; ``[W, W_carry]``
  without bias), ``b_carry`` starting at ``transform_bias`` as Keras 1 documents it (default
  -2: the gate starts mostly closed, carrying the input through; Keras 1.2's code started it
  at 1 whatever ``transform_bias`` said, and Keras 2 dropped the argument).
* ``MaxoutDense``: ``y = max_k(x @ W[k] + b[k])`` over ``nb_feature`` linear pieces; weights
  ``W`` of shape ``(nb_feature, input_dim, units)`` and ``b`` of shape ``(nb_feature, units)``.

>>> import numpy as np
>>> from lamina.layers import Highway, MaxoutDense
>>> Highway(input_dim=3)(np.ones((2, 3), "float32")).shape
(2, 3)
>>> MaxoutDense(4, nb_feature=2)(np.ones((2, 3), "float32")).shape
(2, 4)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers import arg_checks as _checks
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.weight_specs import WeightSpec


def _check_2d(layer, input_shape):
    if len(input_shape) != 2:
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects 2D inputs (batch, features), "
            f"as in Keras 1, but received shape {tuple(input_shape)}; flatten them first "
            f"(add Flatten() before it)."
        )


def _square(layer, shape):
    return (shape[-1], shape[-1])


def _vector(layer, shape):
    return (shape[-1],)


# The carry weights' and b's initializers are not arguments: they follow from
# ``kernel_initializer`` and ``transform_bias`` (b starts at zero), as Keras 1 built them.
@derived_config(skip=("bias_initializer", "carry_kernel_initializer", "carry_bias_initializer"))
class Highway(Layer):
    """Keras 1's densely connected highway layer (Srivastava et al., 2015).

    Args:
        activation: the transform's activation; ``None`` (Keras 1's ``'linear'``) is linear.
        transform_bias: the initial value of every element of ``b_carry`` (Keras 1: -2).
        kernel_initializer: initializer of ``W`` and ``W_carry`` (Keras 1's ``init``).
        use_bias: whether the layer has ``b`` and ``b_carry`` (Keras 1's ``bias``).
        kernel_regularizer, bias_regularizer: regularizers of ``W`` and ``b`` (Keras 1's
            ``W_regularizer``, ``b_regularizer``); the carry weights have none, as in Keras 1.
        kernel_constraint, bias_constraint: constraints of ``W`` and ``b``.
        activity_regularizer: a regularizer of the output.

    >>> import numpy as np
    >>> layer = Highway(activation="relu", input_dim=4)
    >>> x = np.ones((2, 4), "float32")
    >>> layer(x).shape, [w.shape for w in layer.get_weights()]
    ((2, 4), [(4, 4), (4, 4), (4,), (4,)])
    """

    weight_specs = (  # Keras 1.2's creation order (its ``set_weights`` order)
        WeightSpec("W", _square, option="kernel"),
        WeightSpec("W_carry", _square, option="carry_kernel", regularized=False),
        WeightSpec("b", _vector, option="bias", when="use_bias"),
        WeightSpec("b_carry", _vector, option="carry_bias", when="use_bias", regularized=False),
    )

    def __init__(
        self,
        activation=None,
        transform_bias=-2.0,
        kernel_initializer="glorot_uniform",
        use_bias=True,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.activation = _activations.get(activation)
        self.transform_bias = _checks.check_number(transform_bias, "transform_bias", "Highway")
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.use_bias = bool(use_bias)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    @property
    def bias_initializer(self):
        return _initializers.get("zeros")

    @property
    def carry_kernel_initializer(self):
        return self.kernel_initializer

    @property
    def carry_bias_initializer(self):
        return _initializers.Constant(self.transform_bias)

    def init(self, key, input_shape):
        _check_2d(self, input_shape)
        return super().init(key, input_shape)

    def apply(self, params, state, x, *, training=False, key=None):
        gate = jnp.matmul(x, params["W_carry"])
        y = jnp.matmul(x, params["W"])
        if self.use_bias:
            gate = gate + params["b_carry"][None, :]
            y = y + params["b"][None, :]
        gate = jax.nn.sigmoid(gate)
        return self.activation(y) * gate + (1.0 - gate) * x, state

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@derived_config(skip=("bias_initializer",))  # always zeros in Keras 1: not an argument
class MaxoutDense(Layer):
    """Keras 1's maxout layer: the maximum of ``nb_feature`` dense projections.

    Args:
        units: output dimension (Keras 1's ``output_dim``).
        nb_feature: how many linear pieces each output takes the maximum of.
        kernel_initializer: initializer of ``W`` (Keras 1's ``init``).
        use_bias: whether the layer has ``b`` (Keras 1's ``bias``).
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: of ``W``
            and ``b`` (Keras 1's ``W_regularizer``, ...).
        activity_regularizer: a regularizer of the output.

    >>> import numpy as np
    >>> layer = MaxoutDense(2, nb_feature=3, input_dim=5)
    >>> layer(np.ones((4, 5), "float32")).shape, [w.shape for w in layer.get_weights()]
    ((4, 2), [(3, 5, 2), (3, 2)])
    """

    weight_specs = (
        WeightSpec("W", lambda layer, shape: (layer.nb_feature, shape[-1], layer.units),
                   option="kernel"),
        WeightSpec("b", lambda layer, shape: (layer.nb_feature, layer.units), option="bias",
                   when="use_bias"),
    )  # fmt: skip

    def __init__(
        self,
        units=None,
        nb_feature=4,
        kernel_initializer="glorot_uniform",
        use_bias=True,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _checks.check_int(units, "units", "MaxoutDense", minimum=1)
        self.nb_feature = _checks.check_int(nb_feature, "nb_feature", "MaxoutDense", minimum=1)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.use_bias = bool(use_bias)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    @property
    def bias_initializer(self):
        return _initializers.get("zeros")

    def init(self, key, input_shape):
        _check_2d(self, input_shape)
        return super().init(key, input_shape)

    def apply(self, params, state, x, *, training=False, key=None):
        # (batch, d) x (k, d, units) -> (batch, k, units), then the maximum over the k pieces.
        y = jnp.einsum("nd,kdu->nku", x, params["W"])
        if self.use_bias:
            y = y + params["b"][None, :, :]
        return jnp.max(y, axis=1), state

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape)[0], self.units)


__all__ = ["Highway", "MaxoutDense"]
