"""``layer.losses`` / ``model.losses`` after an eager call: one entry per ``add_loss`` or
activity-regularizer term, under the layer that made it, then the weight penalties, in
Keras 3's order (checked against real Keras with the same weights)."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _losses(obj):
    return [round(float(v), 5) for v in obj.losses]


def _custom_layers(K):
    class ActivityReg(K.layers.Layer):
        def __init__(self, rate=1e-2, **kw):
            super().__init__(**kw)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * K.ops.mean(inputs))
            return inputs

    class Outer(K.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.reg = ActivityReg(0.1)
            self.dense = K.layers.Dense(
                2, activity_regularizer="l1", kernel_regularizer="l2", kernel_initializer="ones"
            )

        def call(self, inputs):
            return self.dense(self.reg(inputs))

    return ActivityReg, Outer


def _models(K):
    ActivityReg, Outer = _custom_layers(K)
    inputs = K.Input((3,))
    h = ActivityReg()(inputs)
    h = K.layers.Dense(
        2, activity_regularizer="l2", kernel_regularizer="l2", kernel_initializer="ones"
    )(h)
    functional = K.Model(inputs, Outer()(ActivityReg(0.5)(h)))
    sequential = K.Sequential(
        [
            K.Input((3,)),
            K.layers.Dense(2, activity_regularizer="l2", kernel_regularizer="l1",
                           kernel_initializer="ones"),  # fmt: skip
            K.layers.Dense(2, activity_regularizer="l1", bias_regularizer="l2",
                           kernel_initializer="ones", bias_initializer="ones"),  # fmt: skip
        ]
    )

    class Sub(K.Model):
        def __init__(self):
            super().__init__()
            self.d1 = K.layers.Dense(2, activity_regularizer="l2", kernel_initializer="ones")
            self.reg = ActivityReg(0.3)

        def call(self, x):
            self.add_loss(K.ops.sum(x) * 0.01)
            return self.reg(self.d1(x))

    nested_in = K.Input((3,))
    nested = K.Model(nested_in, sequential(nested_in))
    return {"functional": functional, "sequential": sequential, "subclassed": Sub(),
            "nested": nested}  # fmt: skip


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed", "nested"])
def test_model_losses_one_entry_per_term(keras, kind):
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    with keras_ref():
        ref = _models(keras)[kind]
        ref(x)
        want = (_losses(ref), [_losses(la) for la in ref.layers])
    ours = _models(lamina)[kind]
    assert _losses(ours) in ([], want[0]) or kind != "subclassed"  # before any call
    ours(x)
    assert (_losses(ours), [_losses(la) for la in ours.layers]) == want


def test_standalone_layer_call_losses(keras):
    x = np.ones((2, 3), "float32")
    with keras_ref():
        ref = keras.layers.Dense(2, activity_regularizer="l2", kernel_initializer="ones")
        ref(x)
        outer = _custom_layers(keras)[1]()
        outer(x)
        outer(x)  # each call replaces the last call's terms
        want = [_losses(ref), _losses(outer), _losses(outer.reg), _losses(outer.dense)]
    ours = lamina.layers.Dense(2, activity_regularizer="l2", kernel_initializer="ones")
    ours(x)
    outer = _custom_layers(lamina)[1]()
    outer(x)
    outer(x)
    assert [_losses(ours), _losses(outer), _losses(outer.reg), _losses(outer.dense)] == want
    assert len(want[1]) == 3  # the sub-layer's add_loss, the Dense's activity term, its L2
