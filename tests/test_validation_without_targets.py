"""``fit(validation_data=(x_val,))`` and ``(x_val, None)`` for a model whose ``test_step``
needs no targets (a self-supervised autoencoder written as Keras's JAX guide does), as Keras
unpacks them; a model with a compiled loss still asks for targets."""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _autoencoder(k):
    ops = k.ops

    class AE(k.Model):
        def __init__(self):
            super().__init__()
            self.net = k.layers.Dense(4)
            self.tracker = k.metrics.Mean(name="total_loss")

        @property
        def metrics(self):
            return [self.tracker]

        def call(self, x):
            return self.net(x)

        def _loss(self, tv, ntv, x):
            y, ntv = self.stateless_call(tv, ntv, x)
            return ops.mean(ops.square(y - x)), ntv

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            (loss, ntv), g = jax.value_and_grad(self._loss, has_aux=True)(tv, ntv, data)
            tv, ov = self.optimizer.stateless_apply(ov, g, tv)
            mv = self.tracker.stateless_update_state(mv, loss)
            return {"total_loss": self.tracker.stateless_result(mv)}, (tv, ntv, ov, mv)

        def test_step(self, state, data):
            tv, ntv, mv = state
            loss, _ = self._loss(tv, ntv, data)
            mv = self.tracker.stateless_update_state(mv, loss)
            return {"total_loss": self.tracker.stateless_result(mv)}, (tv, ntv, mv)

    return AE()


@pytest.mark.parametrize("pack", [lambda v: (v,), lambda v: (v, None)])
def test_validation_data_without_targets_matches_keras(keras, pack):
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    with keras_ref():
        ref = _autoencoder(keras)
        ref(x[:1])
        weights = ref.get_weights()
        ref.compile(optimizer=keras.optimizers.SGD(0.1))
        want = ref.fit(x, epochs=2, batch_size=8, validation_data=pack(x[:8]), shuffle=False,
                       verbose=0).history  # fmt: skip
    model = _autoencoder(lamina)
    model(x[:1])
    model.set_weights(weights)
    model.compile(optimizer=lamina.optimizers.SGD(0.1))
    got = model.fit(x, epochs=2, batch_size=8, validation_data=pack(x[:8]), shuffle=False,
                    verbose=0).history  # fmt: skip
    assert sorted(got) == sorted(want) == ["total_loss", "val_total_loss"]
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5)


def test_a_compiled_loss_still_needs_validation_targets():
    x = np.ones((8, 3), "float32")
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="target"):
        model.fit(x, x[:, :1], validation_data=(x,), verbose=0)
