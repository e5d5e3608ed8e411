"""Tied weights against real Keras 3: a custom layer reading another layer's variables in its
``call`` ("Hands-On Machine Learning" ch. 17's ``DenseTranspose``; a language model projecting
onto its ``Embedding`` matrix).  The weight is one variable: listed and counted once, trained
by the sum of both uses' gradients, read fresh by a model holding only the reader (the
decoder alone), saved once and shared again after loading."""

import io
import re

import h5py
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _dense_transpose(lib, spelling="kernel"):
    """The book's ``DenseTranspose``; ``spelling``: ``"book"`` (Keras 2's
    ``self.dense.input_shape[-1]`` and ``self.dense.weights[0]``) or ``"kernel"`` (the 3rd
    edition's ``self.dense.kernel``, which Keras 3 runs)."""

    class DenseTranspose(lib.layers.Layer):
        def __init__(self, dense, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.dense = dense
            self.activation = lib.activations.get(activation)

        def build(self, batch_input_shape):
            if spelling == "book":
                n = self.dense.input_shape[-1]
            else:
                n = self.dense.kernel.shape[0]
            self.biases = self.add_weight(name="bias", shape=(n,), initializer="zeros")
            super().build(batch_input_shape)

        def call(self, inputs):
            w = self.dense.weights[0] if spelling == "book" else self.dense.kernel
            z = lib.ops.matmul(inputs, lib.ops.transpose(w))
            return self.activation(z + self.biases)

        def get_config(self):
            config = super().get_config()
            config["dense"] = lib.saving.serialize_keras_object(self.dense)
            config["activation"] = lib.activations.serialize(self.activation)
            return config

        @classmethod
        def from_config(cls, config):
            config["dense"] = lib.saving.deserialize_keras_object(config["dense"])
            return cls(**config)

    return DenseTranspose


def _tied_autoencoder(lib, spelling="kernel"):
    """``(encoder, decoder, autoencoder)`` as the book builds them (8x8 images)."""
    dt = _dense_transpose(lib, spelling)
    dense_1 = lib.layers.Dense(16, activation="relu")
    dense_2 = lib.layers.Dense(6, activation="relu")
    if spelling == "book":  # Keras 2's ``input_shape=`` on the first layer
        head = [lib.layers.Flatten(input_shape=[8, 8])]
    else:
        head = [lib.Input((8, 8)), lib.layers.Flatten()]
    encoder = lib.Sequential([*head, dense_1, dense_2])
    decoder = lib.Sequential(
        [
            dt(dense_2, activation="relu"),
            dt(dense_1, activation="sigmoid"),
            lib.layers.Reshape([8, 8]),
        ]
    )
    return encoder, decoder, lib.Sequential([encoder, decoder])


def _images(n=32):
    return np.random.default_rng(0).random((n, 8, 8)).astype("float32")


def _param_cells(model) -> list[str]:
    """The ``Param #`` column and the totals of ``model.summary()``."""
    out = io.StringIO()
    model.summary(print_fn=lambda s, **k: out.write(s + "\n"))
    rows = [line.split("│")[-2].strip() for line in out.getvalue().splitlines() if "│" in line]
    totals = re.findall(r"(?:Total|Trainable|Non-trainable) params: ([\d,]+)", out.getvalue())
    return [r for r in rows if r] + totals


@pytest.mark.parametrize("spelling", ["book", "kernel"])
def test_tied_autoencoder_fits_as_keras(keras, spelling):
    x = _images()
    with keras_ref():
        k_enc, k_dec, k_ae = _tied_autoencoder(keras)
        start = k_ae.get_weights()
        k_ae.compile(loss="mse", optimizer=keras.optimizers.Adam(0.01))
        kh = k_ae.fit(x, x, batch_size=8, epochs=3, shuffle=False, verbose=0)
        k_weights = k_ae.get_weights()
        k_codes = k_enc.predict(x[:5], verbose=0)
        k_decoded = k_dec.predict(k_codes, verbose=0)
    enc, dec, ae = _tied_autoencoder(lamina, spelling)
    assert [w.shape for w in ae.get_weights()] == [w.shape for w in start]
    ae.set_weights(start)
    ae.compile(loss="mse", optimizer=lamina.optimizers.Adam(0.01))
    lh = ae.fit(x, x, batch_size=8, epochs=3, shuffle=False, verbose=0)
    # One kernel trained by the encoder's and the decoder's gradients together.
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    for a, b in zip(ae.get_weights(), k_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # The decoder alone reads the encoder's trained kernels, as the shared Keras variables.
    codes = enc.predict(x[:5], verbose=0)
    np.testing.assert_allclose(codes, k_codes, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dec.predict(codes, verbose=0), k_decoded, rtol=1e-4, atol=1e-5)


def test_decoder_alone_follows_later_training():
    x = _images()
    enc, dec, ae = _tied_autoencoder(lamina)
    ae.compile(loss="mse", optimizer="adam")
    ae.fit(x, x, epochs=1, verbose=0)
    codes = enc.predict(x[:4], verbose=0)
    np.testing.assert_allclose(dec.predict(codes, verbose=0), ae.predict(x[:4], verbose=0))
    ae.fit(x, x, epochs=1, verbose=0)  # after the decoder compiled its own program
    codes = enc.predict(x[:4], verbose=0)
    np.testing.assert_allclose(dec.predict(codes, verbose=0), ae.predict(x[:4], verbose=0))
    # Training the decoder alone trains the encoder's kernels too (Keras: one variable).
    dec.compile(loss="mse", optimizer="sgd")
    dec.fit(codes, x[:4], epochs=1, verbose=0)
    np.testing.assert_array_equal(enc.layers[-1].kernel.numpy(), dec.layers[0].dense.kernel.numpy())
    codes = enc.predict(x[:4], verbose=0)  # the encoder's kernels moved with the decoder's fit
    np.testing.assert_allclose(dec.predict(codes, verbose=0), ae.predict(x[:4], verbose=0))


def test_decoder_built_alone_before_nesting_keeps_one_kernel():
    x = _images()
    fresh = _tied_autoencoder(lamina)[2]
    enc, dec, _ = _tied_autoencoder(lamina)
    dec.build((None, 6))  # holds copies of the encoder's kernels while alone
    ae = lamina.Sequential([enc, dec])
    assert [w.shape for w in ae.get_weights()] == [w.shape for w in fresh.get_weights()]
    ae.set_weights(fresh.get_weights())
    for model in (fresh, ae):
        model.compile(loss="mse", optimizer="sgd")
    expected = fresh.fit(x, x, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(
        ae.fit(x, x, epochs=2, shuffle=False, verbose=0).history["loss"], expected, rtol=1e-6
    )
    codes = enc.predict(x[:4], verbose=0)
    np.testing.assert_allclose(dec.predict(codes, verbose=0), ae.predict(x[:4], verbose=0))


def _functional_tied_autoencoder(lib):
    """The book's encoder; a functional decoder, nested in a functional autoencoder."""
    encoder, decoder, _ = _tied_autoencoder(lib)
    dt = type(decoder.layers[0])
    dense_1, dense_2 = encoder.layers[-2], encoder.layers[-1]
    codes = lib.Input((6,))
    h = dt(dense_2, activation="relu")(codes)
    images = lib.layers.Reshape([8, 8])(dt(dense_1, activation="sigmoid")(h))
    decoder = lib.Model(codes, images)
    return encoder, decoder, lib.Model(encoder.input, decoder(encoder.output))


def test_functional_decoder_nested_in_functional_autoencoder(keras):
    x = _images()
    with keras_ref():
        k_enc, k_dec, k_ae = _functional_tied_autoencoder(keras)
        start = k_ae.get_weights()
        n_decoder = len(k_dec.get_weights())
        k_ae.compile(loss="mse", optimizer=keras.optimizers.SGD(0.5))
        kh = k_ae.fit(x, x, batch_size=8, epochs=2, shuffle=False, verbose=0)
    enc, dec, ae = _functional_tied_autoencoder(lamina)
    ae.set_weights(start)
    assert len(dec.get_weights()) == n_decoder  # the decoder lists the encoder's kernels
    ae.compile(loss="mse", optimizer=lamina.optimizers.SGD(0.5))
    lh = ae.fit(x, x, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    for _ in range(2):  # the decoder alone, then after training again
        codes = enc.predict(x[:4], verbose=0)
        np.testing.assert_allclose(dec.predict(codes, verbose=0), ae.predict(x[:4], verbose=0))
        ae.fit(x, x, epochs=1, verbose=0)


def test_standalone_reader_reads_the_layer_as_keras(keras):
    x = np.random.default_rng(4).random((2, 3)).astype("float32")
    kernel = np.arange(12, dtype="float32").reshape(4, 3) / 10
    outs = []
    for lib in (keras, lamina):
        with keras_ref():
            dense = lib.layers.Dense(3)
            dense(np.ones((1, 4), "float32"))  # built standalone
            reader = _dense_transpose(lib)(dense)
            reader(x)
            dense.set_weights([kernel, np.zeros(3)])  # seen by the reader: one variable
            outs.append(([tuple(w.shape) for w in reader.weights], np.asarray(reader(x))))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-6)


def test_weight_lists_counts_and_summary_as_keras(keras):
    with keras_ref():
        k_enc, k_dec, k_ae = _tied_autoencoder(keras)
        k_lists = {
            "ae": [w.shape for w in k_ae.weights],
            "ae_trainable": [w.shape for w in k_ae.trainable_weights],
            "decoder": [w.shape for w in k_dec.weights],
            "reader": [w.shape for w in k_dec.layers[0].weights],
        }
        k_counts = [m.count_params() for m in (k_ae, k_dec, *k_dec.layers)]
        k_summaries = [_param_cells(k_ae), _param_cells(k_dec)]
    enc, dec, ae = _tied_autoencoder(lamina, "book")
    assert [tuple(w.shape) for w in ae.weights] == k_lists["ae"]
    assert [tuple(w.shape) for w in ae.trainable_weights] == k_lists["ae_trainable"]
    assert [tuple(w.shape) for w in dec.weights] == k_lists["decoder"]
    assert [tuple(w.shape) for w in dec.layers[0].weights] == k_lists["reader"]
    assert [m.count_params() for m in (ae, dec, *dec.layers)] == k_counts
    assert [_param_cells(ae), _param_cells(dec)] == k_summaries
    # The reader's weights are the encoder's variables: setting them there is seen here.
    kernel = np.full((16, 6), 0.5, "float32")
    dec.layers[0].set_weights([np.zeros(16), kernel, np.zeros(6)])
    np.testing.assert_array_equal(enc.layers[-1].get_weights()[0], kernel)
    assert len(ae.get_weights()) == len(k_lists["ae"])


def _one_stack(lib, dt):
    dense = lib.layers.Dense(5, activation="relu")
    return lib.Sequential(
        [lib.Input((4, 3)), lib.layers.Flatten(), dense, dt(dense), lib.layers.Reshape([4, 3])]
    )


def _functional(lib, dt):
    dense = lib.layers.Dense(5, activation="tanh")
    inp = lib.Input((12,))
    h = dense(inp)
    h = lib.layers.Dense(5, activation="tanh")(h)
    return lib.Model(inp, dt(dense, activation="sigmoid")(h))


def _subclassed(lib, dt):
    class TiedAE(lib.Model):
        def __init__(self):
            super().__init__()
            self.encode = lib.layers.Dense(5, activation="tanh")
            self.decode = dt(self.encode)

        def call(self, x):
            return self.decode(self.encode(x))

    model = TiedAE()
    model(np.zeros((1, 12), "float32"))  # Keras builds a subclassed model on its first call
    return model


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_reader_and_layer_in_one_model_fit_as_keras(keras, kind):
    make = {"sequential": _one_stack, "functional": _functional, "subclassed": _subclassed}[kind]
    x = np.random.default_rng(1).random((24, 12)).astype("float32")
    if kind == "sequential":
        x = x.reshape(24, 4, 3)
    with keras_ref():
        km = make(keras, _dense_transpose(keras))
        start = km.get_weights()
        km.compile(loss="mse", optimizer=keras.optimizers.SGD(0.5))
        kh = km.fit(x, x, batch_size=6, epochs=3, shuffle=False, verbose=0)
        k_weights = km.get_weights()
        k_paths = [w.shape for w in km.weights]
    spelling = "kernel" if kind == "subclassed" else "book"
    lm = make(lamina, _dense_transpose(lamina, spelling))
    assert [tuple(w.shape) for w in lm.weights] == k_paths  # the kernel once
    lm.set_weights(start)
    lm.compile(loss="mse", optimizer=lamina.optimizers.SGD(0.5))
    lh = lm.fit(x, x, batch_size=6, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    for a, b in zip(lm.get_weights(), k_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_layer_called_again_inside_a_custom_layer_is_shared_as_keras(keras):
    def make(lib):
        class Again(lib.layers.Layer):
            def __init__(self, dense, **kwargs):
                super().__init__(**kwargs)
                self.dense = dense

            def call(self, x):
                return self.dense(x) * 0.5

        dense = lib.layers.Dense(4, activation="tanh")
        inp = lib.Input((4,))
        return lib.Model(inp, Again(dense)(dense(inp)))

    x = np.random.default_rng(5).random((8, 4)).astype("float32")
    with keras_ref():
        km = make(keras)
        start = km.get_weights()
        km.compile(loss="mse", optimizer="sgd")
        kh = km.fit(x, x, batch_size=4, epochs=3, shuffle=False, verbose=0)
    lm = make(lamina)
    lm.set_weights(start)  # the Dense's two weights, once
    lm.compile(loss="mse", optimizer="sgd")
    lh = lm.fit(x, x, batch_size=4, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)


def _tied_output(lib):
    class TiedOutput(lib.layers.Layer):
        """Logits from the embedding matrix (weight-tied language models)."""

        def __init__(self, embedding, **kwargs):
            super().__init__(**kwargs)
            self.embedding = embedding

        def build(self, input_shape):
            n = self.embedding.embeddings.shape[0]
            self.b = self.add_weight(shape=(n,), initializer="zeros", name="b")

        def call(self, x):
            return lib.ops.matmul(x, lib.ops.transpose(self.embedding.embeddings)) + self.b

    return TiedOutput


def _language_model(lib, kind):
    out_layer = _tied_output(lib)
    if kind == "functional":
        embedding = lib.layers.Embedding(20, 6)
        tokens = lib.Input((5,), dtype="int32")
        h = lib.layers.Dense(6, activation="tanh")(embedding(tokens))
        return lib.Model(tokens, out_layer(embedding)(h))

    class LM(lib.Model):
        def __init__(self):
            super().__init__()
            self.embedding = lib.layers.Embedding(20, 6)
            self.mix = lib.layers.Dense(6, activation="tanh")
            self.logits = out_layer(self.embedding)

        def call(self, tokens):
            return self.logits(self.mix(self.embedding(tokens)))

    model = LM()
    model(np.zeros((1, 5), "int32"))
    return model


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_embedding_tied_language_model_fits_as_keras(keras, kind):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 20, (16, 5)).astype("int32")
    y = rng.integers(0, 20, (16, 5)).astype("int32")
    with keras_ref():
        km = _language_model(keras, kind)
        start = km.get_weights()
        km.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=keras.optimizers.SGD(0.5),
        )
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        k_weights = km.get_weights()
        k_count = km.count_params()
    lm = _language_model(lamina, kind)
    lm.set_weights(start)
    lm.compile(
        loss=lamina.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=lamina.optimizers.SGD(0.5),
    )
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert lm.count_params() == k_count
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-5)
    for a, b in zip(lm.get_weights(), k_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _h5_layout(path) -> dict:
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.setdefault(name, getattr(obj, "shape", "group")))
    return out


def test_weights_h5_layout_and_exchange_as_keras(keras, tmp_path):
    x = _images(4)
    with keras_ref():
        _, _, k_ae = _tied_autoencoder(keras)
        k_ae.save_weights(tmp_path / "keras.weights.h5")
        k_out = k_ae.predict(x, verbose=0)
    _, _, ae = _tied_autoencoder(lamina)
    ae.load_weights(tmp_path / "keras.weights.h5")  # the kernels read once, where held
    np.testing.assert_allclose(ae.predict(x, verbose=0), k_out, rtol=1e-5, atol=1e-6)
    ae.save_weights(tmp_path / "lamina.weights.h5")
    assert _h5_layout(tmp_path / "lamina.weights.h5") == _h5_layout(tmp_path / "keras.weights.h5")


def test_subclassed_weights_h5_saves_the_kernel_where_keras_reaches_it_first(keras, tmp_path):
    x = np.random.default_rng(6).random((3, 12)).astype("float32")
    with keras_ref():
        km = _subclassed(keras, _dense_transpose(keras))
        km.save_weights(tmp_path / "keras.weights.h5")  # the kernel under decode/dense
        k_out = km.predict(x, verbose=0)
    lm = _subclassed(lamina, _dense_transpose(lamina))
    lm.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_out, rtol=1e-5, atol=1e-6)
    lm.save_weights(tmp_path / "lamina.weights.h5")

    def datasets(path):
        return {k: v for k, v in _h5_layout(path).items() if v != "group"}

    assert datasets(tmp_path / "lamina.weights.h5") == datasets(tmp_path / "keras.weights.h5")


@pytest.mark.parametrize("make", [_one_stack, _functional], ids=["sequential", "functional"])
def test_keras_archives_round_trip_with_keras(keras, make, tmp_path):
    x = np.random.default_rng(3).random((4, 12)).astype("float32")
    if make is _one_stack:
        x = x.reshape(4, 4, 3)
    k_dt, l_dt = _dense_transpose(keras), _dense_transpose(lamina)
    with keras_ref():
        km = make(keras, k_dt)
        km.save(tmp_path / "keras.keras")
        k_out = km.predict(x, verbose=0)
        n_weights = len(km.weights)
    lm = lamina.saving.load_model(tmp_path / "keras.keras", custom_objects={"DenseTranspose": l_dt})
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_out, rtol=1e-5, atol=1e-6)
    reader = next(la for la in lm.layers if isinstance(la, l_dt))
    assert any(reader.dense is la for la in lm.layers)  # one Dense again, as Keras loads it
    assert len(lm.weights) == n_weights
    lm.save(tmp_path / "lamina.keras")
    with keras_ref():
        back = keras.saving.load_model(
            tmp_path / "lamina.keras", custom_objects={"DenseTranspose": k_dt}
        )
        np.testing.assert_allclose(back.predict(x, verbose=0), k_out, rtol=1e-5, atol=1e-6)
        assert len(back.weights) == n_weights


def test_tied_autoencoder_keras_archive_round_trip(tmp_path):
    x = _images(8)
    enc, dec, ae = _tied_autoencoder(lamina, "kernel")
    ae.compile(loss="mse", optimizer="adam")
    ae.fit(x, x, epochs=1, verbose=0)
    ae.save(tmp_path / "ae.keras")
    dt = type(dec.layers[0])
    loaded = lamina.saving.load_model(tmp_path / "ae.keras", custom_objects={"DenseTranspose": dt})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ae.predict(x, verbose=0), rtol=1e-6)
    l_enc, l_dec = loaded.layers
    assert l_dec.layers[0].dense is l_enc.layers[-1] and l_dec.layers[1].dense is l_enc.layers[-2]
    assert loaded.count_params() == ae.count_params()


def test_reading_a_layer_that_is_never_built_fails_as_keras(keras):
    dt = _dense_transpose(lamina)
    with pytest.raises(AttributeError, match="kernel"):
        lamina.Sequential([lamina.Input((3,)), dt(lamina.layers.Dense(4))])
    with keras_ref(), pytest.raises(AttributeError, match="kernel"):
        keras.Sequential([keras.Input((3,)), _dense_transpose(keras)(keras.layers.Dense(4))])
