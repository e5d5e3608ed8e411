"""``Embedding``: integer indices to dense vectors, optionally masking index 0."""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.lora import LoraMixin, lora_config, merged
from lamina.layers.quantized import EmbeddingQuantizeMixin, embedding_call
from lamina.layers.weight_specs import WeightSpec
from lamina.quantization_configs import deserialize_config, serialize_config


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int | jnp.integer) or value <= 0:
        raise ValueError(
            f"Embedding({what}=...) must be a positive integer. Received: {what}={value!r}."
        )
    return int(value)


# Keras's config holds ``activity_regularizer`` even when None.
@derived_config(extra=("activity_regularizer",))
class Embedding(EmbeddingQuantizeMixin, LoraMixin, Layer):
    """Turns integer indices into dense vectors: row ``i`` of ``embeddings`` for index ``i``.

    Inputs of any shape ``(batch, ...)`` hold indices in ``[0, input_dim)`` (floats are cast
    to int32, as Keras does); outputs have one more axis of size ``output_dim``.

    Args:
        input_dim: size of the vocabulary (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: initializer of the ``(input_dim, output_dim)`` matrix
            (Keras's default ``'uniform'``: uniform in [-0.05, 0.05]).
        embeddings_regularizer, embeddings_constraint, activity_regularizer: as Keras.
        mask_zero: whether index 0 is padding: the layer then emits a mask (``x != 0``) that
            recurrent layers downstream use to skip padded timesteps.
        input_length: Keras 2 argument, accepted and ignored.
        lora_rank, lora_alpha: LoRA from the start (see :mod:`lamina.layers.lora`).

    >>> import jax, numpy as np
    >>> from lamina.layers import Embedding
    >>> emb = Embedding(10, 4, mask_zero=True)
    >>> params, state = emb.init(jax.random.key(0), (None, 3))
    >>> x = np.array([[1, 2, 0]])
    >>> y, _ = emb.apply(params, state, x)
    >>> tuple(y.shape), np.asarray(emb.compute_mask(x, None)).tolist()
    ((1, 3, 4), [[True, True, False]])
    """

    weight_specs = (WeightSpec("embeddings", lambda layer, s: (layer.input_dim, layer.output_dim)),)
    _lora_names = ("embeddings", "lora_embeddings_a", "lora_embeddings_b")
    _lora_build_resets_alpha = True

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        quantization_config=None,
        **kwargs,
    ):
        input_length = kwargs.pop("input_length", None)
        if input_length is not None:
            warnings.warn(
                "Embedding(input_length=...) is deprecated in Keras 3 and ignored; remove it.",
                stacklevel=2,
            )
        if weights is not None:
            raise ValueError(
                "Embedding(weights=...) is not supported: build the model, then call "
                "model.set_weights(...) or layer weights through the model."
            )
        lora = kwargs.pop("lora_rank", None), kwargs.pop("lora_alpha", None)
        super().__init__(**kwargs)
        self._lora_setup(*lora)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = _constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        # Kept as Keras does (allow-listed classes only); its int4 block size wins at build.
        self.quantization_config = deserialize_config(quantization_config)

    def build(self, input_shape=None):
        """Creates the ``embeddings`` (Keras's ``build`` needs no input shape here)."""
        super().build((None, None) if input_shape is None else input_shape)

    def init(self, key, input_shape):
        return self._quantized_layout(*self._lora_layout(*super().init(key, input_shape)))

    def apply(self, params, state, x, *, training=False, key=None):
        if self.quantization_mode:  # model.quantize("int8")
            return embedding_call(self, state, x), state
        params = merged(self, params, state)
        idx = jnp.asarray(x)
        if idx.dtype not in (jnp.int32, jnp.int64):
            idx = idx.astype(jnp.int32)
        return jnp.take(params["embeddings"], idx, axis=0), state

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        config = self._derived_config()
        config["quantization_config"] = serialize_config(self.quantization_config)
        return lora_config(self, config)  # Keras adds LoRA's keys when set

    def compute_mask(self, x, mask=None):
        if not self.mask_zero:
            return None
        return jnp.not_equal(jnp.asarray(x), 0)
