"""A layer whose ``call`` returns one of its variables (Keras's subclassing guide's
``ComputeSum``: ``return self.total``)."""

import numpy as np

import lamina
from lamina import ops


class ComputeSum(lamina.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


def test_eager_calls_accumulate_as_in_the_guide():
    layer = ComputeSum(2)
    x = ops.ones((2, 2))
    np.testing.assert_array_equal(np.asarray(layer(x)), [2.0, 2.0])
    np.testing.assert_array_equal(np.asarray(layer(x)), [4.0, 4.0])


def test_in_a_functional_model_the_value_is_returned():
    # Keras 3 fails here ("Triggering __jax_array__() during abstractification"): the
    # variable object itself leaves the traced call; Lamina returns its value.
    inputs = lamina.Input((2,))
    model = lamina.Model(inputs, ComputeSum(2)(inputs))
    out = model.predict(np.ones((3, 2), "float32"), verbose=0)
    np.testing.assert_array_equal(out, [3.0, 3.0])
