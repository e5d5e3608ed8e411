"""Keras 1/2 layer spellings (``lamina.layers.legacy_args``): each old call builds the same
layer as its Keras 2/3 spelling (the translation of Keras 2's ``legacy/interfaces.py``), warns,
and computes what Keras 3 computes for the modern spelling."""

import warnings

import jax
import numpy as np
import pytest

from lamina import layers as L
from lamina import regularizers
from lamina.layers import legacy_args
from tests.helpers import keras_ref


def _config(layer):
    return {k: v for k, v in layer.get_config().items() if k != "name"}


def _quiet(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


PAIRS = [
    (lambda: L.Convolution2D(8, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th",
                             init="he_normal", W_regularizer=regularizers.l2(0.01), bias=False,
                             input_shape=(1, 8, 8)),
     lambda: L.Conv2D(8, (3, 3), padding="same", strides=(2, 2), data_format="channels_first",
                      kernel_initializer="he_normal", kernel_regularizer=regularizers.l2(0.01),
                      use_bias=False, input_shape=(1, 8, 8))),
    (lambda: L.Conv2D(4, 5, 3, activation="relu"), lambda: L.Conv2D(4, (5, 3), activation="relu")),
    (lambda: L.Conv2D(4, 5, nb_col=3), lambda: L.Conv2D(4, (5, 3))),
    (lambda: L.Conv2D(nb_filter=4, nb_row=2, nb_col=3), lambda: L.Conv2D(4, (2, 3))),
    (lambda: L.Convolution1D(nb_filter=6, filter_length=3, subsample_length=2, border_mode="same",
                             input_dim=5, input_length=10),
     lambda: L.Conv1D(6, 3, strides=2, padding="same", input_shape=(10, 5))),
    (lambda: L.MaxPooling1D(pool_length=3, stride=1, border_mode="same"),
     lambda: L.MaxPooling1D(pool_size=3, strides=1, padding="same")),
    (lambda: L.AveragePooling2D((2, 2), border_mode="valid", dim_ordering="tf"),
     lambda: L.AveragePooling2D((2, 2), padding="valid", data_format="channels_last")),
    (lambda: L.MaxPooling2D(pool_size=(2, 2), dim_ordering="th"),
     lambda: L.MaxPooling2D(pool_size=(2, 2), data_format="channels_first")),
    (lambda: L.Dense(output_dim=3, input_dim=4, init="normal", W_constraint="non_neg", bias=False),
     lambda: L.Dense(3, input_shape=(4,), kernel_initializer="normal", kernel_constraint="non_neg",
                     use_bias=False)),
    (lambda: L.Dropout(p=0.25), lambda: L.Dropout(0.25)),
    (lambda: L.Embedding(100, 8, input_length=10, dropout=0.2, init="uniform"),
     lambda: L.Embedding(100, 8, embeddings_initializer="uniform", input_shape=(10,))),
    (lambda: L.LSTM(output_dim=4, input_dim=3, input_length=7, consume_less="gpu",
                    dropout_W=0.1, dropout_U=0.2, inner_init="orthogonal",
                    inner_activation="hard_sigmoid", forget_bias_init="one",
                    W_regularizer=regularizers.l2(0.1), U_regularizer=regularizers.l1(0.1)),
     lambda: L.LSTM(4, input_shape=(7, 3), dropout=0.1, recurrent_dropout=0.2,
                    recurrent_initializer="orthogonal", recurrent_activation="hard_sigmoid",
                    unit_forget_bias=True, kernel_regularizer=regularizers.l2(0.1),
                    recurrent_regularizer=regularizers.l1(0.1))),
    (lambda: L.GRU(3, dropout_W=0.5), lambda: L.GRU(3, dropout=0.5)),
    (lambda: L.BatchNormalization(mode=0, axis=1, beta_init="zeros", gamma_init="ones"),
     lambda: L.BatchNormalization(axis=1)),
    (lambda: L.ZeroPadding2D(padding={"top_pad": 1, "bottom_pad": 2, "left_pad": 0,
                                      "right_pad": 1}, dim_ordering="th"),
     lambda: L.ZeroPadding2D(((1, 2), (0, 1)), data_format="channels_first")),
    (lambda: L.ZeroPadding2D(padding=(1, 1)), lambda: L.ZeroPadding2D((1, 1))),
    (lambda: L.UpSampling2D(size=(2, 2), dim_ordering="tf"), lambda: L.UpSampling2D((2, 2))),
    (lambda: L.UpSampling1D(length=3), lambda: L.UpSampling1D(3)),
    (lambda: L.GaussianNoise(sigma=0.3), lambda: L.GaussianNoise(0.3)),
    (lambda: L.SpatialDropout2D(p=0.2, dim_ordering="th"),
     lambda: L.SpatialDropout2D(0.2, data_format="channels_first")),
    (lambda: L.Deconvolution2D(3, 2, 2, output_shape=(None, 4, 4, 3), border_mode="same"),
     lambda: L.Conv2DTranspose(3, (2, 2), padding="same")),
    (lambda: L.Flatten(), lambda: L.Flatten()),
]


@pytest.mark.parametrize("old,new", PAIRS, ids=[str(i) for i in range(len(PAIRS))])
def test_keras1_spelling_builds_the_keras2_layer(old, new):
    layer = _quiet(old)
    modern = new()
    assert type(layer) is type(modern)
    assert _config(layer) == _config(modern)
    assert layer._input_shape_arg == modern._input_shape_arg


def test_each_old_spelling_warns_with_the_new_one():
    with pytest.warns(UserWarning) as record:
        L.Convolution2D(8, 3, 3, border_mode="same")
    messages = " ".join(str(w.message) for w in record)
    assert "kernel_size=(3, 3)" in messages and "padding='same'" in messages
    assert all(w.filename == __file__ for w in record)  # points at the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.Conv2D(8, (3, 3), padding="same")  # the modern call is silent


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="both border_mode= .*and padding="):
        L.Conv2D(8, (3, 3), border_mode="same", padding="valid")
    # Keras 2 refused this; Keras 3 reads (filters, kernel_size, strides), as keras.io's CCT.
    assert tuple(L.Conv2D(8, 3, 3, padding="same").strides) == (3, 3)
    with pytest.raises(ValueError, match=r"mode=2.*not supported"):
        L.BatchNormalization(mode=2)
    with pytest.raises(TypeError, match="keyword arguments only"):
        L.BatchNormalization(1)
    with pytest.raises(ValueError, match="dim_ordering"):
        L.MaxPooling2D(dim_ordering="nchw")
    with pytest.raises(ValueError, match="2 weight"):
        _quiet(lambda: L.Dense(3, weights=[np.ones((4, 3))])).init(jax.random.key(0), (None, 4))
    with pytest.raises(TypeError, match="merges models"):
        L.Merge([None, None], mode="concat")


