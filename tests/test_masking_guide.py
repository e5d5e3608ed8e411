"""The masks of Keras's "Understanding masking & padding" guide: eager outputs of a layer that
splits its input carry one mask each, and symbolic tensors expose ``_keras_mask``; both against
real Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _split_layer(k):
    class TemporalSplit(k.layers.Layer):
        def call(self, inputs):
            return k.ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return k.ops.split(mask, 2, axis=1)

    return TemporalSplit()


def _split_masks(k):
    raw = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    padded = k.utils.pad_sequences(raw, padding="post")
    x = k.ops.cast(k.ops.tile(k.ops.expand_dims(padded, axis=-1), [1, 1, 10]), "float32")
    masked = k.layers.Masking()(x)
    first, second = _split_layer(k)(masked)
    return [np.asarray(first._keras_mask), np.asarray(second._keras_mask)]


def test_eager_outputs_of_a_splitting_layer_carry_their_masks(keras):
    with keras_ref():
        expected = _split_masks(keras)
    got = _split_masks(lamina)
    assert len(got) == 2
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def _symbolic_mask(k):
    inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)(inputs)
    y = k.layers.Dense(3)(inputs[:, :, None] * 1.0)
    return x._keras_mask, getattr(y, "_keras_mask", None)


def test_a_layer_dropping_a_mask_warns_as_keras_does():
    inputs = lamina.Input(shape=(None,), dtype="int32")
    x = lamina.layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)(inputs)
    with pytest.warns(UserWarning, match="does not support masking and will therefore destroy"):
        y = lamina.layers.Conv1D(2, 3, padding="same")(x)
    assert y._keras_mask is None


def test_symbolic_tensors_expose_their_mask(keras):
    with keras_ref():
        k_mask, k_none = _symbolic_mask(keras)
    mask, none = _symbolic_mask(lamina)
    assert (tuple(mask.shape), str(mask.dtype)) == (tuple(k_mask.shape), str(k_mask.dtype))
    assert none is None and k_none is None


@pytest.mark.parametrize("pass_mask", [True, False])
def test_a_masked_model_runs_the_guides_layers(keras, pass_mask):
    """The guide's ``MyActivation`` passes the mask on to an LSTM; outputs match Keras with
    the same weights."""

    def build(k):
        class MyActivation(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = pass_mask

            def call(self, inputs):
                return k.ops.relu(inputs)

        inputs = k.Input(shape=(None,), dtype="int32")
        x = k.layers.Embedding(input_dim=20, output_dim=4, mask_zero=True)(inputs)
        x = MyActivation()(x)
        return k.Model(inputs, k.layers.LSTM(3)(x))

    tokens = np.array([[3, 4, 0, 0], [5, 6, 7, 0]], "int32")
    with keras_ref():
        ref = build(keras)
        expected = np.asarray(ref(tokens))
        weights = ref.get_weights()
    model = build(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(np.asarray(model(tokens)), expected, rtol=1e-5, atol=1e-6)


def _between(k, kind):
    """A layer between ``Embedding(mask_zero=True)`` and an LSTM; Keras 3 passes the mask on
    only through layers that support masking."""
    layers = k.layers

    class Plain(layers.Layer):
        def call(self, x):
            return x * 2.0

    class Passing(Plain):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

    return {
        "dense": lambda: layers.Dense(4),
        "dropout": lambda: layers.Dropout(0.5),
        "spatial_dropout": lambda: layers.SpatialDropout1D(0.3),
        "layer_norm": lambda: layers.LayerNormalization(),
        "activation": lambda: layers.Activation("tanh"),
        "conv_same": lambda: layers.Conv1D(4, 3, padding="same"),
        "conv_valid": lambda: layers.Conv1D(4, 2),
        "zero_padding": lambda: layers.ZeroPadding1D(0),
        "plain_custom": Plain,
        "passing_custom": Passing,
    }[kind]()


KINDS = ["dense", "dropout", "spatial_dropout", "layer_norm", "activation", "conv_same",
         "conv_valid", "zero_padding", "plain_custom", "passing_custom"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("api", ["functional", "sequential"])
def test_which_layers_pass_a_mask_on_matches_keras(keras, kind, api):
    def build(k):
        if api == "sequential":
            return k.Sequential([
                k.Input((4,), dtype="int32"),
                k.layers.Embedding(20, 4, mask_zero=True),
                _between(k, kind),
                k.layers.LSTM(3),
            ])
        inputs = k.Input((4,), dtype="int32")
        x = k.layers.Embedding(20, 4, mask_zero=True)(inputs)
        x = _between(k, kind)(x)
        return k.Model(inputs, k.layers.LSTM(3)(x))

    tokens = np.array([[3, 4, 0, 0], [5, 6, 7, 0], [1, 2, 3, 4]], "int32")
    with keras_ref():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = build(keras)
            expected = np.asarray(ref.predict(tokens, verbose=0))
        weights = ref.get_weights()
    model = build(lamina)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(tokens, verbose=0), expected, rtol=1e-5, atol=1e-6)
