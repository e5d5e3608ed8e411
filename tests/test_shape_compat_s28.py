"""A custom layer's ``build``/``compute_output_shape`` get shapes that are Keras 3's tuples
and answer tf.keras 2's ``TensorShape`` methods (``as_list``, ``rank``), as Keras 2 books'
layers read them (Géron ch. 12's ``MyDense``)."""

import copy
import pickle

import numpy as np

import lamina
from lamina.layers.shape_compat import ShapeTuple, keras2_shapes


class MyDense(lamina.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = lamina.activations.get(activation)

    def build(self, batch_input_shape):
        self.seen = (type(batch_input_shape), batch_input_shape.as_list(), batch_input_shape.rank)
        self.kernel = self.add_weight(
            name="kernel", shape=[batch_input_shape[-1], self.units], initializer="glorot_normal"
        )
        self.bias = self.add_weight(name="bias", shape=[self.units], initializer="zeros")
        super().build(batch_input_shape)

    def call(self, x):
        return self.activation(x @ self.kernel + self.bias)

    def compute_output_shape(self, batch_input_shape):
        return batch_input_shape.as_list()[:-1] + [self.units]


def test_geron_custom_dense_reads_tensorshape_methods():
    model = lamina.models.Sequential([MyDense(4, activation="relu", input_shape=[3]), MyDense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    layer = model.layers[0]
    assert issubclass(layer.seen[0], tuple) and layer.seen[1:] == ([None, 3], 2)
    assert model.output_shape == (None, 1)
    assert model.predict(x, verbose=0).shape == (16, 1)


def test_shape_tuple_is_a_tuple_for_keras3_code():
    shape = keras2_shapes((None, 5, 3))
    assert isinstance(shape, tuple) and shape == (None, 5, 3) and hash(shape) == hash((None, 5, 3))
    assert shape[1:].as_list() == [5, 3] and shape[1:].num_elements() == 15
    assert shape.num_elements() is None and not shape.is_fully_defined()
    assert type(pickle.loads(pickle.dumps(shape))) is tuple
    assert type(copy.deepcopy(shape)) is tuple
    shapes = keras2_shapes([(None, 2), (None, 3)])
    assert isinstance(shapes, list) and all(isinstance(s, ShapeTuple) for s in shapes)
    assert keras2_shapes({"a": (None, 2)}) == {"a": (None, 2)}
