"""Keras's feature types, a mixin of :class:`lamina.utils.FeatureSpace`: one class-method
constructor per type (``FeatureSpace.float_normalized()``, ``FeatureSpace.string_categorical(
max_tokens=10)``...), each a :class:`Feature` pairing a preprocessing layer with an output mode,
and the type names a ``features`` dict may give instead.

>>> from lamina.utils import FeatureSpace
>>> feature = FeatureSpace.integer_hashed(num_bins=8, name="zip")
>>> feature.dtype, type(feature.preprocessor).__name__, feature.output_mode
('int32', 'Hashing', 'one_hot')
"""

from __future__ import annotations

from lamina import layers as _layers
from lamina._naming import unique_name
from lamina.utils.feature_space_specs import Cross, Feature

_FEATURE_TYPES = (
    "float float_normalized float_rescaled float_discretized integer_categorical "
    "string_categorical integer_hashed string_hashed"
).split()


class FeatureTypesMixin:
    """The feature-type constructors of :class:`lamina.utils.FeatureSpace` (class methods)."""

    # ------------------------------------------------------------------ feature types
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        """A :class:`Cross` of ``feature_names`` into ``crossing_dim`` bins."""
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        """A :class:`Feature` with a preprocessing layer of your own."""
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        """Float values used as they are."""
        name = name or unique_name("float")
        layer = _layers.Identity(name=f"{name}_preprocessor")
        return Feature("float32", layer, "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        """Float values rescaled as ``x * scale + offset`` (a ``Rescaling`` layer)."""
        name = name or unique_name("float_rescaled")
        layer = _layers.Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor")
        return Feature("float32", layer, "float")

    @classmethod
    def float_normalized(cls, name=None):
        """Float values standardized with the adapted mean and variance (``Normalization``)."""
        name = name or unique_name("float_normalized")
        layer = _layers.Normalization(axis=-1, name=f"{name}_preprocessor")
        return Feature("float32", layer, "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        """Float values bucketed by ``Discretization`` (adapted quantiles or ``bin_boundaries``)."""
        name = name or unique_name("float_discretized")
        layer = _layers.Discretization(
            num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor"
        )
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):  # fmt: skip
        """Integer categories indexed by an adapted ``IntegerLookup``."""
        name = name or unique_name("integer_categorical")
        layer = _layers.IntegerLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices
        )
        return Feature("int32", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):  # fmt: skip
        """String categories indexed by an adapted ``StringLookup``."""
        name = name or unique_name("string_categorical")
        layer = _layers.StringLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens, num_oov_indices=num_oov_indices
        )
        return Feature("string", layer, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        """Strings hashed into ``num_bins`` bins (``Hashing``)."""
        name = name or unique_name("string_hashed")
        return Feature("string", _layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)  # fmt: skip

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        """Integers hashed into ``num_bins`` bins (``Hashing``)."""
        name = name or unique_name("integer_hashed")
        return Feature("int32", _layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)  # fmt: skip
