"""Keras 1/2 spellings that books and answers use: ``Model(input=, output=)``, a fractional
``steps_per_epoch``, and the global image data format (``set_image_dim_ordering('th')``)
deciding the layers' default ``data_format``."""

import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref


def test_model_input_output_keywords_of_keras_1():
    i = lamina.layers.Input((4,))
    o = lamina.layers.Dense(1)(i)
    with pytest.warns(DeprecationWarning, match="Keras 1's spelling"):
        model = lamina.models.Model(input=i, output=o)
    assert model.predict(np.ones((2, 4), "float32"), verbose=0).shape == (2, 1)
    with pytest.raises(TypeError, match="both inputs= and Keras 1's input="):
        lamina.models.Model(inputs=i, input=i, outputs=o)


def test_fractional_steps_per_epoch_means_one_more_step():
    """Keras 2's ImageDataGenerator example: ``steps_per_epoch=len(x) / 32``."""
    x = np.random.default_rng(0).random((40, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def batches():
        while True:
            for s in range(0, 40, 16):
                yield x[s : s + 16], y[s : s + 16]

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    cb = lamina.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model.fit(batches(), steps_per_epoch=len(x) / 16, epochs=1, verbose=0, callbacks=[cb])
    assert seen == [0, 1, 2]
    with pytest.raises(ValueError, match="positive integer"):
        model.fit(batches(), steps_per_epoch=-1.5, epochs=1, verbose=0)


def _formats(k):
    L = k.layers
    layers = [
        L.Conv2D(4, 3), L.Conv1D(2, 3), L.MaxPooling2D(), L.GlobalAveragePooling2D(),
        L.UpSampling2D(), L.ZeroPadding2D(), L.Flatten(), L.SeparableConv2D(2, 3),
        L.Conv2DTranspose(2, 3), L.RandomFlip(), L.SpatialDropout2D(0.1),
    ]  # fmt: skip
    return [layer.data_format for layer in layers]


def test_global_image_data_format_is_the_layers_default(keras):
    try:
        with keras_ref():
            keras.config.set_image_data_format("channels_first")
            expected = _formats(keras)
        K.set_image_dim_ordering("th")
        assert _formats(lamina) == expected == ["channels_first"] * len(expected)
        # The Keras 1 MNIST convnet with 'th' ordering: images as (1, 28, 28).
        model = lamina.models.Sequential()
        with pytest.warns(UserWarning, match="Keras 1 spelling"):
            model.add(lamina.layers.Convolution2D(4, 3, 3, input_shape=(1, 12, 12)))
        model.add(lamina.layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(lamina.layers.Flatten())
        model.add(lamina.layers.Dense(2, activation="softmax"))
        model.compile("sgd", "categorical_crossentropy")
        x = np.random.default_rng(1).random((8, 1, 12, 12)).astype("float32")
        model.fit(x, np.eye(2)[np.arange(8) % 2], epochs=1, verbose=0)
        assert model.output_shape == (None, 2)
        assert model.layers[0].output_shape == (None, 4, 10, 10)
    finally:
        K.set_image_dim_ordering("tf")
        with keras_ref():
            keras.config.set_image_data_format("channels_last")
    assert lamina.layers.Conv2D(4, 3).data_format == "channels_last"


def test_a_list_holding_the_one_input_array(keras):
    """``model.predict([X])`` on a one-input model, as Keras 2 code writes it."""
    x = np.linspace(0, 1, 20, dtype="float32").reshape(4, 5)

    def run(k):
        seq = k.Sequential([k.Input((5,)), k.layers.Dense(1, kernel_initializer="ones")])
        seq.compile("sgd", "mse")
        seq.fit([x], np.ones((4, 1)), epochs=1, verbose=0, shuffle=False)
        i = k.Input((5,))
        func = k.Model(i, k.layers.Dense(2, kernel_initializer="ones")(i))
        return seq.predict([x], verbose=0), func.predict([x], verbose=0)

    with keras_ref():
        expected = run(keras)
    for got, want in zip(run(lamina), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_k_function_with_the_learning_phase_input():
    """The "output of every layer" answer: ``K.function([model.input, K.learning_phase()],
    [layer.output])`` called with 0 (test) or 1 (train: dropout active)."""
    model = lamina.models.Sequential(
        [
            lamina.layers.Dense(4, input_shape=(8,), kernel_initializer="ones"),
            lamina.layers.Dropout(0.5),
        ]
    )
    f = K.function([model.input, K.learning_phase()], [model.layers[1].output])
    x = np.ones((64, 8), "float32")
    np.testing.assert_array_equal(f([x, 0])[0], np.full((64, 4), 8.0))
    trained = f([x, 1])[0]
    assert set(np.unique(trained)) == {0.0, 16.0}  # dropped, or scaled by 1 / (1 - 0.5)
    with pytest.raises(ValueError, match="learning phase"):
        f([x])


def test_time_distributed_dense_is_keras2s_time_distributed_dense(keras):
    """Keras 1's char-RNN tutorials: ``LSTM(..., return_sequences=True)`` then
    ``TimeDistributedDense(vocab)``; Keras 2 replaced it by ``TimeDistributed(Dense(vocab))``."""
    import warnings

    from lamina.layers.core import TimeDistributedDense as FromCore

    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    with pytest.warns(UserWarning, match=r"TimeDistributed\(Dense\(units\)\)"):
        layer = lamina.layers.TimeDistributedDense(
            4, input_dim=3, input_length=5, init="normal", W_regularizer=lamina.regularizers.l2(0.1),
            bias=True, weights=[w, b], activation="tanh", name="tdd")
    assert FromCore is lamina.layers.TimeDistributedDense
    model = lamina.Sequential([layer])
    assert model.input_shape == (None, 5, 3) and model.output_shape == (None, 5, 4)
    assert layer.name == "tdd" and layer.layer.kernel_regularizer is not None
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    with keras_ref():
        ref = keras.Sequential([keras.Input((5, 3)), keras.layers.TimeDistributed(
            keras.layers.Dense(4, activation="tanh"))])
        ref.set_weights([w, b])
        want = np.asarray(ref(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = lamina.Sequential([
            lamina.layers.LSTM(8, return_sequences=True, input_shape=(6, 5)),
            lamina.layers.TimeDistributedDense(5),
            lamina.layers.Activation("softmax"),
        ])
    seq.compile("rmsprop", "categorical_crossentropy")
    y = np.eye(5)[rng.integers(0, 5, (4, 6))]
    seq.fit(rng.normal(size=(4, 6, 5)), y, nb_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="needs input_dim= too"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lamina.layers.TimeDistributedDense(4, input_length=5)


def test_cudnn_recurrent_layers_are_keras_lstm_and_gru(keras):
    """Keras 2's ``CuDNNLSTM``/``CuDNNGRU`` (Kaggle kernels): cuDNN's maths is Keras 3's
    ``LSTM`` (sigmoid gates) and ``GRU(reset_after=True)``; the same weights give Keras's output."""
    from lamina.layers import CuDNNGRU, CuDNNLSTM

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 5)).astype("float32")
    for ours, theirs in ((CuDNNLSTM(4, return_sequences=True), keras.layers.LSTM),
                         (CuDNNGRU(4, return_sequences=True), keras.layers.GRU)):
        model = lamina.Sequential([lamina.Input((6, 5)), ours])
        with keras_ref():
            ref = keras.Sequential([keras.Input((6, 5)), theirs(4, return_sequences=True)])
            ref.set_weights(model.get_weights())
            want = np.asarray(ref(x))
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="activation"):
        CuDNNLSTM(4, activation="relu")  # CuDNNLSTM has no activation to choose (Keras 2)


def test_keras1_merge_layer_on_tensors_is_the_keras2_merge_layer(keras):
    """Keras 1's ``Merge(mode=...)([a, b])`` in the functional API: the Keras 2 layer of the
    mode, with Keras's numbers; merging Sequential branches without input shapes says so
    (tests/test_keras1_merge_sequential.py tests merged branches)."""
    rng = np.random.default_rng(5)
    a_in, b_in = lamina.Input((3,)), lamina.Input((3,))
    xa, xb = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(2, 3)).astype("float32")
    for mode, ref in (("concat", keras.layers.Concatenate(axis=1)), ("sum", keras.layers.Add()),
                      ("mul", keras.layers.Multiply()), ("ave", keras.layers.Average()),
                      ("max", keras.layers.Maximum()),
                      ("cos", keras.layers.Dot(axes=1, normalize=True))):
        merged = lamina.layers.Merge(mode=mode, concat_axis=1, dot_axes=1)([a_in, b_in])
        model = lamina.Model([a_in, b_in], merged)
        with keras_ref():
            want = np.asarray(ref([xa, xb]))
        np.testing.assert_allclose(model.predict([xa, xb], verbose=0), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no input shape yet"):
        lamina.layers.Merge([lamina.Sequential(), lamina.Sequential()], mode="concat")
    with pytest.raises(ValueError, match="unknown mode 'median'"):
        lamina.layers.Merge(mode="median")
