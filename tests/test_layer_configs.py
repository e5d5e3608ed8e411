"""Layer configs against Keras 3: built-in layers' derived configs, user layers' automatic ones.

Every public layer class that Lamina and Keras 3 both have, built with simple arguments, must
give Keras's ``get_config()`` (same keys, same values once tuples/lists are equated; ``dtype``
is Lamina's ``"float32"`` string where Keras writes a policy dict) and rebuild from it.
"""

import warnings

import jax
import numpy as np
import pytest

import lamina
from lamina.layers.weight_specs import WeightSpec
from tests.helpers import keras_ref

#: Positional arguments for classes whose constructor requires some.
ARGS = {
    "Activation": ("relu",),
    "AdaptiveAveragePooling1D": (4,),
    "AdaptiveAveragePooling2D": (4,),
    "AdaptiveAveragePooling3D": (4,),
    "AdaptiveMaxPooling1D": (4,),
    "AdaptiveMaxPooling2D": (4,),
    "AdaptiveMaxPooling3D": (4,),
    "AveragePooling1D": (2,),
    "AveragePooling2D": (2,),
    "AveragePooling3D": (2,),
    "AvgPool1D": (2,),
    "AvgPool2D": (2,),
    "AvgPool3D": (2,),
    "CategoryEncoding": (5,),
    "CenterCrop": (4, 4),
    "Conv1D": (2, 3),
    "Conv1DTranspose": (2, 3),
    "Conv2D": (2, 3),
    "Conv2DTranspose": (2, 3),
    "Conv3D": (2, 3),
    "Conv3DTranspose": (2, 3),
    "ConvLSTM1D": (2, 3),
    "ConvLSTM2D": (2, 3),
    "ConvLSTM3D": (2, 3),
    "Convolution1D": (2, 3),
    "Convolution1DTranspose": (2, 3),
    "Convolution2D": (2, 3),
    "Convolution2DTranspose": (2, 3),
    "Convolution3D": (2, 3),
    "Convolution3DTranspose": (2, 3),
    "Dense": (3,),
    "DepthwiseConv1D": (3,),
    "DepthwiseConv2D": (3,),
    "Dot": (1,),
    "Dropout": (0.5,),
    "EinsumDense": ("ab,bc->ac", 4),
    "Embedding": (10, 4),
    "GRU": (3,),
    "GRUCell": (3,),
    "GaussianDropout": (0.1,),
    "GaussianNoise": (0.1,),
    "AlphaDropout": (0.1,),
    "HashedCrossing": (8,),
    "Hashing": (8,),
    "LSTM": (3,),
    "LSTMCell": (3,),
    "MultiHeadAttention": (2, 4),
    "Permute": ((2, 1),),
    "RandomBrightness": (0.2,),
    "RandomColorDegeneration": (0.2,),
    "RandomContrast": (0.2,),
    "RandomCrop": (4, 4),
    "RandomHue": (0.2,),
    "RandomPosterization": (4,),
    "RandomRotation": (0.2,),
    "RandomSaturation": (0.2,),
    "RandomSharpness": (0.2,),
    "RandomTranslation": (0.2, 0.2),
    "RandomZoom": (0.2,),
    "RepeatVector": (3,),
    "Rescaling": (0.5,),
    "Reshape": ((2, 3),),
    "MaxNumBoundingBoxes": (4,),
    "Resizing": (4, 4),
    "ReversibleEmbedding": (10, 4),
    "SeparableConv1D": (2, 3),
    "SeparableConv2D": (2, 3),
    "SeparableConvolution1D": (2, 3),
    "SeparableConvolution2D": (2, 3),
    "SimpleRNN": (3,),
    "SimpleRNNCell": (3,),
    "SpatialDropout1D": (0.1,),
    "SpatialDropout2D": (0.1,),
    "SpatialDropout3D": (0.1,),
}

#: Keyword arguments for classes whose default would not compare.
KWARGS = {"RandomCrop": {"seed": 1}}  # Keras draws a random seed into the config for None

