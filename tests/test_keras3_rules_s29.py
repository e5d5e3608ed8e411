"""Keras 3 rules found in session 29, each checked against real Keras.

- A user layer's own ``SeedGenerator`` draws Keras's numbers with or without
  ``set_random_seed``: Keras keeps the generator's state ``[seed, k]`` in a non-trainable
  variable and threads it through ``predict``, direct calls and ``fit``, so a layer built with
  ``SeedGenerator(3)`` draws the same numbers in every process, and fresh ones at every call
  (Monte Carlo sampling, a VAE's ``Sampling`` layer).  Lamina used to thread it only after
  ``set_random_seed``, so two ``predict`` calls gave the same "random" numbers.
- A functional model run in a mode gives it to every node, over the node's ``training=``.
- A one-input model takes ``{input name: array}``.
"""

import numpy as np
import pytest

from tests.helpers import keras_ref


def _noise_model(m):
    class Noise(m.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gen = m.random.SeedGenerator(3)

        def call(self, x):
            return x + m.random.normal(m.ops.shape(x), seed=self.gen)

    inp = m.Input((4,))
    return m.Model(inp, Noise()(inp))


def _draws(m):
    model = _noise_model(m)
    x = np.zeros((2, 4), "float32")
    out = [model.predict(x, verbose=0), model.predict(x, verbose=0), np.asarray(model(x))]
    model.compile("sgd", "mse")
    model.fit(x, x, epochs=2, batch_size=1, verbose=0)
    out.append(model.predict(x, verbose=0))
    counts = (len(model.variables), len(model.weights), len(model.get_weights()))
    return out, counts


def test_user_generator_draws_keras_numbers_without_set_random_seed(keras):
    import lamina

    with keras_ref():
        want, want_counts = _draws(keras)
    got, got_counts = _draws(lamina)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    assert got_counts == want_counts == (1, 0, 0)


def test_repeated_predict_draws_fresh_numbers():
    import lamina

    model = _noise_model(lamina)
    x = np.zeros((3, 4), "float32")
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.allclose(a, b)
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(x)))


def _fine_tune_stats(m):
    rs = np.random.RandomState(0)
    x = (rs.rand(16, 4) + 3).astype("float32")
    y = np.zeros((16, 1), "float32")
    bi = m.Input((4,))
    base = m.Model(bi, m.layers.BatchNormalization()(bi))
    inp = m.Input((4,))
    h = base(inp, training=False)
    h2 = m.layers.BatchNormalization()(inp, training=False)
    out = m.layers.Dense(1, kernel_initializer="ones")(m.layers.concatenate([h, h2]))
    model = m.Model(inp, out)
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    frozen = m.Model(inp, out)
    return (
        np.asarray(base.layers[1].moving_mean),
        np.asarray(model.layers[2].moving_variance),
        frozen.predict(x[:2], verbose=0),
    )


def test_node_training_flag_gives_way_to_the_models_in_fit_and_predict(keras):
    """Keras 3's functional rule (``functional.operation_fn``): a model run in a mode gives
    it to every layer of its graph, over ``layer(x, training=False)`` recorded in the node;
    ``model(x)`` without a mode keeps the node's flag."""
    import lamina

    with keras_ref():
        want = _fine_tune_stats(keras)
    got = _fine_tune_stats(lamina)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], 0.0)

    inp = lamina.Input((8,))
    model = lamina.Model(inp, lamina.layers.Dropout(0.5)(inp, training=True))
    x = np.ones((4, 8), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(np.asarray(model(x)), x)


def _dict_fed(m):
    x = np.ones((4, 3), "float32")
    inp = m.Input((3,), name="feat")
    model = m.Model(inp, m.layers.Dense(1, kernel_initializer="ones")(inp))
    model.compile("sgd", "mse")
    out = [model.predict({"feat": x}, verbose=0)]
    out.append(model.fit({"feat": x}, np.zeros((4, 1)), verbose=0).history["loss"])
    out.append(model.evaluate({"feat": x}, np.zeros((4, 1)), verbose=0))
    seq = m.Sequential([m.Input((3,), name="feat2"), m.layers.Dense(1, kernel_initializer="ones")])
    out.append(seq.predict({"feat2": x}, verbose=0))
    return out


def test_one_input_model_takes_a_one_entry_dict_as_keras(keras):
    import lamina

    with keras_ref():
        want = _dict_fed(keras)
    got = _dict_fed(lamina)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    inp = lamina.Input((3,), name="feat")
    model = lamina.Model(inp, lamina.layers.Dense(1)(inp))
    with pytest.raises(ValueError, match="takes one input array.*input name"):
        model.predict({"other": np.ones((2, 3), "float32")}, verbose=0)


def _stack_calls(m):
    class Doubles(m.layers.Layer):
        def call(self, x, training=True):
            return x * (2.0 if training else 1.0)

    x = np.ones((2, 3), "float32")
    seq = m.Sequential([
        m.Input((3,)), Doubles(), m.layers.Dropout(0.5),
        m.layers.Dense(2, kernel_initializer="ones"),
    ])  # fmt: skip
    outer = m.Sequential([m.Input((3,)), m.Sequential([Doubles()])])
    return [
        np.asarray(seq(x)), np.asarray(seq(x, training=False)), seq.predict(x, verbose=0),
        np.asarray(outer(x)),
    ]  # fmt: skip


def test_sequential_called_without_training_runs_each_layer_with_its_default(keras):
    """Keras's ``Sequential.call`` passes ``training=None`` on: a user ``call(x,
    training=True)`` default doubles (in a nested ``Sequential`` too), Dropout stays off."""
    import lamina

    with keras_ref():
        want = _stack_calls(keras)
    for g, w in zip(_stack_calls(lamina), want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    aug = lamina.Sequential([lamina.Input((4, 4, 1)), lamina.layers.RandomFlip("horizontal")])
    img = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    flips = [np.asarray(aug(img))[0, 0, 0, 0] for _ in range(20)]
    assert {0.0, 3.0} == set(flips)  # augments, as Keras's call default ``training=True``


def _layer_calls(m):
    class Doubles(m.layers.Layer):
        def call(self, x, training=True):
            return x * (2.0 if training else 1.0)

    class Holds(m.layers.Layer):  # no ``training``: the inner layer keeps its default
        def __init__(self):
            super().__init__()
            self.t = Doubles()

        def call(self, x):
            return self.t(x)

    class Passes(m.layers.Layer):  # passes its None on: Keras hands the inner call None
        def __init__(self):
            super().__init__()
            self.t = Doubles()

        def call(self, x, training=None):
            return self.t(x, training=training)

    x = np.ones((1, 2), "float32")
    inp = m.Input((2,))
    model = m.Model(inp, Holds()(inp))
    return [
        np.asarray(Holds()(x)), np.asarray(Passes()(x)), np.asarray(Passes()(x, training=True)),
        np.asarray(model(x)), model.predict(x, verbose=0),
    ]  # fmt: skip


def test_custom_layer_called_directly_resolves_training_as_keras(keras):
    import lamina

    with keras_ref():
        want = _layer_calls(keras)
    for g, w in zip(_layer_calls(lamina), want):
        np.testing.assert_allclose(g, w)
