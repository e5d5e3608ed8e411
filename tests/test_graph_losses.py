"""Keras 2's ``model.add_loss(symbolic_tensor)`` on a functional model (Keras 3 refuses it).

Reference: Keras 3 trains the same loss added from a layer's ``call`` (``add_loss`` terms are
summed into the loss the same way); Keras 2's VAE example is the user code.
"""

import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina import layers
from lamina.models import Model
from tests.helpers import keras_ref

D, H, Z = 6, 5, 2


def _data(n=48, seed=0):
    return np.random.default_rng(seed).random((n, D)).astype("float32")


def _lamina_vae(sampling=None):
    """Keras 2's VAE example, nested encoder and decoder; ``z = z_mean`` unless ``sampling``."""
    inputs = layers.Input((D,), name="encoder_input")
    h = layers.Dense(H, activation="relu")(inputs)
    z_mean = layers.Dense(Z, name="z_mean")(h)
    z_log_var = layers.Dense(Z, name="z_log_var")(h)
    if sampling is None:
        z = layers.Lambda(lambda a: a[0], output_shape=(Z,), name="z")([z_mean, z_log_var])
    else:
        z = layers.Lambda(sampling, output_shape=(Z,), name="z")([z_mean, z_log_var])
    encoder = Model(inputs, [z_mean, z_log_var, z], name="encoder")
    latent = layers.Input((Z,), name="z_sampling")
    out = layers.Dense(D, activation="sigmoid")(layers.Dense(H, activation="relu")(latent))
    decoder = Model(latent, out, name="decoder")
    outputs = decoder(encoder(inputs)[2])
    vae = Model(inputs, outputs, name="vae_mlp")
    reconstruction = lamina.losses.mse(inputs, outputs) * D
    kl = 1 + z_log_var - K.square(z_mean) - K.exp(z_log_var)
    kl = K.sum(kl, axis=-1) * -0.5
    vae.add_loss(K.mean(reconstruction + kl))
    vae.compile(optimizer="adam")
    return vae, encoder, decoder


def _keras_vae(keras):
    """The same maths in Keras 3: the loss added from a layer's call."""
    ops = keras.ops

    class VAELoss(keras.layers.Layer):
        def call(self, args):
            x, out, z_mean, z_log_var = args
            rec = ops.mean(ops.square(x - out), axis=-1) * D
            kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), -1)
            self.add_loss(ops.mean(rec + kl))
            return out

    dense = [
        keras.layers.Dense(H, activation="relu"),
        keras.layers.Dense(Z),
        keras.layers.Dense(Z),
        keras.layers.Dense(H, activation="relu"),
        keras.layers.Dense(D, activation="sigmoid"),
    ]
    inputs = keras.Input((D,))
    h = dense[0](inputs)
    z_mean, z_log_var = dense[1](h), dense[2](h)
    out = dense[4](dense[3](z_mean))
    model = keras.Model(inputs, VAELoss()([inputs, out, z_mean, z_log_var]))
    model.compile(optimizer="adam")
    return model, dense


def _flat(weights):
    return np.concatenate([w.ravel() for w in weights])


def test_keras2_vae_loss_trains_as_keras_trains_the_same_loss(keras):
    vae, encoder, decoder = _lamina_vae()
    x = _data()
    weights = encoder.get_weights() + decoder.get_weights()  # the five Dense layers in order
    with keras_ref():
        ref, dense = _keras_vae(keras)
        for i, layer in enumerate(dense):
            layer.set_weights(weights[2 * i : 2 * i + 2])
        want = ref.fit(x, epochs=3, batch_size=16, shuffle=False, verbose=0,
                       validation_data=(x[:20], None)).history  # fmt: skip
        want_eval = ref.evaluate(x[:20], verbose=0)
        trained = [w for layer in dense for w in layer.get_weights()]
    got = vae.fit(x, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  validation_data=(x[:20], None)).history  # fmt: skip
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=2e-5)
    np.testing.assert_allclose(got["val_loss"], want["val_loss"], rtol=2e-5)
    np.testing.assert_allclose(vae.evaluate(x[:20], verbose=0), want_eval, rtol=2e-5)
    got_weights = encoder.get_weights() + decoder.get_weights()
    np.testing.assert_allclose(_flat(got_weights), _flat(trained), rtol=1e-4, atol=1e-6)


def test_a_short_last_batch_reduces_over_its_real_rows():
    """``K.mean`` over the batch: the padded rows of a short batch must not count."""
    vae, _, _ = _lamina_vae()
    x = _data(20)
    per_batch = [float(vae.evaluate(x[i : i + 8], verbose=0)) for i in (0, 8, 16)]
    whole = vae.evaluate(x, batch_size=8, verbose=0)
    np.testing.assert_allclose(whole, (8 * per_batch[0] + 8 * per_batch[1] + 4 * per_batch[2]) / 20,
                               rtol=1e-5)  # fmt: skip


def _sampling(args):
    """Keras 2's sampling function, unseeded ``K.random_normal`` included."""
    z_mean, z_log_var = args
    batch = K.shape(z_mean)[0]
    dim = K.int_shape(z_mean)[1]
    epsilon = K.random_normal(shape=(batch, dim))
    return z_mean + K.exp(0.5 * z_log_var) * epsilon


