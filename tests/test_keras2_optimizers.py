"""Keras 2 optimizer arguments: ``lr=``, ``decay=`` (time-based decay), ``optimizer.lr``.

Keras 2 decayed the rate as ``lr_t = lr / (1 + decay * iterations)`` (iterations counted
before the update).  References: NumPy for SGD (momentum, Nesterov) from Keras 2's formula, and
for every optimizer real Keras 3 run with ``InverseTimeDecay(lr, decay_steps=1,
decay_rate=decay)``, which is the same rate at every step.
"""

import numpy as np
import pytest

import lamina
from lamina import optimizers
from tests.helpers import keras_ref
from tests.test_optimizers import _assert_history_close, _keras_run, _lamina_run, _problem

DECAY = 0.3


def _sgd_numpy(w, grads, lr, decay, momentum, nesterov):
    """Keras 2's SGD.get_updates, step by step."""
    w = w.copy()
    m = np.zeros_like(w)
    out = []
    for t, g in enumerate(grads):
        lr_t = lr * (1.0 / (1.0 + decay * t))
        v = momentum * m - lr_t * g
        m = v
        w = w + momentum * v - lr_t * g if nesterov else w + v
        out.append(w.copy())
    return out


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_decay_matches_keras2_formula(momentum, nesterov):
    init, grads = _problem()
    with pytest.warns(UserWarning, match="lr=.*Keras 2 spelling"):
        opt = optimizers.SGD(lr=0.1, momentum=momentum, decay=DECAY, nesterov=nesterov)
    ours = _lamina_run(opt, init, grads)[0]
    for name in init:
        ref = _sgd_numpy(init[name], [g[name] for g in grads], 0.1, DECAY, momentum, nesterov)
        for step, expected in enumerate(ref):
            np.testing.assert_allclose(ours[step][name], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls_name", ["SGD", "RMSprop", "Adam", "Adagrad", "Adadelta", "Adamax", "Nadam"]
)
def test_every_optimizer_decays_like_keras2(keras, cls_name):
    init, grads = _problem(seed=1)
    lr = 0.05
    with keras_ref():
        schedule = keras.optimizers.schedules.InverseTimeDecay(lr, 1, DECAY)
    ref, _, _ = _keras_run(keras, cls_name, {"learning_rate": schedule}, init, grads)
    opt = getattr(optimizers, cls_name)(learning_rate=lr, decay=DECAY)
    _assert_history_close(_lamina_run(opt, init, grads)[0], ref)
    # not ignored: without decay the weights differ
    plain = _lamina_run(getattr(optimizers, cls_name)(learning_rate=lr), init, grads)[0]
    assert not np.allclose(plain[-1]["kernel"], ref[-1]["kernel"], rtol=1e-4)


def test_lr_attribute_config_and_errors():
    opt = optimizers.Adam(decay=1e-4)
    assert opt.lr == opt.learning_rate == 0.001
    opt.lr = 0.01
    assert opt.learning_rate == 0.01
    config = opt.get_config()
    assert config["decay"] == 1e-4 and config["learning_rate"] == pytest.approx(0.01)
    assert "decay" not in optimizers.Adam().get_config()
    assert optimizers.Adam.from_config(config) == opt
    with pytest.warns(UserWarning):  # a Keras 2 config (lr, decay) loads
        old = optimizers.RMSprop.from_config({"lr": 0.002, "rho": 0.9, "decay": 0.1, "epsilon": None})
    assert (old.learning_rate, old.decay, old.epsilon) == (0.002, 0.1, 1e-7)
    with pytest.raises(ValueError, match="decay"):
        optimizers.SGD(decay=-1)
    with pytest.raises(ValueError, match="schedule_decay"):
        optimizers.Nadam(schedule_decay=0.01)
    assert optimizers.Nadam(schedule_decay=0.004).decay == 0.0


def test_set_value_on_optimizer_lr_changes_the_compiled_model(rng):
    """Keras 2's ``K.set_value(model.optimizer.lr, x)`` / ``model.optimizer.lr = x``: the next
    steps use the new rate (checked against plain SGD steps in NumPy)."""
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(8, 2)).astype("f4")
    y = rng.normal(size=(8, 1)).astype("f4")
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert float(model.optimizer.lr) == pytest.approx(0.01)
    model.optimizer.lr.assign(0.5)  # what K.set_value(model.optimizer.lr, 0.5) calls
    assert float(model.optimizer.lr) == 0.5 and model.optimizer.lr.numpy().dtype == np.float32
    w, b = model.get_weights()
    grad_w = 2 * x.T @ (x @ w + b - y) / len(x)
    grad_b = 2 * np.mean(x @ w + b - y, axis=0)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(model.get_weights()[0], w - 0.5 * grad_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b - 0.5 * grad_b, rtol=1e-5, atol=1e-6)
    model.optimizer.lr = 0.25
    assert float(model.optimizer.lr) == 0.25 == model.optimizer.learning_rate
    with pytest.raises(ValueError, match="finite float"):
        model.optimizer.lr = -1.0


def test_setting_learning_rate_in_a_batch_callback_trains_with_it(keras):
    """Géron's exponential-rate and 1cycle callbacks set ``optimizer.learning_rate`` between
    batches; Keras trains each step with the rate just set."""
    from tests.helpers import keras_ref

    def run(k):
        class Halve(k.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                rate = float(np.asarray(self.model.optimizer.learning_rate))
                self.model.optimizer.learning_rate = rate / 2

        model = k.Sequential([k.Input((4,)), k.layers.Dense(1, kernel_initializer="ones")])
        model.compile(optimizer=k.optimizers.SGD(learning_rate=0.1), loss="mse")
        x = np.linspace(0, 1, 64, dtype="float32").reshape(16, 4)
        y = x.sum(axis=1, keepdims=True) * 0.5
        history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0,
                            callbacks=[Halve()])  # fmt: skip
        rate = float(np.asarray(model.optimizer.learning_rate))
        return history.history["loss"], rate, model.get_weights()

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    for a, b in zip(got[2], want[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_clipnorm_with_clipvalue_clips_by_value_then_by_norm():
    """Keras 2 books write ``SGD(lr=0.01, clipnorm=1., clipvalue=0.5)`` (Keras 3 refuses two
    clipping options): tf.keras 2 clipped each gradient by value, then each by its norm."""
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, use_bias=False)])
    w0 = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25]], "float32")
    model.set_weights([w0])
    model.compile(optimizer=lamina.optimizers.SGD(lr=0.1, clipnorm=0.3, clipvalue=0.2), loss="mse")
    x = np.array([[1.0, 2.0, -3.0], [0.5, -1.0, 4.0]], "float32")
    y = np.array([[0.0, 1.0], [2.0, -1.0]], "float32")
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    grad = x.T @ (2.0 * (x @ w0 - y) / y.size)  # mean squared error over every value
    grad = np.clip(grad, -0.2, 0.2)
    grad = grad * min(1.0, 0.3 / np.linalg.norm(grad))
    np.testing.assert_allclose(model.get_weights()[0], w0 - 0.1 * grad, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Only one of `clipnorm` and `global_clipnorm`"):
        lamina.optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)
