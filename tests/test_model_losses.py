"""``layer.losses`` and ``model.losses`` as Keras 3 lists them: the weight regularizers'
penalties on the current weights (no call needed), plus the ``add_loss`` and activity terms
of the last call; a weight's ``regularizer`` is readable on its variable."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def _model(k):
    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = k.layers.Dense(3, kernel_regularizer=k.regularizers.L1(0.05))

        def build(self, shape):
            self.scale = self.add_weight(shape=(3,), regularizer=k.regularizers.L2(0.2))

        def call(self, x):
            return self.inner(x) * self.scale

    inputs = k.Input((3,))
    h = Block(name="block")(inputs)
    y = k.layers.Dense(
        2, kernel_regularizer="l2", bias_regularizer=k.regularizers.L1L2(0.1, 0.3),
        activity_regularizer=k.regularizers.L2(0.01),
    )(h)  # fmt: skip
    return k.Model(inputs, y)


def test_model_losses_sum_as_keras_before_and_after_a_call(keras):
    with keras_ref():
        ref = _model(keras)
        weights = [w + 0.1 for w in ref.get_weights()]
        ref.set_weights(weights)
        before = float(sum(ref.losses))
        n_before = len(ref.losses)
        ref(X)
        after = float(sum(ref.losses))
        regs = [None if w.regularizer is None else type(w.regularizer).__name__ for w in ref.weights]
    model = _model(lamina)
    model.set_weights(weights)
    assert len(model.losses) == n_before
    np.testing.assert_allclose(float(sum(model.losses)), before, rtol=1e-5)
    model(X)
    np.testing.assert_allclose(float(sum(model.losses)), after, rtol=1e-5)
    got = [None if w.regularizer is None else type(w.regularizer).__name__ for w in model.weights]
    assert got == regs


def test_a_frozen_layer_has_no_penalty(keras):
    model = _model(lamina)
    n = len(model.losses)
    model.layers[-1].trainable = False
    assert len(model.losses) == n - 2  # Keras regularizes trainable weights only


@pytest.mark.parametrize("kind", ["sequential", "layer"])
def test_sequential_and_standalone_layer_losses(keras, kind):
    def build(k):
        dense = k.layers.Dense(2, kernel_regularizer=k.regularizers.L2(0.3))
        if kind == "layer":
            dense.build((None, 3))
            return dense
        return k.Sequential([k.Input((3,)), dense, k.layers.Dense(1, bias_regularizer="l1")])

    with keras_ref():
        ref = build(keras)
        weights = [w + 0.5 for w in ref.get_weights()]
        ref.set_weights(weights)
        want = [float(v) for v in ref.losses]
    got = build(lamina)
    got.set_weights(weights)
    np.testing.assert_allclose([float(v) for v in got.losses], want, rtol=1e-5)