def test_keras2_vae_with_unseeded_sampling_trains_and_draws_fresh_noise():
    # A fixed seed: the fresh noise of four short epochs can outweigh what they learn.
    lamina.utils.set_random_seed(0)
    vae, encoder, _ = _lamina_vae(_sampling)
    x = _data()
    history = vae.fit(x, epochs=12, batch_size=16, verbose=0, validation_data=(x[:16], None))
    loss = history.history["loss"]
    assert np.all(np.isfinite(loss))
    assert np.mean(loss[-3:]) < np.mean(loss[:3])
    # Keras 2 drew new noise at every run of the graph: two predictions differ.
    a, b = encoder.predict(x[:4], verbose=0)[2], encoder.predict(x[:4], verbose=0)[2]
    assert not np.allclose(a, b)
    assert a.shape == (4, Z)


def test_unseeded_noise_differs_between_training_steps():
    inputs = layers.Input((3,))
    noise = layers.Lambda(lambda t: K.random_normal(K.shape(t)))(inputs)
    model = Model(inputs, noise)
    model.add_loss(K.sum(noise) * 0.0)  # a loss from the graph: fit needs no targets
    seen = []

    class Record(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(np.asarray(self.model.predict(np.ones((2, 3)), verbose=0)))

    model.compile(optimizer="sgd")
    model.fit(np.ones((4, 3), "float32"), epochs=1, batch_size=2, verbose=0, callbacks=[Record()])
    assert len(seen) == 2 and not np.allclose(seen[0], seen[1])


def test_a_penalty_on_a_hidden_tensor_is_summed_into_the_compiled_loss(keras):
    x = _data(32)
    y = x[:, :1] * 2.0
    inputs = layers.Input((D,))
    hidden = layers.Dense(H, activation="tanh")(inputs)
    model = Model(inputs, layers.Dense(1)(hidden))
    model.add_loss(0.1 * K.mean(K.square(hidden)))
    model.compile(optimizer="sgd", loss="mse")
    with keras_ref():
        ops = keras.ops

        class Penalty(keras.layers.Layer):
            def call(self, h):
                self.add_loss(0.1 * ops.mean(ops.square(h)))
                return h

        ki = keras.Input((D,))
        kh = Penalty()(keras.layers.Dense(H, activation="tanh")(ki))
        ref = keras.Model(ki, keras.layers.Dense(1)(kh))
        ref.compile(optimizer="sgd", loss="mse")
        ref.set_weights(model.get_weights())
        want = ref.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    got = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_a_loss_from_another_input_is_refused_and_the_model_stays_usable():
    inputs, other = layers.Input((3,)), layers.Input((3,))
    model = Model(inputs, layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="computed from the model's inputs"):
        model.add_loss(K.mean(K.square(other)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)


def test_a_loss_through_a_layer_the_model_does_not_hold_is_refused():
    inputs = layers.Input((3,))
    model = Model(inputs, layers.Dense(1)(inputs))
    stray = layers.Dense(2)(inputs)
    with pytest.raises(ValueError, match="has weights but is not part of model"):
        model.add_loss(K.mean(stray))


def test_a_layer_still_refuses_a_symbolic_loss():
    inputs = layers.Input((3,))
    with pytest.raises(ValueError, match="symbolic tensor"):
        layers.Dense(1).add_loss(K.mean(inputs))


def test_a_layer_reading_a_graph_tensor_from_outside_its_call(keras):
    """"Deep Learning with Python" (1st ed.)'s VAE layer: ``call`` reads the global
    ``z_mean`` / ``z_log_var`` tensors of the graph.  Reference: Keras 3 with the tensors
    passed to the layer as inputs."""
    x = _data(32)
    inputs = layers.Input((D,))
    hidden = layers.Dense(H, activation="tanh")(inputs)
    out = layers.Dense(D)(hidden)

    class Penalized(lamina.layers.Layer):
        def call(self, args):
            target, pred = args
            rec = K.mean(K.square(K.flatten(target) - K.flatten(pred)))
            self.add_loss(rec + 0.1 * K.mean(K.square(hidden)), inputs=args)  # global `hidden`
            return pred

    model = Model(inputs, Penalized()([inputs, out]))
    model.compile(optimizer="sgd", loss=None)
    with keras_ref():
        ops = keras.ops

        class KPenalized(keras.layers.Layer):
            def call(self, args):
                target, pred, h = args
                rec = ops.mean(ops.square(ops.reshape(target, (-1,)) - ops.reshape(pred, (-1,))))
                self.add_loss(rec + 0.1 * ops.mean(ops.square(h)))
                return pred

        ki = keras.Input((D,))
        kh = keras.layers.Dense(H, activation="tanh")(ki)
        ref = keras.Model(ki, KPenalized()([ki, keras.layers.Dense(D)(kh), kh]))
        ref.compile(optimizer="sgd")
        ref.set_weights(model.get_weights())
        want = ref.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
        want_pred = ref.predict(x[:3], verbose=0)
    got = model.fit(x, y=None, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=2e-5)
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), want_pred, rtol=1e-5, atol=1e-6)


def test_a_graph_tensor_read_before_it_is_computed_is_a_clear_error():
    inputs = layers.Input((3,))
    later = layers.Dense(2)  # called after the reading layer

    class Reads(lamina.layers.Layer):
        def call(self, x):
            return x + K.sum(late_tensor) * 0.0

    late_tensor = None
    early = Reads()
    h = layers.Dense(3)(inputs)
    late_tensor = later(h)
    # Keras runs the deepest nodes first: ``early`` sits deeper than ``later``, so it runs
    # before the tensor it reads exists.
    deep = early(inputs)
    for _ in range(4):
        deep = layers.Dense(3)(deep)
    with pytest.raises(ValueError, match="has not computed before that layer runs"):
        Model(inputs, layers.Add()([deep, layers.Dense(3)(late_tensor)]))(np.ones((2, 3)))
