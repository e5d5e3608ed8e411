"""Chapters 14-17 of "Hands-On Machine Learning" against real Keras: a custom RNN cell calling a
built-in cell as ``cell(inputs, states)`` (the layer-normalized ``LNSimpleRNNCell``), the
parameter counts ``summary()`` prints for a stateful RNN (char-RNN), and the 2nd edition's VAE
``Sampling`` layer drawing unseeded ``K.random_normal`` numbers (Keras 2; Keras 3 refuses)."""

import io

import numpy as np

import lamina
from tests.helpers import keras_ref


def _ln_cell_model(lib):
    """Chapter 15's ``LNSimpleRNNCell`` inside ``RNN``, written against ``lib``."""

    class LNSimpleRNNCell(lib.layers.Layer):
        def __init__(self, units, activation="tanh", **kwargs):
            super().__init__(**kwargs)
            self.state_size = units
            self.output_size = units
            self.simple_rnn_cell = lib.layers.SimpleRNNCell(units, activation=None)
            self.layer_norm = lib.layers.LayerNormalization()
            self.activation = lib.activations.get(activation)

        def call(self, inputs, states):
            outputs, new_states = self.simple_rnn_cell(inputs, states)
            norm_outputs = self.activation(self.layer_norm(outputs))
            return norm_outputs, [norm_outputs]

    return lib.Sequential(
        [
            lib.Input((None, 1)),
            lib.layers.RNN(LNSimpleRNNCell(4), return_sequences=True),
            lib.layers.Dense(2),
        ]
    )


def test_custom_cell_calls_builtin_cell_with_states(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5, 1)).astype("float32")
    y = rng.normal(size=(8, 5, 2)).astype("float32")
    with keras_ref():
        km = _ln_cell_model(keras)
        km(x[:1])  # Keras creates the cell's sub-layer weights at the first call
        start = [w * 0 + rng.normal(size=w.shape).astype("float32") for w in km.get_weights()]
        km.set_weights(start)
        km.compile(optimizer="sgd", loss="mse")
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm = _ln_cell_model(lamina)
    assert [w.shape for w in lm.get_weights()] == [w.shape for w in start]
    lm.set_weights(start)
    lm.compile(optimizer="sgd", loss="mse")
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_builtin_cells_called_eagerly_as_keras(keras):
    x = np.ones((2, 4), "float32")
    s = np.zeros((2, 3), "float32")
    for lib in (keras, lamina):
        with keras_ref():
            cell = lib.layers.SimpleRNNCell(3)
            out, new = cell(x, s)  # a tensor state comes back a tensor
            assert out.shape == (2, 3) and not isinstance(new, list)
            out, new = cell(x, states=[s], training=True)
            assert isinstance(new, list) and new[0].shape == (2, 3)
    out, new = lamina.layers.GRUCell(3)(x, s)
    assert out.shape == (2, 3) and not isinstance(new, list)
    out, new = lamina.layers.LSTMCell(3)(x, [s, s])
    assert out.shape == (2, 3) and len(new) == 2


def _summary_counts(model):
    text = io.StringIO()
    model.summary(print_fn=lambda s, **k: text.write(s))
    return [line.strip() for line in text.getvalue().splitlines() if "params:" in line]


def test_stateful_rnn_summary_counts_no_states(keras):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input(batch_shape=(4, None)),
                lib.layers.Embedding(10, 3),
                lib.layers.GRU(5, return_sequences=True, stateful=True),
                lib.layers.Dense(10),
            ]
        )

    with keras_ref():
        want = _summary_counts(build(keras))
    model = build(lamina)
    assert _summary_counts(model) == want
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ids = np.ones((4, 6), "int32")
    model.fit(ids, ids, shuffle=False, verbose=0)  # the states now hold arrays
    assert _summary_counts(model)[1:3] == want[1:3]


def test_vae_sampling_layer_draws_unseeded_numbers():
    K = lamina.backend

    class Sampling(lamina.layers.Layer):
        def call(self, inputs):
            mean, log_var = inputs
            return K.random_normal(lamina.ops.shape(log_var)) * K.exp(log_var / 2) + mean

    inputs = lamina.layers.Input(shape=[4])
    mean = lamina.layers.Dense(2, kernel_initializer="zeros")(inputs)
    log_var = lamina.layers.Dense(2, kernel_initializer="zeros")(inputs)
    codings = Sampling()([mean, log_var])
    vae = lamina.Model(inputs, lamina.layers.Dense(4, activation="sigmoid")(codings))
    vae.add_loss(lamina.ops.mean(lamina.ops.square(mean)))  # the book's latent loss, shortened
    vae.compile(loss="binary_crossentropy", optimizer="sgd")
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    losses = vae.fit(x, x, epochs=2, batch_size=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    encoder = lamina.Model(inputs, codings)
    first = encoder.predict(np.zeros((2000, 4), "float32"), verbose=0)
    again = encoder.predict(np.zeros((2000, 4), "float32"), verbose=0)
    assert not np.allclose(first, again)  # fresh numbers at every call, as Keras 2 drew them
    assert abs(first.std() - 1.0) < 0.1 and abs(first.mean()) < 0.1  # N(mean 0, var e^0)
