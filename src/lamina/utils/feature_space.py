"""``FeatureSpace``: Keras's one-stop preprocessing of structured data, without ``tf.data``.

Each named feature gets a preprocessing layer (``StringLookup``, ``IntegerLookup``,
``Normalization``, ``Discretization``, ``Hashing``, ``Rescaling`` or a layer of your own);
categorical ones are one-hot encoded and pairs of them can be crossed with ``HashedCrossing``.
Outputs follow Keras 3's order: the features sorted by name, then the crosses sorted by name,
concatenated into one float32 vector (``output_mode="concat"``) or kept in a dict.

Where Keras needs a ``tf.data.Dataset``, :meth:`FeatureSpace.adapt` takes a dict of NumPy
arrays or lists, a pandas ``DataFrame``, or an iterable of such dict batches (a list, a
generator, a ``PyDataset``; ``(x, y)`` batches use ``x``).  A dict is cut into batches of 32
rows, as ``tf.data.Dataset.from_tensor_slices(...).batch(32)`` would, so ``Discretization``
learns the same bin boundaries as in Keras.

>>> import numpy as np
>>> from lamina.utils import FeatureSpace
>>> data = {"age": np.array([20.0, 40.0, 60.0]), "sex": np.array(["m", "f", "m"])}
>>> fs = FeatureSpace({"age": "float_normalized", "sex": "string_categorical"})
>>> fs.adapt(data)
>>> np.asarray(fs(data), "float64").round(3).tolist()
[[-1.225, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.225, 0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina import layers as _layers
from lamina.layers.base import Layer
from lamina.utils import feature_space_io as _io
from lamina.utils.feature_space_specs import Cross, Feature, FeatureSpaceCast
from lamina.utils.feature_space_types import _FEATURE_TYPES, FeatureTypesMixin

__all__ = ["Cross", "Feature", "FeatureSpace", "FeatureSpaceCast"]


class FeatureSpace(FeatureTypesMixin, Layer):
    """One-stop preprocessing and encoding of structured data (``keras.utils.FeatureSpace``).

    Args:
        features: dict mapping each feature name to its type: a name
            (``"float"``, ``"float_normalized"``, ``"float_rescaled"``,
            ``"float_discretized"``, ``"integer_categorical"``, ``"string_categorical"``,
            ``"integer_hashed"``, ``"string_hashed"``) or a :class:`Feature` from the class
            methods (``FeatureSpace.string_categorical(max_tokens=10)``...).
        output_mode: ``"concat"`` (one float32 vector) or ``"dict"`` (one entry per feature
            and per cross).
        crosses: feature crosses: :class:`Cross` objects (``FeatureSpace.cross(...)``) or
            tuples of feature names (crossed into ``crossing_dim`` bins).
        crossing_dim: the default number of bins of a cross given as a tuple.
        hashing_dim: the bins of ``"integer_hashed"``/``"string_hashed"`` given by name.
        num_discretization_bins: the bins of ``"float_discretized"`` given by name.
        name: the layer's name.

    Raises:
        ValueError: empty ``features``, an unknown feature type or ``output_mode``, or a cross
            naming an unknown feature.

    >>> import numpy as np
    >>> fs = FeatureSpace({"x": "float", "n": FeatureSpace.integer_categorical()},
    ...                   output_mode="dict")
    >>> fs.adapt({"x": [0.5, 1.5], "n": [3, 7]})
    >>> {k: v.tolist() for k, v in fs({"x": 0.5, "n": 7}).items()}
    {'n': [0.0, 1.0, 0.0], 'x': [0.5]}
    """

    # ------------------------------------------------------------------ construction
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):  # fmt: skip
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        if not isinstance(features, dict):
            raise TypeError(
                "`features` should be a dict mapping feature names to feature types, e.g. "
                f"{{'age': 'float_normalized'}}. Received: {type(features).__name__}"
            )
        if output_mode not in ("dict", "concat"):
            raise ValueError(
                "Invalid value for argument `output_mode`. Expected one of {'dict', 'concat'}. "
                f"Received: output_mode={output_mode}"
            )
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.features = {n: self._standardize_feature(n, v) for n, v in features.items()}
        self.crosses = [self._standardize_cross(c) for c in (crosses or [])]
        self.crosses_by_name = {c.name: c for c in self.crosses}
        self.inputs = {
            n: _layers.Input(shape=(1,), dtype=f.dtype, name=n) for n, f in self.features.items()
        }
        self.preprocessors = {n: f.preprocessor for n, f in self.features.items()}
        self.crossers = {
            c.name: _layers.HashedCrossing(c.crossing_dim, name=c.name) for c in self.crosses
        }
        # A TextVectorization given its vocabulary is not adapted (as Keras).
        self._fixed = {n for n, p in self.preprocessors.items() if _io.has_input_vocabulary(p)}
        self._is_adapted = False
        self._reset_encoders()

    def _reset_encoders(self):
        self.encoded_features = None
        self.one_hot_encoders = {}
        self.concat = None
        self._sublayers_built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return Feature.from_config(_io.unwrap(feature, "Feature"))
        if feature == "float_discretized":
            return self.float_discretized(name=name, num_bins=self.num_discretization_bins)
        if feature in ("integer_hashed", "string_hashed"):
            return getattr(self, feature)(self.hashing_dim, name=name)
        if isinstance(feature, str) and feature in _FEATURE_TYPES:
            return getattr(self, feature)(name=name)
        raise ValueError(
            f"Invalid feature type: {feature!r} (feature {name!r}). Expected a Feature or one of "
            f"{', '.join(_FEATURE_TYPES)}."
        )

    def _standardize_cross(self, cross):
        if isinstance(cross, dict):
            cross = Cross.from_config(_io.unwrap(cross, "Cross"))
        if not isinstance(cross, Cross):
            if not self.crossing_dim:
                raise ValueError(
                    "When specifying `crosses`, the argument `crossing_dim` (dimensionality of "
                    "the crossing space) should be specified as well."
                )
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [n for n in cross.feature_names if n not in self.features]
        if unknown:
            raise ValueError(
                "All features referenced in the `crosses` argument should be present in the "
                f"`features` dict. Received unknown features: {unknown} in cross "
                f"{cross.feature_names}; known features: {sorted(self.features)}"
            )
        return cross

    # ------------------------------------------------------------------ adapt
    def _list_adaptable_preprocessors(self) -> list[str]:
        return [n for n, p in self.preprocessors.items() if n not in self._fixed and
                _io.is_adaptable(p)]  # fmt: skip

    def adapt(self, dataset):
        """Adapts every adaptable preprocessor (lookups, ``Normalization``, ...) to the data.

        Args:
            dataset: a dict of arrays or lists (one entry per feature), a pandas
                ``DataFrame``, or an iterable of such dict batches (a list, a generator, a
                ``PyDataset``; ``(x, y)`` batches use ``x``).

        Raises:
            ValueError: data of another kind, or data lacking a feature to adapt.
        """
        names = self._list_adaptable_preprocessors()
        dtypes = {n: self.features[n].dtype for n in names}
        batches = _io.adapt_batches(dataset, dtypes)
        for n in names:
            self.preprocessors[n].adapt(batches[n])
            _io.sync_adapted_weights(self.preprocessors[n])
        self._is_adapted = True
        self._reset_encoders()  # vocabulary sizes may have changed
        self.get_encoded_features()  # finish building, as Keras does
        self.built = True

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._list_adaptable_preprocessors():
                raise ValueError(
                    "You need to call `.adapt(dataset)` on the FeatureSpace before you can "
                    "start using it."
                )
            self._is_adapted = True

    def _check_if_built(self):
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()

    # ------------------------------------------------------------------ functional API
    def get_inputs(self) -> dict:
        """The dict of ``Input`` tensors (shape ``(None, 1)``), one per feature."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The encoded features (a tensor, or a dict) computed from :meth:`get_inputs`, to
        build a functional model on.

        Raises:
            ValueError: the FeatureSpace needs :meth:`adapt` first, or a feature cannot be
                encoded or concatenated as asked.
        """
        self._check_if_adapted()
        if self.encoded_features is None:
            pre = {}
            for n, x in self.inputs.items():
                layer = self.preprocessors[n]
                if type(layer).__name__ == "Hashing" and "int" in str(self.features[n].dtype):
                    x = FeatureSpaceCast()(x)
                pre[n] = layer(x)
            crossed = self._cross_features(pre, symbolic=True)
            self._build_encoders()
            self.encoded_features = self._merge_features(pre, crossed, symbolic=True)
            self._sublayers_built = True
        return self.encoded_features

    def _output_names(self):
        return sorted(self.features), sorted(self.crosses_by_name)

    def _build_encoders(self):
        names, cross_names = self._output_names()
        specs = [(n, self.features[n], self.preprocessors[n]) for n in names] + [
            (n, self.crosses_by_name[n], self.crossers[n]) for n in cross_names
        ]
        for name, spec, layer in specs:
            dtype = _io.output_dtype(layer, spec)
            if spec.output_mode == "one_hot":
                if dtype != "int32":
                    raise ValueError(
                        f"Feature '{name}' has `output_mode='one_hot'`. Thus its preprocessor "
                        f"should return an integer dtype. Instead it returns a {dtype} dtype."
                    )
                depth = _io.cardinality(layer)
                if depth is None:
                    raise ValueError(
                        f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a "
                        "standard feature and the dimensionality of its output space is not "
                        "known, thus it cannot be one-hot encoded. Try using `output_mode='int'`."
                    )
                self.one_hot_encoders[name] = _layers.CategoryEncoding(
                    num_tokens=depth, output_mode="multi_hot"
                )
            elif self.output_mode == "concat" and dtype != "float32":
                raise ValueError(
                    f"Cannot concatenate features because feature '{name}' has not been encoded "
                    f"(it has dtype {dtype}). Consider using `output_mode='dict'`."
                )

    def _cross_features(self, features, symbolic=False):
        def ids(x):
            return FeatureSpaceCast()(x) if symbolic else x

        return {
            c.name: self.crossers[c.name]([ids(features[n]) for n in c.feature_names])
            for c in self.crosses
        }

    def _merge_features(self, pre, crossed, symbolic=False):
        names, cross_names = self._output_names()
        merged = {}
        for name in names + cross_names:
            value = pre[name] if name in pre else crossed[name]
            encoder = self.one_hot_encoders.get(name)
            if encoder is not None:
                value = encoder(value) if symbolic else _io.host_call(encoder, value)
            merged[name] = value if symbolic else np.asarray(value)
        if self.output_mode == "dict":
            return merged
        values = list(merged.values())
        if not symbolic:
            return np.concatenate([v.astype(np.float32) for v in values], axis=-1)
        if len(values) == 1:
            return values[0]
        self.concat = _layers.Concatenate(axis=-1)
        return self.concat(values)

    # ------------------------------------------------------------------ calls
    def __call__(self, data):
        """Preprocesses and encodes ``data``: a dict of arrays (a batch) or of scalars (one
        sample, returned without the batch axis).

        Raises:
            ValueError: ``data`` is not a dict, lacks a feature or has an unknown one, or the
                FeatureSpace needs :meth:`adapt` first.
        """
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(
                f"A FeatureSpace can only be called with a dict. Received: data={data!r} (of "
                f"type {type(data)})"
            )
        _io.check_names(data, self.features, "the data passed to the FeatureSpace")
        arrays, rebatched = {}, False
        for name, feature in self.features.items():
            x = _io.as_feature_array(name, data[name], feature.dtype)
            if x.ndim == 0:
                x, rebatched = x.reshape(1, 1), True
            elif x.ndim == 1:
                x = x[:, None]
            arrays[name] = x
        pre = {n: _io.host_call(self.preprocessors[n], x) for n, x in arrays.items()}
        crossed = {
            c.name: _io.host_call(self.crossers[c.name], [pre[n] for n in c.feature_names])
            for c in self.crosses
        }
        merged = self._merge_features(pre, crossed)
        if rebatched:
            if self.output_mode == "concat":
                merged = merged[0]
            else:
                merged = {
                    k: v[0] if v.ndim == 2 and v.shape[0] == 1 else v for k, v in merged.items()
                }
        if isinstance(merged, dict):
            return {k: jnp.asarray(v) for k, v in merged.items()}
        return jnp.asarray(merged)

    # ------------------------------------------------------------------ serialization
    def get_config(self) -> dict:
        return {
            "features": {n: _io.wrap(f, "Feature") for n, f in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [_io.wrap(c, "Cross") for c in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self) -> dict:
        return {name: None for name in self.features}

    def build_from_config(self, config):
        """Marks a reloaded FeatureSpace as adapted (its preprocessors carry their state)."""
        del config
        self._is_adapted = True
        self.built = True

    def save(self, filepath):
        """Saves the FeatureSpace to a ``.keras`` file; reload it with
        ``lamina.models.load_model(filepath)``.

        Raises:
            ValueError: ``filepath`` does not end in ``.keras``, or the FeatureSpace needs
                :meth:`adapt` first.
        """
        self._check_if_built()
        _io.save(self, filepath)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}: {type(p).__name__}" for n, p in self.preprocessors.items())
        return f"<FeatureSpace name={self.name!r} output_mode={self.output_mode!r} ({kinds})>"
