"""A custom layer holding a ``Sequential`` lists its weights as Keras does: layer by layer,
each layer's trainable then non-trainable (``BatchNormalization``'s moving statistics right
after its gamma and beta), named by their own names with Keras's path (the sub-layers' names) in ``path``; so
``set_weights(keras_model.get_weights())`` puts every array where Keras has it."""

import re

import numpy as np

import lamina
from tests.helpers import keras_ref


def _model(k):
    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seq = k.Sequential(
                [k.layers.Dense(3), k.layers.BatchNormalization(), k.layers.Dense(5)]
            )

        def call(self, x):
            return self.seq(x)

    inputs = k.Input((4,))
    return k.Model(inputs, Block()(inputs))


def test_weights_of_a_sequential_inside_a_custom_layer_match_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    with keras_ref():
        ref = _model(keras)
        weights = [rng.normal(size=w.shape).astype("float32") + 2.0 for w in ref.get_weights()]
        ref.set_weights(weights)
        want = ref.predict(x, verbose=0)
        names = [w.name for w in ref.layers[1].weights]
    model = _model(lamina)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    assert [w.name for w in model.layers[1].weights] == names
    assert re.fullmatch(
        r"block\w*/sequential\w*/batch_normalization\w*/moving_mean",
        model.layers[1].weights[4].path,
    )
