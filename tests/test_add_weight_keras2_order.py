"""``add_weight`` with tf.keras 2's positional order (name first).

TensorFlow's "Custom layers" tutorial builds ``self.kernel = self.add_weight("kernel",
shape=[int(input_shape[-1]), self.num_outputs])``; tf.keras 2 (and Keras 2.2+) take
``add_weight(name, shape, dtype, initializer, regularizer, trainable, constraint)``, where
Keras 3 takes ``(shape, initializer, dtype, trainable, ...)`` and raises on that call.  The
reference is that documented order: the same weight as the keyword call.
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import layers


class MyDenseLayer(layers.Layer):
    def __init__(self, num_outputs):
        super().__init__()
        self.num_outputs = num_outputs

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", shape=[int(input_shape[-1]), self.num_outputs])

    def call(self, inputs):
        return lamina.ops.matmul(inputs, self.kernel)


def test_tensorflow_custom_layer_tutorial():
    layer = MyDenseLayer(10)
    out = layer(np.zeros([10, 5], "float32"))
    assert out.shape == (10, 10)
    assert [v.name for v in layer.trainable_variables] == ["kernel"]
    assert layer.kernel.shape == (5, 10)


class PositionalKeras2(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], 3), "float32", "ones", "l2", True)
        self.s = self.add_weight("s", (1,), "float32", "zeros", None, False)
        self.v = self.add_weight((3,), "zeros", name="v")  # Keras 3's order still works

    def call(self, inputs):
        return lamina.ops.matmul(inputs, self.w) + self.v + self.s


def test_positional_keras2_order_means_name_shape_dtype_initializer_regularizer_trainable():
    model = lamina.Sequential([lamina.Input((2,)), PositionalKeras2()])
    layer = model.layers[0]
    assert [(w.name, w.shape) for w in layer.trainable_weights] == [("w", (2, 3)), ("v", (3,))]
    assert [(w.name, w.shape) for w in layer.non_trainable_weights] == [("s", (1,))]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones((2, 3)))
    model.compile("sgd", "mse")
    # Zero inputs and targets: the loss is the l2 penalty alone, 0.01 * sum(w ** 2) = 0.06.
    loss = model.evaluate(np.zeros((4, 2)), np.zeros((4, 3)), verbose=0)
    np.testing.assert_allclose(loss, 0.06, rtol=1e-6)


def test_tf_keras_only_arguments_are_accepted_and_duplicates_refused():
    layer = layers.Layer()
    w = layer.add_weight("k", shape=(2,), initializer="zeros", use_resource=True,
                         synchronization=None, partitioner=None)  # fmt: skip
    assert w.shape == (2,)
    with pytest.raises(TypeError, match="multiple values for argument 'shape'"):
        layer.add_weight("k2", (2,), shape=(3,))


def test_a_model_with_the_tutorial_layer_trains():
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    model = lamina.Sequential([lamina.Input((5,)), MyDenseLayer(3), layers.Dense(1)])
    model.compile("sgd", "mse")
    before = model.layers[0].get_weights()[0].copy()
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert not np.allclose(before, model.layers[0].get_weights()[0])
