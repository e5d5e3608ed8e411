"""``Masking`` (skip timesteps equal to ``mask_value``) and ``Identity``."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.layers.base import Layer

__all__ = ["Identity", "Masking"]


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value`` (``keras.layers.Masking``).

    The output zeroes those timesteps, and the layer emits a ``(batch, timesteps)`` mask that
    the following layers consume: recurrent layers skip masked steps, as after
    ``Embedding(mask_zero=True)``.

    Args:
        mask_value: the padding value (0.0 by default).

    >>> import numpy as np
    >>> from lamina.layers import Masking
    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0]]], "float32")
    >>> layer = Masking()
    >>> np.asarray(layer.compute_mask(x, None)).tolist()
    [[True, False]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, int | float):
            raise TypeError(
                f"Masking(mask_value=...) must be a number. Received: mask_value={mask_value!r}."
            )
        self.mask_value = mask_value

    def compute_mask(self, x, mask=None):
        return jnp.any(jnp.not_equal(jnp.asarray(x), self.mask_value), axis=-1)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x)
        keep = jnp.any(jnp.not_equal(x, self.mask_value), axis=-1, keepdims=True)
        return x * keep.astype(x.dtype), state

    def get_config(self):
        config = super().get_config()
        config.update(mask_value=self.mask_value)
        return config


class Identity(Layer):
    """Returns its input unchanged, mask included (``keras.layers.Identity``).

    >>> import numpy as np
    >>> from lamina.layers import Identity
    >>> Identity()(np.ones((2, 3), "float32")).shape
    (2, 3)
    """

    def apply(self, params, state, x, *, training=False, key=None):
        return x, state
