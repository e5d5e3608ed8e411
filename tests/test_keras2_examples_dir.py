"""The constructs of Keras 2's ``examples/`` scripts (keras-team/keras at 2.x) that failed under
``import lamina as keras``, each against a reference: Keras 3 where it runs the same maths,
Keras 2's documented meaning where Keras 3 refuses the code.

* ``model.fit_generator`` on a functional model (cifar10_resnet, cifar10_cnn_capsule);
* ``keras.optimizers.rmsprop(lr=..., decay=...)``, Keras 2's lower-case aliases (cifar10_cnn);
* ``imdb.load_data(nb_words=...)`` / ``reuters.load_data(nb_words=...)`` (imdb_fasttext,
  reuters_mlp of Keras 1);
* ``K.random_normal(..., std=...)`` (Keras 1's variational_autoencoder);
* a loss function closing over graph tensors (the Keras blog's variational autoencoder);
* ``K.gradients`` + ``K.function`` on the graph (conv_filter_visualization, deep_dream,
  neural_style_transfer with ``K.placeholder``, Grad-CAM).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina import layers
from lamina.models import Model
from tests.helpers import keras_ref


def _images(n=12, size=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, size, size, 3)).astype("float32")


# ----------------------------------------------------------------- fit_generator on Model
def _classifier(module):
    inputs = module.Input((6, 6, 3))
    x = module.layers.Dense(4, activation="relu")(module.layers.Flatten()(inputs))
    model = module.Model(inputs, module.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=module.optimizers.SGD(0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    return model


def _batches(x, y, batch):
    while True:
        for i in range(0, len(x), batch):
            yield x[i : i + batch], y[i : i + batch]


def test_fit_generator_on_a_functional_model_trains_as_keras_fit(keras):
    # cifar10_resnet.py: model = Model(inputs, outputs); model.fit_generator(datagen.flow(...))
    x = _images()
    y = np.eye(3, dtype="float32")[np.arange(12) % 3]
    model = _classifier(lamina)
    with keras_ref():
        ref = _classifier(keras)
        ref.set_weights(model.get_weights())
        want = ref.fit(_batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                       validation_data=(x[:6], y[:6])).history  # fmt: skip
        want_eval = ref.evaluate(x, y, verbose=0)
    got = model.fit_generator(_batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                              validation_data=(x[:6], y[:6]), workers=4).history  # fmt: skip
    for name in ("loss", "accuracy", "val_loss"):
        np.testing.assert_allclose(got[name], want[name], rtol=2e-5)
    np.testing.assert_allclose(
        model.evaluate_generator(_batches(x, y, 4), steps=3), want_eval, rtol=2e-5
    )
    np.testing.assert_allclose(
        model.predict_generator(_batches(x, y, 4), steps=3), model.predict(x, verbose=0),
        rtol=1e-6,
    )  # fmt: skip


# ----------------------------------------------------------- keras.optimizers.rmsprop(...)
@pytest.mark.parametrize(
    "alias, name",
    [("sgd", "SGD"), ("rmsprop", "RMSprop"), ("adagrad", "Adagrad"), ("adadelta", "Adadelta"),
     ("adam", "Adam"), ("adamax", "Adamax"), ("nadam", "Nadam")],
)  # fmt: skip
def test_keras2_lower_case_optimizer_aliases(alias, name):
    # Keras 2's keras/optimizers.py: ``rmsprop = RMSprop`` (cifar10_cnn.py calls
    # keras.optimizers.rmsprop(lr=0.0001, decay=1e-6)).
    cls = getattr(lamina.optimizers, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lr= is the Keras 2 spelling
        opt = getattr(lamina.optimizers, alias)(lr=0.01, decay=1e-6)
    assert type(opt) is cls
    want = cls(learning_rate=0.01, decay=1e-6).get_config()
    assert {**opt.get_config(), "name": None} == {**want, "name": None}


def test_keras2_aliases_are_the_classes_and_names_still_resolve():
    assert lamina.optimizers.rmsprop is lamina.optimizers.RMSprop
    assert lamina.optimizers.adam is lamina.optimizers.Adam
    assert lamina.optimizers.get("rmsprop").__class__ is lamina.optimizers.RMSprop


# ------------------------------------------------------------- Keras 1 argument spellings
@pytest.mark.parametrize(
    "data_set", [pytest.param("imdb", marks=pytest.mark.slow), "reuters"]
)  # imdb's 50,000 stand-in reviews take seconds to make
def test_keras1_nb_words_limits_the_vocabulary(data_set):
    # imdb_fasttext.py (Keras 1): imdb.load_data(nb_words=max_features); Keras 2 read it as
    # num_words (Keras 3 ignores it and keeps every word).
    module = getattr(lamina.datasets, data_set)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the stand-in data's notice
        (want, _), (want_test, _) = module.load_data(num_words=50)
    with pytest.warns(UserWarning, match="nb_words=.... is the Keras 1 spelling"):
        (got, _), (got_test, _) = module.load_data(nb_words=50)
    assert max(max(s) for s in got) < 50
    assert all(list(a) == list(b) for a, b in zip(got, want))
    assert all(list(a) == list(b) for a, b in zip(got_test, want_test))


@pytest.mark.parametrize(
    "fn, old, new",
    [("random_normal", {"std": 0.5}, {"stddev": 0.5}),
     ("truncated_normal", {"std": 0.5}, {"stddev": 0.5}),
     ("random_uniform", {"low": -2.0, "high": 3.0}, {"minval": -2.0, "maxval": 3.0})],
)  # fmt: skip
def test_keras1_random_tensor_arguments(fn, old, new):
    # Keras 1's VAE: K.random_normal(shape=(batch_size, latent_dim), mean=0., std=epsilon_std)
    with pytest.warns(UserWarning, match="Keras 1 spelling"):
        got = getattr(K, fn)((4, 3), seed=7, **old)
    np.testing.assert_array_equal(got, getattr(K, fn)((4, 3), seed=7, **new))
    with pytest.raises(TypeError, match="unexpected keyword"):
        getattr(K, fn)((4, 3), sd=1.0)


# --------------------------------------------------- a loss closing over graph tensors
def test_a_loss_function_reading_a_graph_tensor_trains_as_keras_the_same_penalty(keras):
    # The Keras blog's VAE: vae_loss(x, x_decoded_mean) reads z_mean and z_log_var, tensors of
    # the model's graph; Keras 2 computed them from the same batch.  Keras 3 refuses the
    # closure; the same penalty as an activity regularizer (0.1 * sum(h**2) / batch size) is
    # the reference.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = rng.normal(size=(24, 1)).astype("float32")
    inputs = layers.Input((4,))
    hidden = layers.Dense(3, activation="tanh")(inputs)
    model = Model(inputs, layers.Dense(1)(hidden))

    def loss(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1) + 0.1 * K.sum(K.square(hidden), -1)

    model.compile(optimizer="sgd", loss=loss)
    with keras_ref():
        ki = keras.Input((4,))
        kh = keras.layers.Dense(3, activation="tanh", activity_regularizer=keras.regularizers.L2(
            0.1))(ki)  # fmt: skip
        ref = keras.Model(ki, keras.layers.Dense(1)(kh))
        ref.compile(optimizer="sgd", loss="mse")
        ref.set_weights(model.get_weights())
        want = ref.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                       validation_data=(x[:8], y[:8])).history  # fmt: skip
    got = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                    validation_data=(x[:8], y[:8])).history  # fmt: skip
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=2e-5)
    np.testing.assert_allclose(got["val_loss"], want["val_loss"], rtol=2e-5)
    np.testing.assert_allclose(model.get_weights()[0], ref.get_weights()[0], rtol=1e-4)


# ------------------------------------------------------------ K.gradients and K.function
def _keras_conv_net(keras, weights):
    inputs = keras.Input((None, None, 3))
    conv1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    conv2 = keras.layers.Conv2D(5, 3, padding="same", activation="relu")
    model = keras.Model(inputs, conv2(conv1(inputs)))
    model.set_weights(weights)
    return model, conv1, conv2


def _conv_net():
    inputs = layers.Input((None, None, 3))
    c1 = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    c2 = layers.Conv2D(5, 3, padding="same", activation="relu", name="block2_conv1")(c1)
    return Model(inputs, c2)


def test_filter_visualization_gradient_ascent_matches_jax_grad_of_keras(keras):
    # conv_filter_visualization.py: loss = K.mean(layer_output[:, :, :, i]),
    # grads = normalize(K.gradients(loss, input_img)[0]), iterate = K.function(...).
    model = _conv_net()
    input_img = model.input
    layer_output = model.get_layer("block2_conv1").output
    loss = K.mean(layer_output[:, :, :, 2])
    grads = K.gradients(loss, input_img)[0]
    grads = grads / (K.sqrt(K.mean(K.square(grads))) + K.epsilon())
    iterate = K.function([input_img], [loss, grads])
    x = _images(1, 7) + 1.0
    loss_value, grads_value = iterate([x])
    with keras_ref():
        ref, _, _ = _keras_conv_net(keras, model.get_weights())

        def f(v):
            return jnp.mean(ref(v)[:, :, :, 2])

        want_loss, want_grads = jax.value_and_grad(f)(jnp.asarray(x))
        want_grads = want_grads / (jnp.sqrt(jnp.mean(jnp.square(want_grads))) + 1e-7)
    np.testing.assert_allclose(loss_value, want_loss, rtol=1e-5)
    np.testing.assert_allclose(grads_value, want_grads, rtol=1e-4, atol=1e-6)
    grads_value += 1.0  # writable, as a TensorFlow session's results
    # The same function runs on another image size (deep dream's octaves).
    assert iterate([_images(1, 9)])[1].shape == (1, 9, 9, 3)


def test_grad_cam_gradients_with_respect_to_a_layer_output(keras):
    # Deep Learning with Python 5.4.3: grads = K.gradients(class_output, conv.output)[0];
    # pooled = K.mean(grads, axis=(0, 1, 2)); K.function([model.input], [pooled, conv[0]]).
    inputs = layers.Input((6, 6, 3))
    conv = layers.Conv2D(4, 3, activation="relu", name="last_conv")
    c = conv(inputs)
    head = layers.Dense(3, activation="softmax")
    model = Model(inputs, head(layers.Flatten()(c)))
    class_output = model.output[:, 1]
    grads = K.gradients(class_output, conv.output)[0]
    pooled_grads = K.mean(grads, axis=(0, 1, 2))
    iterate = K.function([model.input], [pooled_grads, conv.output[0]])
    x = _images(1)
    pooled, conv_value = iterate([x])
    with keras_ref():
        kc = keras.layers.Conv2D(4, 3, activation="relu")
        kd = keras.layers.Dense(3, activation="softmax")
        ki = keras.Input((6, 6, 3))
        keras.Model(ki, kd(keras.layers.Flatten()(kc(ki))))
        kc.set_weights(conv.get_weights())
        kd.set_weights(head.get_weights())
        want_conv = kc(x)
        want = jax.grad(lambda v: jnp.sum(kd(jnp.reshape(v, (1, -1)))[:, 1]))(want_conv)
    np.testing.assert_allclose(conv_value, want_conv[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled, jnp.mean(want, axis=(0, 1, 2)), rtol=1e-4, atol=1e-7)


def test_deep_dream_loss_from_a_variable_and_symbolic_shapes(keras):
    # deep_dream.py (Keras 2): loss = K.variable(0.); loss += coeff * K.sum(K.square(
    # x[:, 2:-2, 2:-2, :])) / K.prod(K.cast(K.shape(x), 'float32')), on inputs of any size.
    model = _conv_net()
    dream = model.input
    loss = K.variable(0.0)
    coeffs = {"block1_conv1": 0.2, "block2_conv1": 0.5}
    for name, coeff in coeffs.items():
        x = model.get_layer(name).output
        scaling = K.prod(K.cast(K.shape(x), "float32"))
        loss += coeff * K.sum(K.square(x[:, 2:-2, 2:-2, :])) / scaling
    grads = K.gradients(loss, dream)[0]
    grads /= K.maximum(K.mean(K.abs(grads)), K.epsilon())
    fetch = K.function([dream], [loss, grads])
    img = _images(1, 8)
    loss_value, grads_value = fetch([img])
    with keras_ref():
        ref, conv1, conv2 = _keras_conv_net(keras, model.get_weights())

        def f(v):
            total = 0.0
            a = conv1(v)
            for out, coeff in ((a, 0.2), (conv2(a), 0.5)):
                total += coeff * jnp.sum(jnp.square(out[:, 2:-2, 2:-2, :])) / out.size
            return total

        want_loss, want_grads = jax.value_and_grad(f)(jnp.asarray(img))
        want_grads = want_grads / jnp.maximum(jnp.mean(jnp.abs(want_grads)), 1e-7)
    np.testing.assert_allclose(loss_value, want_loss, rtol=1e-5)
    np.testing.assert_allclose(grads_value, want_grads, rtol=1e-4, atol=1e-6)


def test_style_transfer_on_a_placeholder_and_constant_images(keras):
    # neural_style_transfer.py: the combination image is a K.placeholder, the base and style
    # images K.variable()s, concatenated into the network's input_tensor.
    base = K.variable(_images(1, 6, seed=1))
    combination = K.placeholder((1, 6, 6, 3))
    input_tensor = K.concatenate([base, combination], axis=0)
    conv = layers.Conv2D(4, 3, activation="relu", name="block1_conv1")
    features = conv(input_tensor)
    loss = K.variable(0.0)
    loss += K.sum(K.square(features[1, :, :, :] - features[0, :, :, :]))
    loss += 0.5 * K.sum(K.pow(K.square(combination[:, 1:, :, :] - combination[:, :-1, :, :]), 1.25))
    grads = K.gradients(loss, combination)
    f_outputs = K.function([combination], [loss] + grads)
    x = _images(1, 6, seed=2)
    loss_value, grads_value = f_outputs([x])
    with keras_ref():
        kc = keras.layers.Conv2D(4, 3, activation="relu")
        kc.build((None, 6, 6, 3))
        kc.set_weights(conv.get_weights())
        base_features = kc(np.asarray(base))[0]

        def f(v):
            tv = jnp.square(v[:, 1:, :, :] - v[:, :-1, :, :])
            return jnp.sum(jnp.square(kc(v)[0] - base_features)) + 0.5 * jnp.sum(tv**1.25)

        want_loss, want_grads = jax.value_and_grad(f)(jnp.asarray(x))
    np.testing.assert_allclose(loss_value, want_loss, rtol=1e-5)
    np.testing.assert_allclose(grads_value, want_grads, rtol=1e-4, atol=1e-5)


def test_gradients_in_the_training_phase_see_the_forward_pass_dropout_mask():
    # K.function([model.input, K.learning_phase()], ...) with 1: dropout is on, and the
    # gradient differentiates the same draw the outputs came from (NumPy reference).
    inputs = layers.Input((4,))
    first = layers.Dense(6, bias_initializer="ones")
    hidden = first(inputs)
    dropped = layers.Dropout(0.5)(hidden)
    last = layers.Dense(1)
    out = last(dropped)
    grads = K.gradients(K.sum(out), inputs)[0]
    fn = K.function([inputs, K.learning_phase()], [dropped, hidden, grads])
    x = _images(1, 2).reshape(3, 4)
    kept_value, hidden_value, grads_value = fn([x, 1])
    kept = (kept_value != 0).astype("float32")
    assert 0 < kept.sum() < kept.size  # some units dropped, some kept
    np.testing.assert_allclose(kept_value, hidden_value * kept * 2.0, rtol=1e-6)
    w1, w2 = first.get_weights()[0], last.get_weights()[0]
    np.testing.assert_allclose(grads_value, (kept * 2.0 * w2[:, 0]) @ w1.T, rtol=1e-5)


def test_gradients_of_unconnected_tensors_and_clear_errors():
    a, b = layers.Input((2,)), layers.Input((2,))
    loss = layers.Dense(1)(a)  # not a scalar: summed, as tf.gradients does
    grads = K.gradients(loss, [a, b])
    assert grads[1] is None and grads[0].shape == (None, 2)  # tf.gradients' None
    weights = layers.Dense(1)
    weights.build((None, 2))
    with pytest.raises(TypeError, match="with respect to weights.*jax.grad"):
        K.gradients(loss, weights.kernel)
    with pytest.raises(TypeError, match="differentiates a symbolic tensor"):
        K.gradients(np.ones(2), a)
    with pytest.raises(TypeError, match="only with respect to float tensors"):
        K.gradients(loss, layers.Input((2,), dtype="int32"))
    model = Model(a, grads[0])
    with pytest.raises(NotImplementedError, match="K.gradients"):
        model.get_config()


def test_placeholder_shapes_and_errors():
    assert K.placeholder(ndim=3).shape == (None, None, None)
    assert K.placeholder((2, 3), dtype="int32").dtype == "int32"
    with pytest.raises(ValueError, match="needs shape"):
        K.placeholder()
    with pytest.raises(ValueError, match="sparse"):
        K.placeholder((2, 3), sparse=True)


# ----------------------------------------------------------- Keras 2 backend convolutions
def test_backend_convolutions_match_keras_ops(keras):
    # cifar10_cnn_capsule.py: hat_inputs = K.conv1d(inputs, self.kernel) in a custom layer.
    rng = np.random.default_rng(3)
    x1, k1 = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 3, 4))
    x2, k2 = rng.normal(size=(2, 5, 5, 3)), rng.normal(size=(3, 3, 3, 4))
    dk, pk = rng.normal(size=(3, 3, 3, 2)), rng.normal(size=(1, 1, 6, 4))
    x1, k1, x2, k2, dk, pk = (a.astype("float32") for a in (x1, k1, x2, k2, dk, pk))
    got = [
        K.conv1d(x1, k1, strides=2, padding="same"),
        K.conv1d(x1, k1, padding="causal", dilation_rate=2),
        K.conv2d(x2, k2, padding="same"),
        K.depthwise_conv2d(x2, dk, strides=(2, 2)),
        K.separable_conv2d(x2, dk, pk, padding="same"),
        K.pool2d(x2, (2, 2)),  # Keras 2's strides default: (1, 1)
        K.pool2d(x2, (2, 2), strides=(2, 2), padding="same", pool_mode="avg"),
    ]
    with keras_ref():
        ops = keras.ops
        causal = keras.layers.Conv1D(4, 2, padding="causal", dilation_rate=2, use_bias=False)
        causal.build((None, 7, 3))
        causal.set_weights([k1])
        want = [
            ops.conv(x1, k1, strides=2, padding="same"),
            causal(x1),
            ops.conv(x2, k2, padding="same"),
            ops.depthwise_conv(x2, dk, strides=2),
            ops.separable_conv(x2, dk, pk, padding="same"),
            ops.max_pool(x2, (2, 2), strides=(1, 1)),
            ops.average_pool(x2, (2, 2), strides=(2, 2), padding="same"),
        ]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # On symbolic tensors they record a graph node, as the other backend functions do.
    inputs = layers.Input((7, 3))
    out = K.conv1d(inputs, k1, padding="causal", dilation_rate=2)
    np.testing.assert_allclose(Model(inputs, out)(x1), want[1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pool_mode"):
        K.pool2d(x2, (2, 2), pool_mode="min")
    with pytest.raises(ValueError, match="padding"):
        K.conv2d(x2, k2, padding="causal")


# ---------------------------------------------------------------- K.ctc_batch_cost & co.
def _ctc_by_enumeration(probs, label):
    """-log P(label): the sum over every path of the time steps that collapses to ``label``
    (repeats merged, then blanks, the last class, removed)."""
    import itertools

    steps, classes = probs.shape
    blank, total = classes - 1, 0.0
    for path in itertools.product(range(classes), repeat=steps):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(label):
            total += np.prod([probs[t, c] for t, c in enumerate(path)])
    return -np.log(total)


def test_ctc_batch_cost_is_the_ctc_loss_with_the_blank_last():
    # image_ocr.py: Lambda(ctc_lambda_func)([y_pred, labels, input_length, label_length]) with
    # K.ctc_batch_cost(labels, y_pred[:, 2:, :], input_length, label_length).
    rng = np.random.default_rng(5)
    probs = rng.random((3, 5, 3)).astype("float32")
    probs /= probs.sum(-1, keepdims=True)
    labels = np.array([[0, 1, -1], [1, 1, -1], [0, -1, -1]], "float32")  # -1: padding
    label_length = np.array([[2], [2], [1]])
    input_length = np.array([[5], [4], [3]])
    got = K.ctc_batch_cost(labels, probs, input_length, label_length)
    want = [_ctc_by_enumeration(probs[i, : input_length[i, 0]],
                                labels[i, : label_length[i, 0]].astype(int)) for i in range(3)]  # fmt: skip
    assert got.shape == (3, 1)
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-5)


def test_ctc_decode_greedy_as_keras2():
    # Keras 2: best class per step, repeats merged, blanks (last class) dropped, padded with -1
    # to the longest decoding; log_prob is minus the sum of the best log probabilities.
    rng = np.random.default_rng(6)
    probs = rng.random((3, 6, 4)).astype("float32")
    probs /= probs.sum(-1, keepdims=True)
    lengths = np.array([6, 4, 2])
    (decoded,), log_prob = K.ctc_decode(probs, lengths)
    want = []
    for i in range(3):
        best = probs[i, : lengths[i]].argmax(-1)
        merged = [c for j, c in enumerate(best) if j == 0 or c != best[j - 1]]
        want.append([c for c in merged if c != 3])
    width = max(len(w) for w in want)
    assert decoded.shape == (3, width)
    assert [[c for c in row if c >= 0] for row in np.asarray(decoded).tolist()] == want
    want_log_prob = [-np.log(probs[i, : lengths[i]].max(-1) + 1e-7).sum() for i in range(3)]
    np.testing.assert_allclose(np.asarray(log_prob)[:, 0], want_log_prob, rtol=1e-5)


def test_keras0_show_accuracy_names_the_compile_metric():
    # antirectifier.py / babi_rnn.py of Keras 0.x: fit(..., show_accuracy=True); Keras 2 refused
    # the argument.  The error says where the accuracy goes now.
    model = lamina.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"metrics=\['accuracy'\] to compile"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), show_accuracy=True, verbose=0)


def test_per_output_sample_weights_train_each_output_as_keras(keras):
    # mnist_acgan.py: discriminator.train_on_batch(x, [y, aux_y], sample_weight=[w_fake, w_aux])
    # (Keras weighs each output by its own array).  Before, Lamina refused the list.
    def build(lib):
        inputs = lib.layers.Input((3,))
        outs = [lib.layers.Dense(1)(inputs), lib.layers.Dense(2, activation="softmax")(inputs)]
        model = lib.Model(inputs, outs)
        model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"])
        return model

    with keras_ref():
        ref = build(keras)
    model = build(lamina)
    model.set_weights(ref.get_weights())
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    y = [np.ones((4, 1), "float32"), np.array([0.0, 1.0, 1.0, 0.0], "float32")]
    weights = [np.ones(4, "float32"), np.array([2.0, 2.0, 0.0, 0.0], "float32")]
    with keras_ref():
        want = ref.train_on_batch(x, y, sample_weight=weights)
    got = model.train_on_batch(x, y, sample_weight=weights)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(model.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
