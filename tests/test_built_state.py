"""``built`` and ``repr`` of layers and models, as Keras reports them: a model whose input shape
is known is built (with its layers) from construction on; one without stays unbuilt."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _cases(k):
    def seq_input():
        return k.Sequential([k.Input((4,)), k.layers.Dense(2), k.layers.Dense(3)])

    def seq_add():
        m = k.Sequential()
        m.add(k.Input((4,)))
        m.add(k.layers.Dense(2, activation="relu"))
        return m

    def seq_unbuilt():
        return k.Sequential([k.layers.Dense(2), k.layers.Dense(3)])

    def seq_called():
        m = k.Sequential([k.layers.Dense(2), k.layers.Dense(3)])
        m(np.ones((1, 4), "float32"))
        return m

    def functional():
        i = k.Input((4,))
        return k.Model(i, k.layers.Dense(3)(k.layers.Dense(2)(i)))

    return {
        "seq_input": seq_input,
        "seq_add": seq_add,
        "seq_unbuilt": seq_unbuilt,
        "seq_called": seq_called,
        "functional": functional,
    }


def _state(model):
    return (
        model.built,
        [(type(la).__name__, la.built) for la in model.layers],
        len(model.weights),
    )


@pytest.mark.parametrize("case", list(_cases(lamina)))
def test_built_matches_keras(keras, case):
    with keras_ref():
        expected = _state(_cases(keras)[case]())
    assert _state(_cases(lamina)[case]()) == expected


def test_repr_matches_keras(keras):
    with keras_ref():
        ref = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="s")
        expected = (repr(ref), repr(ref.layers[0]), repr(keras.layers.Dense(2, name="e")))
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(2, name="d")], name="s")
    got = (repr(model), repr(model.layers[0]), repr(lamina.layers.Dense(2, name="e")))
    assert got == expected


def test_a_custom_layer_setting_built_keeps_it():
    class Scale(lamina.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.built = True

        def call(self, x):
            return x * self.w

    layer = Scale()
    assert layer.built is False
    layer(np.ones((2, 3), "float32"))
    assert layer.built is True
