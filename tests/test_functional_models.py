"""Functional models against real Keras 3: the same code builds both (``import lamina as keras``
works), the same starting weights, ``shuffle=False``: History, weights, evaluate and predict
agree to float32 rounding."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 2e-5


def _fit_both(keras, build, x, y, *, loss, metrics=(), epochs=3, batch_size=16, **compile_kw):
    """Builds the model with both libraries, copies Keras's weights, fits both; returns both."""
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    opt = {"optimizer": "adam"}
    with keras_ref():
        km.compile(**opt, loss=loss, metrics=list(metrics), **compile_kw)
        kh = km.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    lm.compile(**opt, loss=loss, metrics=list(metrics), **compile_kw)
    lh = lm.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    assert sorted(lh.history) == sorted(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=RTOL, atol=ATOL, err_msg=k)
    for a, b in zip(lm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    with keras_ref():
        k_eval = km.evaluate(x, y, verbose=0)
        k_pred = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.evaluate(x, y, verbose=0), k_eval, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_pred, rtol=RTOL, atol=ATOL)
    return km, lm


def _data(n=45, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype("float32")


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_deep_functional_mlp_matches_keras(keras):
    def build(K):
        inputs = K.Input((6,))
        h = K.layers.Dense(8, activation="relu")(inputs)
        h = K.layers.Dense(8, activation="tanh")(h)
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(h))

    x, y = _data()
    _fit_both(keras, build, x, y, loss="binary_crossentropy", metrics=["accuracy"])


def test_residual_block_with_add_matches_keras(keras):
    if "Add" not in dir(lamina.layers):
        pytest.skip("layers.Add (the ops engineer's merge layers) is not in this checkout yet")

    def build(K):
        inputs = K.Input((6,))
        h = K.layers.Dense(6, activation="relu")(inputs)
        h = K.layers.Add()([inputs, K.layers.Dense(6)(h)])
        return K.Model(inputs, K.layers.Dense(1)(h))

    x, _ = _data()
    _fit_both(keras, build, x, x[:, :1] * 2 - x[:, 1:2], loss="mse", metrics=["mae"])


def test_shared_embedding_used_twice_matches_keras(keras):
    def build(K):
        tokens = K.Input((6,), dtype="int32")
        left = K.layers.Lambda(lambda t: t[:, :3])(tokens)
        right = K.layers.Lambda(lambda t: t[:, 3:])(tokens)
        embed = K.layers.Embedding(10, 4)
        a = K.layers.Flatten()(embed(left))
        b = K.layers.Flatten()(embed(right))
        merged = K.layers.Lambda(lambda ab: ab[0] - ab[1])([a, b])
        return K.Model(tokens, K.layers.Dense(1, activation="sigmoid")(merged))

    rng = np.random.default_rng(1)
    x = rng.integers(0, 10, size=(40, 6)).astype("int32")
    y = (x[:, 0] > x[:, 3]).astype("float32")
    km, lm = _fit_both(keras, build, x, y, loss="binary_crossentropy", metrics=["accuracy"])
    embed = lm.layers[3]
    assert type(embed).__name__ == "Embedding"
    assert len(embed._inbound_nodes) == 2 and len(lm.weights) == 3  # one table, used twice


def test_nested_sequential_matches_keras(keras):
    def build(K):
        block = K.Sequential([K.Input((6,)), K.layers.Dense(5, activation="relu")])
        inputs = K.Input((6,))
        return K.Model(inputs, K.layers.Dense(1)(block(inputs)))

    x, y = _data()
    km, lm = _fit_both(keras, build, x, y, loss="mse")
    nested = lm.layers[1]
    # The nested model's layers read the outer model's trained weights.
    np.testing.assert_allclose(nested.layers[0].kernel.numpy(), km.layers[1].layers[0].kernel)