def test_weights_argument_sets_initial_weights(keras, rng):
    w = rng.normal(size=(10, 4)).astype("f4")
    emb = L.Embedding(10, 4, weights=[w], input_length=3, trainable=False)
    assert emb._input_shape_arg == (3,)  # Keras 2: input_length is the input shape
    params, _ = emb.init(jax.random.key(0), (None, 3))
    np.testing.assert_array_equal(np.asarray(params["embeddings"]), w)
    from lamina.models import Sequential

    model = Sequential([emb, L.Flatten(), L.Dense(1, weights=[np.ones((12, 1)), np.zeros(1)])])
    model.build((None, 3))
    x = np.array([[1, 2, 3]])
    np.testing.assert_allclose(model.predict(x, verbose=0), w[[1, 2, 3]].sum().reshape(1, 1),
                               rtol=1e-5)  # fmt: skip


def test_keras1_conv_net_computes_like_keras3(keras, rng):
    """Convolution2D(..., dim_ordering='th') + MaxPooling2D(dim_ordering='th') against Keras 3
    channels_first layers with the same weights."""
    from lamina.models import Sequential

    model = _quiet(lambda: Sequential([
        L.Convolution2D(4, 3, 3, border_mode="same", input_shape=(1, 6, 6), dim_ordering="th",
                        activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2), dim_ordering="th"),
        L.Flatten(),
        L.Dense(output_dim=2, activation="softmax"),
    ]))  # fmt: skip
    x = rng.normal(size=(3, 1, 6, 6)).astype("f4")
    with keras_ref():
        ref = keras.Sequential([
            keras.Input((1, 6, 6)),
            keras.layers.Conv2D(4, (3, 3), padding="same", data_format="channels_first",
                                activation="relu"),
            keras.layers.MaxPooling2D((2, 2), data_format="channels_first"),
            keras.layers.Flatten(),  # Keras 1/2 Flatten reshaped as stored, whatever the ordering
            keras.layers.Dense(2, activation="softmax"),
        ])  # fmt: skip
        expected = np.asarray(ref(x))
    model.build((None, 1, 6, 6))
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_table_translate_is_pure():
    kwargs = {"pool_length": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert legacy_args.translate("MaxPooling1D", (), kwargs) == ((), {"pool_size": 2})
    assert kwargs == {"pool_length": 2}
