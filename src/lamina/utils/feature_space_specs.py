"""The parts of a :class:`lamina.utils.FeatureSpace`: :class:`Feature` (a preprocessing layer
and how to encode its output), :class:`Cross` (a hashed feature cross), and
:class:`FeatureSpaceCast`, the int cast its functional graphs need.

>>> Cross(("sex", "age"), crossing_dim=8).name
'sex_X_age'
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import layers as _layers
from lamina.layers.base import Layer
from lamina.object_registry import register_keras_serializable
from lamina.utils import feature_space_io as _io

__all__ = ["Cross", "Feature", "FeatureSpaceCast"]


class Cross:
    """A feature cross: hashes the joint value of ``feature_names`` into ``crossing_dim`` bins.

    Args:
        feature_names: the names of the crossed features (two or more).
        crossing_dim: the number of hash bins.
        output_mode: ``"one_hot"`` (default) or ``"int"``.

    Raises:
        ValueError: an unknown ``output_mode``.

    >>> Cross(("sex", "age"), crossing_dim=8).name
    'sex_X_age'
    """

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in ("int", "one_hot"):
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot'}. "
                f"Received: output_mode={output_mode}"
            )
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict:
        return {
            "feature_names": self.feature_names,
            "crossing_dim": self.crossing_dim,
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """One feature: its input ``dtype``, its ``preprocessor`` layer and its ``output_mode``.

    Args:
        dtype: ``"float32"``, ``"int32"`` or ``"string"`` (the dtype of the model input).
        preprocessor: a layer, or its serialized dict.
        output_mode: ``"float"`` (used as is), ``"int"`` or ``"one_hot"``.

    Raises:
        ValueError: an unknown ``output_mode``.

    >>> from lamina.layers import Rescaling
    >>> Feature("float32", Rescaling(0.5), "float").get_config()["output_mode"]
    'float'
    """

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in ("int", "one_hot", "float"):
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of "
                f"{{'int', 'one_hot', 'float'}}. Received: output_mode={output_mode}"
            )
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = _io.deserialize_preprocessor(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self) -> dict:
        return {
            "dtype": self.dtype,
            "preprocessor": _layers.serialize(self.preprocessor),
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register_keras_serializable(package="lamina")
class FeatureSpaceCast(Layer):
    """Casts ids back to int32 inside a model built on ``get_encoded_features()``.

    Lamina feeds numeric inputs, and the ids a lookup computes on the host, to the compiled
    model as float32; ``Hashing`` and ``HashedCrossing`` need the integers back (exact below
    2**24).  Eager calls of the FeatureSpace never need it.

    >>> import numpy as np
    >>> FeatureSpaceCast()(np.array([[3.0]], "float32")).dtype
    dtype('int32')
    """

    def apply(self, params, state, x, *, training=False, key=None):
        return jnp.asarray(x).astype(jnp.int32), state