def test_sequential_with_a_functional_base_model_matches_keras(keras):
    def build(K):
        inputs = K.Input((6,))
        base = K.Model(inputs, K.layers.Dense(4, activation="tanh")(inputs))
        return K.Sequential([base, K.layers.Dense(3), K.layers.Activation("softmax")])

    x, _ = _data()
    y = np.argmax(x[:, :3], axis=1)
    _fit_both(keras, build, x, y, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def test_lambda_layer_matches_keras(keras):
    def build(K):
        inputs = K.Input((6,))
        h = K.layers.Dense(4)(inputs)
        h = K.layers.Lambda(lambda t: t * t + 1.0)(h)
        return K.Model(inputs, K.layers.Dense(1)(h))

    x, y = _data()
    _fit_both(keras, build, x, y, loss="mse", epochs=2)


def test_layer_order_and_weights_follow_keras(keras):
    def build(K):
        a = K.Input((3,), name="a")
        h1 = K.layers.Dense(4, name="h1")(a)
        h2 = K.layers.Dense(4, name="h2")(a)
        s = K.layers.Dense(2, name="s")
        out = K.layers.Lambda(lambda t: t[0] * t[1], name="mix")([s(h1), s(h2)])
        return K.Model(a, out)

    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    assert [la.name for la in lm.layers] == [la.name for la in km.layers]
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights]
    assert lm.count_params() == km.count_params()
    lm.set_weights(km.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    with keras_ref():
        expected = np.asarray(km(x))
    np.testing.assert_allclose(np.asarray(lm(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lm.predict_on_batch(x), expected, rtol=1e-5, atol=1e-6)


def test_feature_extraction_from_intermediate_output():
    inputs = lamina.Input((4,))
    hidden = lamina.layers.Dense(3, name="hidden")(inputs)
    model = lamina.Model(inputs, lamina.layers.Dense(1)(hidden))
    x = np.ones((2, 4), "float32")
    model.predict(x, verbose=0)
    features = lamina.Model(model.input, model.get_layer("hidden").output)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), x @ kernel + bias, rtol=1e-6)


def test_graph_errors_name_the_problem():
    a, b = lamina.Input((3,)), lamina.Input((3,))
    h = lamina.layers.Dense(2)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        lamina.Model(a, h)
    with pytest.raises(ValueError, match="symbolic tensors"):
        lamina.Model(a, np.ones(3))
    with pytest.raises(ValueError, match="expects inputs of rank 4"):
        lamina.layers.Conv2D(2, 3)(a)
    with pytest.raises(TypeError, match="cannot be used as a Python bool"):
        bool(a)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_two_inputs_two_outputs_with_loss_weights_matches_keras(keras):
    def build(K):
        a, b = K.Input((4,), name="a"), K.Input((3,), name="b")
        h = K.layers.Dense(6, activation="relu")(a)
        g = K.layers.Dense(6, activation="relu")(b)
        mixed = K.layers.Lambda(lambda t: t[0] * t[1])([h, g])
        score = K.layers.Dense(1, name="score")(mixed)
        klass = K.layers.Dense(3, activation="softmax", name="klass")(h)
        return K.Model([a, b], [score, klass])

    rng = np.random.default_rng(0)
    xa = rng.normal(size=(40, 4)).astype("float32")
    xb = rng.normal(size=(40, 3)).astype("float32")
    ys = [xa[:, :1] + xb[:, :1], rng.integers(0, 3, 40)]
    settings = dict(
        optimizer="adam",
        loss=["mse", "sparse_categorical_crossentropy"],
        loss_weights=[1.0, 0.5],
        metrics=[["mae"], ["accuracy"]],
    )
    with keras_ref():
        km = build(keras)
    lm = build(lamina)
    lm.set_weights(km.get_weights())
    with keras_ref():
        km.compile(**settings)
        kh = km.fit([xa, xb], ys, batch_size=16, epochs=2, shuffle=False, verbose=0)
        k_eval = km.evaluate([xa, xb], ys, verbose=0, return_dict=True)
        k_pred = km.predict([xa, xb], verbose=0)
    lm.compile(**settings)
    lh = lm.fit([xa, xb], ys, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert sorted(lh.history) == sorted(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=RTOL, atol=ATOL, err_msg=k)
    for a, b in zip(lm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    l_eval = lm.evaluate([xa, xb], ys, verbose=0, return_dict=True)
    assert sorted(l_eval) == sorted(k_eval)
    for k in k_eval:
        np.testing.assert_allclose(l_eval[k], k_eval[k], rtol=RTOL, atol=ATOL, err_msg=k)
    for p, q in zip(lm.predict([xa, xb], verbose=0), k_pred, strict=True):
        np.testing.assert_allclose(p, q, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="2 outputs but y holds 1"):
        lm.fit([xa, xb], [ys[0]], epochs=1, verbose=0)


def test_summary_lists_layers_params_and_connections_as_keras(keras):
    def build(K):
        a, b = K.Input((2,), name="a"), K.Input((3,), name="b")
        shared = K.layers.Dense(3, name="shared")
        h = K.layers.Dense(2, name="proj")(b)
        return K.Model([a, b], [shared(a), shared(h)])

    with keras_ref():
        lines = []
        build(keras).summary(print_fn=lambda s, **kw: lines.append(s))
        k_text = "\n".join(lines)
    l_text = []
    build(lamina).summary(print_fn=l_text.append)
    l_text = "\n".join(l_text)
    for needle in ("Connected to", "shared (Dense)", "a[0][0]", "proj[0][0]", "Total params: 17"):
        assert needle in k_text and needle in l_text, needle


def test_summary_shows_every_output_shape_of_a_layer_as_keras(keras):
    """An LSTM returning its states lists all three shapes (wrapped in the cell, not cut)."""

    def build(K):
        enc_in, dec_in = K.Input((None, 4)), K.Input((None, 4))
        _, h, c = K.layers.LSTM(8, return_state=True, name="encoder")(enc_in)
        out = K.layers.LSTM(8, name="decoder")(dec_in, initial_state=[h, c])
        return K.Model([enc_in, dec_in], out)

    def cells(text):
        # The "Output Shape" column of the encoder's row, lines joined.
        rows, on = [], False
        for line in text.splitlines():
            parts = [p.strip() for p in line.split("│")]
            if len(parts) < 3:
                on = False
                continue
            if parts[1].startswith("encoder"):
                on = True
            elif parts[1] and not parts[1].startswith("("):
                on = False
            if on:
                rows.append(parts[2])
        return " ".join(rows)

    with keras_ref():
        lines = []
        build(keras).summary(print_fn=lambda s, **kw: lines.append(s))
    l_text = []
    build(lamina).summary(print_fn=l_text.append)
    expected = "[(None, 8), (None, 8), (None, 8)]"
    assert cells("\n".join(lines)) == expected
    assert cells("\n".join(l_text)) == expected


def test_layer_weights_views_follow_the_model_as_in_keras(keras):
    x, y = _data()
    model = lamina.Sequential([lamina.layers.Dense(4, input_dim=6), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    first = model.layers[0]
    before = first.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(first.kernel.numpy(), model.get_weights()[0])
    assert not np.allclose(first.kernel.numpy(), before)
    assert [w.shape for w in model.trainable_weights] == [(6, 4), (4,), (4, 1), (1,)]
    first.set_weights([np.zeros((6, 4), "float32"), np.ones(4, "float32")])
    np.testing.assert_allclose(model.get_weights()[1], np.ones(4))
    first.trainable = False
    assert [w.shape for w in model.trainable_weights] == [(4, 1), (1,)]
    frozen = first.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(first.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)


def test_sequential_weights_are_keras_variables_as_in_keras(keras):
    def build(K):
        return K.Sequential([K.Input((3,)), K.layers.Dense(2, name="d"),
                             K.layers.BatchNormalization(name="bn")])  # fmt: skip

    keras.backend.clear_session(free_memory=False)  # the same automatic model names
    with keras_ref():
        km = build(keras)
        want = [(w.path, tuple(w.shape), w.trainable) for w in km.weights]
    lamina.backend.clear_session()
    lm = build(lamina)
    assert [(w.path, tuple(w.shape), w.trainable) for w in lm.weights] == want
    assert [w.name for w in lm.variables] == [w.name for w in km.variables]
    for view, array in zip(lm.weights, lm.get_weights()):
        np.testing.assert_array_equal(view.numpy(), array)
    assert lamina.Sequential([lamina.layers.Dense(2)]).weights == []  # no input shape yet


def test_clone_model_copies_the_architecture_with_new_weights(keras):
    def build(K):
        inputs = K.Input((6,))
        shared = K.layers.Dense(6, name="shared")
        return K.Model(inputs, K.layers.Dense(1)(shared(shared(inputs))))

    model = build(lamina)
    clone = lamina.models.clone_model(model)
    assert [type(la).__name__ for la in clone.layers] == [type(la).__name__ for la in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    clone.set_weights(model.get_weights())
    x, _ = _data()
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    seq = lamina.Sequential([lamina.Input((6,)), lamina.layers.Dense(2)])
    seq_clone = lamina.models.clone_model(seq)
    assert seq_clone.layers[0] is not seq.layers[0] and seq_clone.output_shape == (None, 2)
    with keras_ref():
        k_clone = keras.models.clone_model(build(keras))
    assert len(k_clone.layers) == len(clone.layers)


def test_functional_model_compiles_once_per_shape_and_checks_inputs():
    a, b = lamina.Input((4,), name="a"), lamina.Input((2,), name="b")
    h = lamina.layers.Dense(5, activation="relu")(a)
    h = lamina.layers.Dropout(0.2)(h)
    merged = lamina.layers.Concatenate()([h, b])
    model = lamina.Model([a, b], [lamina.layers.Dense(1)(merged), lamina.layers.Dense(2)(h)])
    model.compile(optimizer="adam", loss=["mse", "mse"])
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(53, 4)).astype("float32"), rng.normal(size=(53, 2)).astype("float32")]
    ys = [xs[0][:, :1], xs[1]]
    model.fit(xs, ys, batch_size=10, epochs=3, verbose=0)
    model.fit(xs, ys, batch_size=10, epochs=2, verbose=0)
    model.evaluate(xs, ys, verbose=0)
    model.predict(xs, verbose=0)
    model.predict(xs, verbose=0)
    assert model._trace_counter == {"train": 1, "eval": 1, "predict": 1}
    with pytest.raises(ValueError, match="2 inputs; pass a list of 2 arrays"):
        model(xs[0])
    single = lamina.Model(a, h)
    with pytest.raises(ValueError, match="expects 4"):
        single(np.ones((2, 3), "float32"))


def test_a_one_element_output_list_is_unpacked_as_keras_does(keras):
    """``Model(inputs=[i], outputs=[y])`` (Géron's spelling): predict and calls give an
    array, ``output_shape`` one shape, while a symbolic call gives a list of one tensor."""

    def probe(k):
        i = k.Input((3,))
        model = k.Model(inputs=[i], outputs=[k.layers.Dense(2)(i)])
        model.compile("sgd", "mse")
        history = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        nested = model(k.Input((3,)))
        return (
            type(model.predict(np.ones((2, 3)), verbose=0)).__name__,
            isinstance(model(np.ones((2, 3))), list),
            tuple(model.output_shape),
            isinstance(nested, list),
            sorted(history.history),
        )

    with keras_ref():
        want = probe(keras)
    assert probe(lamina) == want
