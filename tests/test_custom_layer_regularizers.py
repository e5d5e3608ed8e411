"""Weight regularizers and constraints of a Keras-style layer (``add_weight(regularizer=,
constraint=)``) and of the built-in layers it holds count in ``fit``, as in Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _layer_class(k):
    class Lin(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.sub = k.layers.Dense(
                2, kernel_initializer="ones", kernel_regularizer=k.regularizers.L1(0.05),
                kernel_constraint=k.constraints.MaxNorm(0.9),
            )  # fmt: skip

        def build(self, shape):
            self.w = self.add_weight(
                shape=(2, 1), initializer="ones", regularizer=k.regularizers.L2(0.1),
                constraint=k.constraints.NonNeg(), name="w",
            )  # fmt: skip

        def call(self, x):
            return k.ops.matmul(self.sub(x), self.w)

    return Lin


def _model(k, kind):
    lin = _layer_class(k)
    if kind == "functional":
        inputs = k.Input((3,))
        return k.Model(inputs, lin()(inputs))

    class M(k.Model):
        def __init__(self):
            super().__init__()
            self.lin = lin()
            self.v = self.add_weight(shape=(1,), initializer="ones",
                                     regularizer=k.regularizers.L2(0.3), name="v")  # fmt: skip

        def call(self, x):
            return self.lin(x) * self.v

    model = M()
    model(np.ones((1, 3), "float32"))
    return model


def _fit(k, kind):
    model = _model(k, kind)
    model.compile(k.optimizers.SGD(0.05), "mse")
    x = np.arange(12, dtype="float32").reshape(4, 3) / 10
    y = -np.ones((4, 1), "float32")
    history = model.fit(x, y, epochs=3, verbose=0, shuffle=False).history["loss"]
    return history, model.get_weights()


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_fit_counts_own_and_sub_layer_regularizers_and_constraints(keras, kind):
    got, got_weights = _fit(lamina, kind)
    with keras_ref():
        want, want_weights = _fit(keras, kind)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    for a, b in zip(got_weights, want_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
