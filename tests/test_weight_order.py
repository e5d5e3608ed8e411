"""``get_weights``/``set_weights`` follow Keras's ``model.weights`` order, also for a nested
model or a custom layer whose sub-layers hold non-trainable weights, so that arrays move
between Keras and Lamina with ``set_weights(other.get_weights())``."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _nested(k):
    emb = k.Sequential([k.Input((4,)), k.layers.BatchNormalization(), k.layers.Dense(3)])
    a = k.Input((4,))
    return k.Model(a, k.layers.Dense(1)(emb(a)))


def _custom(k):
    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.bn = k.layers.BatchNormalization()
            self.dense = k.layers.Dense(3)

        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.scale = self.add_weight(shape=(3,), initializer="ones")

        def call(self, x):
            return self.dense(self.bn(x)) * self.scale

    a = k.Input((4,))
    return k.Model(a, k.layers.Dense(1)(Block()(a)))


@pytest.mark.parametrize("build", [_nested, _custom], ids=["nested_model", "custom_layer"])
def test_weights_move_between_keras_and_lamina(keras, build):
    rng = np.random.default_rng(0)
    x = rng.random((5, 4), dtype=np.float32)
    with keras_ref():
        ref = build(keras)
        ref.set_weights([rng.random(w.shape).astype("float32") + 0.5 for w in ref.weights])
        ref_weights = ref.get_weights()
        expected = ref.predict(x, verbose=0)
    model = build(lamina)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in ref_weights]
    assert [w.shape for w in model.weights] == [w.shape for w in ref.weights]
    model.set_weights(ref_weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(model.get_weights(), ref_weights):
        np.testing.assert_array_equal(got, want)


def test_weight_attributes_exist_once_the_model_has_an_input(keras):
    """``model.layers[1].kernel`` right after ``Sequential([Input, Dense])`` or a functional
    model: Keras has built the layers already."""
    import lamina

    layer = lamina.layers.Dense(2)
    model = lamina.Sequential([lamina.layers.Input((3,)), layer])
    assert tuple(layer.kernel.shape) == (3, 2)
    i = lamina.Input((4,))
    other = lamina.layers.Dense(5)
    functional = lamina.Model(i, other(i))
    assert tuple(other.bias.shape) == (5,)
    assert model.built and functional.built
    lone = lamina.layers.Dense(2)
    with pytest.raises(AttributeError, match="kernel"):
        _ = lone.kernel  # no input anywhere: not built, as in Keras
