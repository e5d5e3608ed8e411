"""Activation layers: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax`` and Keras 2's
``ThresholdedReLU``. All pass an incoming mask on unchanged, as Keras's do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers.base import Layer
from lamina.layers.config import derived_config

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "ThresholdedReLU"]


def _non_negative(layer, name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(
            f"{layer}({name}=...) must be a number >= 0{' or None' if allow_none else ''}. "
            f"Received: {name}={value!r}."
        )
    return float(value)


@derived_config
class ReLU(Layer):
    """Rectified linear unit with optional cap, leak and threshold (``keras.layers.ReLU``).

    ``f(x) = max_value`` for ``x >= max_value``; ``x`` for ``threshold <= x < max_value``;
    ``negative_slope * (x - threshold)`` otherwise.

    Args:
        max_value: upper bound of the output, or None.
        negative_slope: slope below the threshold (>= 0).
        threshold: where the activation starts (>= 0).

    Raises:
        ValueError: for negative or missing values.

    >>> import numpy as np
    >>> from lamina.layers import ReLU
    >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]], "float32")).tolist()
    [[0.0, 3.0, 6.0]]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative("ReLU", "max_value", max_value, allow_none=True)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def apply(self, params, state, x, *, training=False, key=None):
        y = _activations.relu(
            jnp.asarray(x), negative_slope=self.negative_slope, max_value=self.max_value,
            threshold=self.threshold,
        )  # fmt: skip
        return y, state


@derived_config
class LeakyReLU(Layer):
    """``x`` if ``x >= 0`` else ``negative_slope * x`` (``keras.layers.LeakyReLU``).

    Args:
        negative_slope: the leak (>= 0); Keras 2's ``alpha=`` is accepted (Keras 2's default
            was 0.3, as Keras 3's is).

    >>> import numpy as np
    >>> from lamina.layers import LeakyReLU
    >>> LeakyReLU(negative_slope=0.5)(np.array([[-2.0, 2.0]], "float32")).tolist()
    [[-1.0, 2.0]]
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        from lamina.layers.arg_checks import is_number

        if not is_number(negative_slope) or negative_slope < 0:
            raise ValueError(
                "The negative_slope value of a Leaky ReLU layer cannot be None or negative. "
                f"Expected a float. Received: negative_slope={negative_slope!r}."
            )
        self.negative_slope = float(negative_slope)

    def apply(self, params, state, x, *, training=False, key=None):
        return jax.nn.leaky_relu(jnp.asarray(x), negative_slope=self.negative_slope), state


@derived_config
class ELU(Layer):
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``
    (``keras.layers.ELU``).

    >>> import numpy as np
    >>> from lamina.layers import ELU
    >>> ELU()(np.array([[0.0, 1.0]], "float32")).tolist()
    [[0.0, 1.0]]
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def apply(self, params, state, x, *, training=False, key=None):
        return jax.nn.elu(jnp.asarray(x), alpha=self.alpha), state


@derived_config
class ThresholdedReLU(Layer):
    """Keras 2's ``ThresholdedReLU``: ``x`` if ``x > theta`` else 0.

    Args:
        theta: the threshold (>= 0).

    >>> import numpy as np
    >>> from lamina.layers import ThresholdedReLU
    >>> ThresholdedReLU(theta=1.0)(np.array([[0.5, 2.0]], "float32")).tolist()
    [[0.0, 2.0]]
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _non_negative("ThresholdedReLU", "theta", theta)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x)
        return jnp.where(x > self.theta, x, jnp.zeros((), x.dtype)), state


@derived_config
class Softmax(Layer):
    """Softmax over ``axis`` (an int or a tuple), with an optional mask (``keras.layers.Softmax``).

    Masked positions (mask False, or <= 0.5) get probability 0, as in Keras.

    >>> import numpy as np
    >>> from lamina.layers import Softmax
    >>> layer = Softmax()
    >>> y, _ = layer.apply({}, {}, np.zeros((1, 3), "float32"), mask=np.array([[1, 1, 0]]))
    >>> y.tolist()
    [[0.5, 0.5, 0.0]]
    """

    uses_mask = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, list | tuple) else int(axis)

    def apply(self, params, state, x, *, training=False, key=None, mask=None):
        x = jnp.asarray(x)
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.ndim > x.ndim or any(
                m != 1 and m != i for m, i in zip(mask.shape[::-1], x.shape[::-1])
            ):
                raise ValueError(
                    "The `mask` must be broadcastable to `inputs`. Received: "
                    f"inputs.shape={x.shape}, mask.shape={mask.shape}."
                )
            if mask.dtype != jnp.bool_:
                mask = mask > 0.5
            mask = jnp.reshape(mask, (1,) * (x.ndim - mask.ndim) + mask.shape)
            big = -3e4 if x.dtype == jnp.float16 else -1e9
            x = jnp.where(mask, x, jnp.asarray(big, x.dtype))
        if isinstance(self.axis, tuple) and len(self.axis) > 1:
            y = jnp.exp(x - jax.scipy.special.logsumexp(x, axis=self.axis, keepdims=True))
        else:
            axis = self.axis[0] if isinstance(self.axis, tuple) else self.axis
            y = jax.nn.softmax(x, axis=axis)
        if mask is not None:
            y = jnp.where(mask, y, jnp.zeros((), y.dtype))
        return y, state

    def get_config(self):
        config = self._derived_config()
        # ``axis`` is kept as a tuple (hashable, for jax); Keras's config holds the list.
        config.update(axis=list(self.axis) if isinstance(self.axis, tuple) else self.axis)
        return config


@derived_config
class PReLU(Layer):
    """Parametric ReLU: ``x`` if ``x >= 0`` else ``alpha * x`` with a learned ``alpha``
    (``keras.layers.PReLU``).

    Args:
        alpha_initializer: initializer of ``alpha`` (zeros by default).
        alpha_regularizer, alpha_constraint: optional regularizer and constraint.
        shared_axes: axes (1-based, batch excluded) along which ``alpha`` is shared, e.g.
            ``[1, 2]`` for one alpha per channel of an image.

    >>> import jax, numpy as np
    >>> from lamina.layers import PReLU
    >>> layer = PReLU(shared_axes=[1])
    >>> params, _ = layer.init(jax.random.key(0), (None, 5, 3))
    >>> params["alpha"].shape
    (1, 3)
    """

    def __init__(
        self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
        shared_axes=None, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.alpha_initializer = _initializers.get(alpha_initializer)
        self.alpha_regularizer = _regularizers.get(alpha_regularizer)
        self.alpha_constraint = _constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, list | tuple):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def init(self, key, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(
                    f"PReLU(shared_axes=...) holds 1-based axes of the sample (1..{len(shape)} "
                    f"for inputs of shape {tuple(input_shape)}). Received: {self.shared_axes}."
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"PReLU needs known sizes for the non-shared axes; input shape "
                f"{tuple(input_shape)} has None there. Share those axes with shared_axes=."
            )
        return {"alpha": _initializers.or_default(self.alpha_initializer)(tuple(shape), jnp.float32, key=key)}, {}

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x)
        alpha = jnp.reshape(params["alpha"], (1, *params["alpha"].shape))
        return jax.nn.relu(x) - alpha * jax.nn.relu(-x), state

    def _weight_regularizers(self):
        return {"alpha": self.alpha_regularizer}

    def _weight_constraints(self):
        return {"alpha": self.alpha_constraint}
