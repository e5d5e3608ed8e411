"""Random and regularizing layers: Gaussian noise and dropout, alpha and spatial dropout,
activity regularization.

The random layers draw only when ``training`` is true, as Keras's do: from their own generator
state ``[seed, calls]`` (:mod:`lamina.layers.seed_state`), so a seeded fit draws Keras's numbers;
at inference they are the identity.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lamina import regularizers as _regularizers
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.conv_utils import normalize_data_format
from lamina.layers.seed_state import generator_state, next_seed, uses_step_key
from lamina.utils.random import generator_seed


def _check_rate(rate, layer):
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
        raise ValueError(f"{layer}(rate=...) must be a number in [0, 1). Received: rate={rate!r}.")
    return float(rate)


@derived_config
class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` during training.

    >>> import jax, numpy as np
    >>> from lamina.layers import GaussianNoise
    >>> x = np.ones((2, 3), "float32")
    >>> y, _ = GaussianNoise(0.1).apply({}, {}, x, training=False)
    >>> bool((y == x).all())
    True
    >>> y, _ = GaussianNoise(0.1).apply({}, {}, x, training=True, key=jax.random.key(0))
    >>> bool((y == x).all())
    False
    """

    uses_rng = uses_step_key

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, int | float) or stddev < 0:
            raise ValueError(
                f"GaussianNoise(stddev=...) must be a number >= 0. Received: {stddev!r}."
            )
        self.stddev = float(stddev)
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.stddev > 0)

    def init(self, key, input_shape):
        return {}, generator_state(self)

    def apply(self, params, state, x, *, training=False, key=None):
        if not training or self.stddev == 0.0:
            return x, state
        seed, state = next_seed(state, key)
        if seed is None:
            return x, state
        return x + jax.random.normal(seed, x.shape, x.dtype) * self.stddev, state


@derived_config
class GaussianDropout(Layer):
    """Multiplies inputs by Gaussian noise of mean 1 and variance ``rate / (1 - rate)`` in training.

    >>> import numpy as np
    >>> from lamina.layers import GaussianDropout
    >>> y, _ = GaussianDropout(0.2).apply({}, {}, np.ones((2, 3), "float32"))
    >>> y.tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    uses_rng = uses_step_key

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate, "GaussianDropout")
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.rate > 0)

    def init(self, key, input_shape):
        return {}, generator_state(self)

    def apply(self, params, state, x, *, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, state
        seed, state = next_seed(state, key)
        if seed is None:
            return x, state
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (jax.random.normal(seed, x.shape, x.dtype) * stddev + 1.0), state


@derived_config
class AlphaDropout(Layer):
    """Dropout that keeps the mean and variance of its inputs, for SELU networks.

    In training, dropped inputs are set to SELU's negative saturation value and the result is
    affinely corrected (Klambauer et al., 2017), exactly as Keras's ``AlphaDropout``; at
    inference the layer is the identity.

    Args:
        rate: fraction of the inputs to drop, in [0, 1].
        noise_shape: optional shape of the drop mask (``None`` entries take the input's size).
        seed: the seed of the layer's generator (drawn at construction when None), as Keras.

    >>> import jax, numpy as np
    >>> from lamina.layers import AlphaDropout
    >>> x = np.zeros((1, 4), "float32")
    >>> AlphaDropout(0.5).apply({}, {}, x)[0].tolist()
    [[0.0, 0.0, 0.0, 0.0]]
    >>> y, _ = AlphaDropout(0.5).apply({}, {}, x, training=True, key=jax.random.key(0))
    >>> len(set(np.round(np.asarray(y), 4).ravel().tolist())) <= 2
    True
    """

    uses_rng = uses_step_key

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.rate > 0)

    def init(self, key, input_shape):
        return {}, generator_state(self)

    def apply(self, params, state, x, *, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, state
        key, state = next_seed(state, key)
        if key is None:
            return x, state
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        alpha = 1.6732632423543772848170429916717
        scale = 1.0507009873554804934193349852946
        alpha_p = -alpha * scale
        kept = (jax.random.uniform(key, shape) >= self.rate).astype(x.dtype)
        kept = jnp.broadcast_to(kept, x.shape)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (x * kept + alpha_p * (1 - kept)) + b, state


@derived_config
class _SpatialDropout(Layer):
    """Drops whole feature maps (channels): one Bernoulli draw per (sample, channel)."""

    uses_rng = uses_step_key
    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.rate = _check_rate(rate, type(self).__name__)
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.rate > 0)
        self.data_format = "channels_last"

    def expected_rank(self):
        return (self.rank + 2,)

    def _noise_shape(self, shape):
        ones = (1,) * self.rank
        if self.data_format == "channels_first":
            return (shape[0], shape[1], *ones)
        return (shape[0], *ones, shape[-1])

    def init(self, key, input_shape):
        return {}, generator_state(self)

    def apply(self, params, state, x, *, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, state
        seed, state = next_seed(state, key)
        if seed is None:
            return x, state
        keep = jax.random.bernoulli(seed, 1.0 - self.rate, self._noise_shape(x.shape))
        keep = jnp.broadcast_to(keep, x.shape)
        return jax.lax.select(keep, x / (1.0 - self.rate), jnp.zeros_like(x)), state

    def get_config(self):
        config = self._derived_config()
        config.pop("trainable", None)  # Keras's SpatialDropout config has no "trainable"
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` inputs during training.

    >>> import jax, numpy as np
    >>> from lamina.layers import SpatialDropout1D
    >>> y, _ = SpatialDropout1D(0.5).apply({}, {}, np.ones((1, 4, 8), "float32"), training=True,
    ...                                    key=jax.random.key(1))
    >>> bool((y == y[:, :1]).all())  # each channel is dropped or kept for every step
    True
    """

    rank = 1


@derived_config
class _ImageSpatialDropout(_SpatialDropout):
    """Spatial dropout with a ``data_format`` argument (2D and 3D)."""

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)


class SpatialDropout2D(_ImageSpatialDropout):
    """Drops whole feature maps of images during training (``data_format`` aware).

    >>> import numpy as np
    >>> from lamina.layers import SpatialDropout2D
    >>> y, _ = SpatialDropout2D(0.3).apply({}, {}, np.ones((1, 2, 2, 3), "float32"))
    >>> float(y.sum())
    12.0
    """

    rank = 2


class SpatialDropout3D(_ImageSpatialDropout):
    """Drops whole feature volumes (channels) of ``(batch, d, h, w, channels)`` in training.

    >>> import jax, numpy as np
    >>> from lamina.layers import SpatialDropout3D
    >>> y, _ = SpatialDropout3D(0.5).apply({}, {}, np.ones((1, 2, 2, 2, 4), "float32"),
    ...                                    training=True, key=jax.random.key(0))
    >>> bool((y == y[:, :1, :1, :1]).all())  # one draw per (sample, channel)
    True
    """

    rank = 3


@derived_config
class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x**2)`` of its input to the loss.

    >>> import numpy as np
    >>> from lamina.layers import ActivityRegularization
    >>> layer = ActivityRegularization(l1=0.1)
    >>> float(layer.activity_regularizer(np.array([[1.0, -2.0]], "float32")))
    0.30000001192092896
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=_regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def apply(self, params, state, x, *, training=False, key=None):
        return x, state

    def get_config(self):
        config = self._derived_config()
        config.pop("activity_regularizer", None)  # Keras rebuilds it from l1 and l2
        return config