#: Classes left out of the comparison, and why.
EXCEPTIONS = {
    "Hashing": "Keras's needs TensorFlow (not installed)",
    "HashedCrossing": "Keras's needs TensorFlow (not installed)",
    "EinsumDense": "known gap: its config lacks Keras 3's activity_regularizer and "
    "quantization_config keys and writes output_shape as a list (einsum_dense.py keeps a "
    "hand-written get_config)",
    "MultiHeadAttention": "known gap: its config lacks Keras 3.12's sliding_window and use_gate "
    "(Lamina has neither argument) and activity_regularizer",
    "InputLayer": "Keras needs shape=; its config is compared in test_functional_saving",
    "Lambda": "holds a function (its config is a marshalled function, compared in its tests)",
    "Layer": "the abstract base (its automatic config is tested below)",
    "Wrapper": "abstract; TimeDistributed/Bidirectional are compared in test_wrappers",
    "TimeDistributed": "needs a wrapped layer (nested config; compared in test_wrappers)",
    "Bidirectional": "needs a wrapped layer (nested config; compared in test_wrappers)",
    "RNN": "needs a cell (nested config; compared in test_rnn_api)",
    "StackedRNNCells": "needs cells (nested config; compared in test_rnn_api)",
    "SpectralNormalization": "needs a wrapped layer (nested config)",
    "Pipeline": "needs layers (nested config)",
    "FlaxLayer": "needs a Flax module",
    "JaxLayer": "needs a function",
    "GroupQueryAttention": "three required sizes; compared in test_layers_attention",
    "Discretization": "Keras needs bin_boundaries or num_bins; compared in its tests",
    "IntegerLookup": "Keras's needs TensorFlow (not installed)",
    "StringLookup": "Keras's needs TensorFlow (not installed)",
    "TextVectorization": "Keras's needs TensorFlow (not installed)",
}


def _common_layer_names():
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    names = []
    for name in sorted(dir(lamina.layers)):
        ours, theirs = getattr(lamina.layers, name, None), getattr(keras.layers, name, None)
        if isinstance(ours, type) and isinstance(theirs, type):
            if issubclass(theirs, keras.layers.Layer) and name not in EXCEPTIONS:
                names.append(name)
    return names


def _norm(value):
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _comparable(config):
    config = _norm(config)
    config.pop("dtype", None)  # Lamina writes "float32"; Keras a DTypePolicy dict
    return config


