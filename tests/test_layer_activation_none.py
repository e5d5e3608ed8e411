"""``model.layers[-1].activation = None`` (Grad-CAM and many answers online: take the logits
from a trained softmax model): a built-in layer then skips its activation, as Keras's
``if self.activation is not None`` does."""

import numpy as np

import lamina


def test_activation_none_gives_the_logits_after_a_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    inputs = lamina.Input((4,))
    model = lamina.Model(inputs, lamina.layers.Dense(3, activation="softmax")(inputs))
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, 3, 8), epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)
    layer = model.layers[-1]
    layer.activation = None
    kernel, bias = layer.get_weights()
    logits = x @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x)), logits, rtol=1e-5, atol=1e-6)
    assert layer.get_config()["activation"] == "linear"


def test_a_custom_layer_keeps_its_own_none():
    class Scale(lamina.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activation = lamina.activations.relu

        def call(self, x):
            return x if self.activation is None else self.activation(x)

    layer = Scale()
    layer.activation = None
    assert layer.activation is None
    np.testing.assert_array_equal(np.asarray(layer(np.array([[-1.0, 2.0]]))), [[-1.0, 2.0]])
