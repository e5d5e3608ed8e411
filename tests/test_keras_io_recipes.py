"""Keras usage found in keras.io's recipes and timeseries examples: a layer's first ``call``
argument given by keyword (the endpoint-layer pattern), ``fit`` keeping the order of a
``timeseries_dataset_from_array`` dataset (a ``tf.data`` dataset in Keras, which ``fit``
never reorders), and ``Model.quantize``'s modes other than int8 named as unsupported."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _endpoint(K):
    class Endpoint(K.layers.Layer):
        def call(self, logits, targets=None):
            if targets is not None:
                self.add_loss(K.ops.mean((logits - targets) ** 2))
            return logits * 2.0

    return Endpoint


def test_first_call_argument_by_keyword_matches_keras(keras):
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    t = np.ones((4, 3), "float32")

    def run(K):
        eager = np.asarray(_endpoint(K)()(logits=x))
        i, y = K.Input((3,)), K.Input((3,))
        h = K.layers.Dense(3, kernel_initializer="ones")(i)
        model = K.Model([i, y], _endpoint(K)()(logits=h, targets=y))
        model.compile("sgd")
        return eager, model.predict([x, t], verbose=0), model.evaluate([x, t], verbose=0)

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_fit_keeps_the_order_of_a_timeseries_dataset():
    data = np.sin(np.arange(60, dtype="float32"))[:, None]
    targets = data[5:]
    ds = lamina.utils.timeseries_dataset_from_array(
        data[:-5], targets, sequence_length=5, batch_size=8
    )
    xs = np.concatenate([b[0] for b in ds])
    ys = np.concatenate([b[1] for b in ds])

    def model():
        m = lamina.Sequential([lamina.Input((5, 1)), lamina.layers.Flatten(),
                               lamina.layers.Dense(1, kernel_initializer="ones")])  # fmt: skip
        m.compile(lamina.optimizers.SGD(0.05), "mse")
        return m

    from_ds = model().fit(ds, epochs=3, verbose=0).history["loss"]  # shuffle=True: ignored
    in_order = model().fit(xs, ys, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(from_ds, in_order.history["loss"], rtol=1e-6)


def test_quantize_is_named_as_unsupported():
    model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
    with pytest.raises(NotImplementedError, match=r"mode='float8' is not supported by Lamina"):
        model.quantize("float8")


def test_accuracy_resolves_from_sparse_targets_with_a_custom_train_step(keras):
    """keras.io debugging tips: a model overriding ``train_step`` compiled with
    ``metrics=["accuracy"]`` and sparse labels counts SparseCategoricalAccuracy, as Keras."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 4)).astype("float32")
    y = rng.integers(0, 3, 16)
    kernel = rng.uniform(size=(4, 3)).astype("float32")

    def run(K):
        class Stepped(K.Model):
            def train_step(self, state, data):
                return super().train_step(state, data)

        inputs = K.Input((4,))
        model = Stepped(inputs, K.layers.Dense(3, activation="softmax")(inputs))
        model.set_weights([kernel, np.zeros(3, "float32")])
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        evaluated = model.evaluate(x, y, verbose=0)
        history = model.fit(x, y, epochs=1, shuffle=False, verbose=0).history
        return evaluated, history["accuracy"]

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