@pytest.mark.parametrize("name", _common_layer_names())
def test_builtin_config_equals_keras(keras, name):
    args, kwargs = ARGS.get(name, ()), KWARGS.get(name, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with keras_ref():
            expected = getattr(keras.layers, name)(*args, name="x", **kwargs).get_config()
        layer = getattr(lamina.layers, name)(*args, name="x", **kwargs)
    config = layer.get_config()
    assert sorted(config) == sorted(expected)
    assert _comparable(config) == _comparable(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = type(layer).from_config(config)
    assert _comparable(again.get_config()) == _comparable(config)


#: Layers with derived configs, built with non-default arguments.
VARIANTS = [
    ("Dense", (4,), dict(activation="relu", use_bias=False, kernel_regularizer="l2",
                         bias_constraint="non_neg", kernel_initializer="he_normal")),
    ("Conv2D", (4, (3, 2)), dict(strides=2, padding="same", data_format="channels_first",
                                 groups=2, activity_regularizer="l1", bias_initializer="ones")),
    ("Conv1D", (4, 3), dict(padding="causal", dilation_rate=2)),
    ("Conv2DTranspose", (4, 3), dict(output_padding=1, strides=2, activation="tanh")),
    ("DepthwiseConv2D", (3,), dict(depth_multiplier=2, depthwise_regularizer="l2")),
    ("SeparableConv2D", (4, 3), dict(pointwise_initializer="zeros", depthwise_constraint="unit_norm")),
    ("MaxPooling2D", (), dict(pool_size=3, strides=1, padding="same")),
    ("GlobalAveragePooling2D", (), dict(keepdims=True, data_format="channels_first")),
    ("BatchNormalization", (), dict(axis=1, momentum=0.9, center=False, gamma_regularizer="l2")),
    ("LayerNormalization", (), dict(axis=[1, 2], epsilon=1e-5, scale=False)),
    ("Embedding", (10, 4), dict(mask_zero=True, embeddings_regularizer="l1")),
    ("Dropout", (0.3,), dict(noise_shape=(None, 1), seed=3)),
    ("ZeroPadding2D", (), dict(padding=((1, 2), (3, 4)))),
    ("Cropping2D", (), dict(cropping=((1, 0), (0, 2)))),
    ("UpSampling2D", (), dict(size=3, interpolation="bilinear")),
    ("SpatialDropout2D", (0.2,), dict(data_format="channels_first")),
    ("ReLU", (), dict(max_value=6.0, negative_slope=0.1)),
    ("PReLU", (), dict(shared_axes=[1, 2], alpha_initializer="ones")),
    ("Softmax", (), dict(axis=[1, 2])),
    ("ActivityRegularization", (), dict(l1=0.1, l2=0.2)),
]  # fmt: skip


@pytest.mark.parametrize("name,args,kwargs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_derived_config_with_arguments_equals_keras(keras, name, args, kwargs):
    with keras_ref():
        expected = getattr(keras.layers, name)(*args, name="x", **kwargs).get_config()
    layer = getattr(lamina.layers, name)(*args, name="x", **kwargs)
    config = layer.get_config()
    assert _comparable(config) == _comparable(expected)
    assert _comparable(type(layer).from_config(config).get_config()) == _comparable(config)


# ---------------------------------------------------------------- user layers: Keras's auto-config
def _user_layers(base):
    class Scale(base.layers.Layer):
        def __init__(self, units=3, mode="a", sizes=(1, 2), **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, x):
            return x @ self.w

    class Holder(base.layers.Layer):
        def __init__(self, obj, **kwargs):
            super().__init__(**kwargs)
            self.obj = obj

        def call(self, x):
            return x

    class Star(base.layers.Layer):
        def __init__(self, *parts, **kwargs):
            super().__init__(**kwargs)

        def call(self, x):
            return x

    class NoKwargs(base.layers.Layer):
        def __init__(self, a=1):
            super().__init__()

        def call(self, x):
            return x

    return Scale, Holder, Star, NoKwargs


def test_user_layer_without_get_config_gets_keras_auto_config(keras):
    with keras_ref():
        k_scale, _, k_star, k_nokw = _user_layers(keras)
        expected = [
            k_scale(4, name="s", trainable=False).get_config(),
            k_scale(units=5, sizes=[1, (2, 3)]).get_config(),
            k_nokw(a=2).get_config(),
            k_star().get_config(),
        ]
    scale, _, star, nokw = _user_layers(lamina)
    got = [
        scale(4, name="s", trainable=False).get_config(),
        scale(units=5, sizes=[1, (2, 3)]).get_config(),
        nokw(a=2).get_config(),
        star().get_config(),
    ]
    for ours, theirs in zip(got, expected):
        ours.pop("name", None), theirs.pop("name", None)  # automatic names differ by counter
        assert _comparable(ours) == _comparable(theirs)
    assert got[0]["units"] == 4 and got[0]["trainable"] is False
    assert "name" not in nokw(a=2).get_config()  # Keras: __init__ cannot take it back


def test_user_layer_with_unserializable_arguments_raises_keras_message(keras):
    _, holder, star, _ = _user_layers(lamina)
    with keras_ref():
        _, k_holder, k_star, _ = _user_layers(keras)
        for layer in (k_holder(object()), k_star(1)):
            with pytest.raises(NotImplementedError):
                layer.get_config()
    with pytest.raises(NotImplementedError, match="non-serializable argument values"):
        holder(object()).get_config()
    with pytest.raises(NotImplementedError, match="variadic positional arguments"):
        star(1).get_config()


def test_auto_config_survives_keras_file_round_trip(tmp_path):
    scale, holder, _, _ = _user_layers(lamina)
    inp = lamina.Input((2,))
    model = lamina.Model(inp, scale(units=5, mode="b")(inp))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = lamina.models.load_model(path, custom_objects={"Scale": scale})
    layer = loaded.layers[-1]
    assert layer.get_config()["units"] == 5 and layer.get_config()["mode"] == "b"
    assert layer.units == 5
    np.testing.assert_allclose(loaded.predict(np.ones((1, 2)), verbose=0).shape, (1, 5))

    bad = lamina.Model(inp, holder(object())(inp))
    with pytest.raises(NotImplementedError, match="must override `get_config\\(\\)`"):
        bad.save(str(tmp_path / "bad.keras"))


def test_user_get_config_override_gets_only_base_entries():
    class WithConfig(lamina.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def get_config(self):
            return {**super().get_config(), "units": self.units}

        def call(self, x):
            return x

    config = WithConfig(3, name="w").get_config()
    assert config == {"name": "w", "trainable": True, "dtype": "float32", "units": 3}


# ---------------------------------------------------------------- declared weights
def test_weight_options_come_from_the_declaration():
    layer = lamina.layers.SeparableConv2D(
        4, 3, depthwise_regularizer="l2", pointwise_constraint="non_neg", use_bias=False
    )
    names = [spec.name for spec in type(layer).weight_specs]
    assert names == ["depthwise_kernel", "pointwise_kernel", "bias"]
    regs = layer._weight_regularizers()
    assert regs["pointwise_kernel"] is None and regs["depthwise_kernel"] is not None
    assert layer._weight_constraints()["pointwise_kernel"] is not None
    params, _ = layer.init(jax.random.key(0), (None, 6, 6, 3))
    assert list(params) == ["depthwise_kernel", "pointwise_kernel"]  # use_bias=False: no bias
    penalty = float(layer.regularization_loss(params))
    expected = 0.01 * float(np.sum(np.square(params["depthwise_kernel"])))
    np.testing.assert_allclose(penalty, expected, rtol=1e-6)


def test_optional_weight_keeps_the_other_weights_draws():
    """One key per declared weight, whether or not it exists: use_bias changes no kernel."""
    key = jax.random.key(3)
    with_bias, _ = lamina.layers.Conv2D(4, 3).init(key, (None, 5, 5, 2))
    without, _ = lamina.layers.Conv2D(4, 3, use_bias=False).init(key, (None, 5, 5, 2))
    np.testing.assert_array_equal(with_bias["kernel"], without["kernel"])
    first = jax.random.split(key, 2)[0]
    expected = lamina.initializers.GlorotUniform()((3, 3, 2, 4), "float32", key=first)
    np.testing.assert_array_equal(with_bias["kernel"], expected)


def test_declared_weights_take_keras2_initial_weights():
    kernel = np.arange(27, dtype="float32").reshape(3, 3, 3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = lamina.layers.DepthwiseConv2D(3, weights=[kernel, np.zeros(3, "float32")])
    params, _ = layer.init(jax.random.key(0), (None, 5, 5, 3))
    np.testing.assert_array_equal(params["kernel"], kernel)


def test_weight_spec_state_weights_go_to_state():
    class Counter(lamina.layers.Layer):
        weight_specs = (
            WeightSpec("w", lambda layer, s: (s[-1],)),
            WeightSpec("count", lambda layer, s: (), trainable=False, regularized=False),
        )

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w_initializer = lamina.initializers.get("ones")
            self.w_regularizer = self.w_constraint = None
            self.count_initializer = lamina.initializers.get("zeros")

        def apply(self, params, state, x, *, training=False, key=None):
            return x * params["w"], state

    params, state = Counter().init(jax.random.key(0), (None, 3))
    assert list(params) == ["w"] and list(state) == ["count"]
    np.testing.assert_array_equal(params["w"], np.ones(3))
    assert Counter()._weight_regularizers() == {"w": None}
