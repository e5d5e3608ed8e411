"""Custom training logic against real Keras 3 (JAX backend), the cases beyond the guide:
``use_ema`` (EMA weights swapped in at the end of ``fit``), weight constraints applied by
``stateless_apply``, learning-rate callbacks reaching a custom step's optimizer state, and
``Sequential``/functional subclasses whose ``train_step``/``test_step`` overrides run.

Each model class is written once, as a function of the library module, and run with
``lamina`` and with ``keras``: same starting weights, ``shuffle=False``, same History and
final weights to float32 rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 2e-4
ATOL = 2e-5


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _same_history(kh, lh):
    assert sorted(kh.history) == sorted(lh.history)
    for k in kh.history:
        _close(kh.history[k], lh.history[k])


def _same_weights(km, lm):
    kw, lw = km.get_weights(), lm.get_weights()
    assert len(kw) == len(lw)
    for a, b in zip(kw, lw):
        _close(a, b)


def _data(n=53, features=6, seed=0, sign=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (sign * np.abs(x) @ np.abs(rng.normal(size=(features, 1)))).astype("float32")
    return x, y


# ------------------------------------------------------------------------ model classes
def jax_step_class(K, base):
    """Keras's guide step: ``stateless_call``, ``value_and_grad``, ``stateless_apply``."""

    class JaxStep(base):
        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data

            def loss_fn(tv, ntv):
                y_pred, ntv = self.stateless_call(tv, ntv, x, training=True)
                return self.compute_loss(x, y, y_pred), (y_pred, ntv)

            (loss, (y_pred, ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv, ntv)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric in self.metrics:
                this = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            return logs, (tv, ntv, ov, new_mv)

        def test_step(self, state, data):
            tv, ntv, mv = state
            x, y = data
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=False)
            # Twice the compiled loss: proves this step (not the built-in one) evaluates.
            loss = 2.0 * self.compute_loss(x, y, y_pred)
            n = len(self.metrics[0].variables)
            this = self.metrics[0].stateless_update_state(mv[:n], loss)
            return {"loss": self.metrics[0].stateless_result(this)}, (tv, ntv, this + mv[n:])

    return JaxStep


def compute_loss_class(K, base):
    """The backend-agnostic way: the built-in step around an overridden ``compute_loss``."""

    class Penalized(base):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            return loss + 0.1 * K.ops.mean(K.ops.square(y_pred))

    return Penalized


STYLES = {"jax_train_step": jax_step_class, "compute_loss": compute_loss_class}


def _functional(K, cls, features=6, **dense):
    inputs = K.Input((features,))
    hidden = K.layers.Dense(5, activation="tanh", **dense)(inputs)
    return cls(inputs, K.layers.Dense(1, **dense)(hidden))


def _pair(keras, style, features=6, **dense):
    with keras_ref():
        km = _functional(keras, STYLES[style](keras, keras.Model), features, **dense)
    lm = _functional(lamina, STYLES[style](lamina, lamina.Model), features, **dense)
    lm.set_weights(km.get_weights())
    return km, lm


def _fit_both(keras, km, lm, make_opt, x, y, callbacks=lambda K: [], **fit):
    fit = {"batch_size": 16, "epochs": 3, "shuffle": False, "verbose": 0, **fit}
    with keras_ref():
        km.compile(optimizer=make_opt(keras), loss="mse")
        kh = km.fit(x, y, callbacks=callbacks(keras), **fit)
    lm.compile(optimizer=make_opt(lamina), loss="mse")
    lh = lm.fit(x, y, callbacks=callbacks(lamina), **fit)
    return kh, lh


# --------------------------------------------------------------------------------- EMA
EMA = [
    {"use_ema": True, "ema_momentum": 0.9},
    {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
]


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "style, ema",
    [
        ("jax_train_step", EMA[0]),
        ("compute_loss", EMA[1]),
        pytest.param("compute_loss", EMA[0], marks=SLOW),
        pytest.param("jax_train_step", EMA[1], marks=SLOW),
    ],
    ids=["jax_step-ema", "compute_loss-overwrite", "compute_loss-ema", "jax_step-overwrite"],
)
def test_use_ema_matches_keras(keras, style, ema):
    x, y = _data()
    km, lm = _pair(keras, style)
    before = lm.get_weights()
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.Adam(0.02, **ema), x, y)
    _same_history(kh, lh)
    _same_weights(km, lm)  # the moving averages, swapped in at the end of fit
    assert not np.allclose(lm.get_weights()[0], before[0])


def test_use_ema_weights_are_the_optimizers_averages():
    x, y = _data()
    model = _functional(lamina, jax_step_class(lamina, lamina.Model))
    model.compile(optimizer=lamina.optimizers.SGD(0.05, use_ema=True), loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    averages = model.optimizer.ema_values()
    assert len(averages) == len(model.trainable_weights)
    for w, a in zip(model.get_weights(), averages):
        _close(w, a, 0, 0)
    fitted = model.get_weights()
    model.fit(x, y, epochs=0, verbose=0)  # epochs=0: no finalize, as in Keras
    for a, b in zip(fitted, model.get_weights()):
        _close(a, b, 0, 0)


# -------------------------------------------------------------------------- constraints
@pytest.mark.parametrize("style", sorted(STYLES))
def test_constraints_in_custom_steps_match_keras(keras, style):
    x, y = _data(sign=-1.0)  # the kernels want negative values: the constraint binds
    km, lm = _pair(keras, style, kernel_constraint="non_neg", bias_constraint="max_norm")
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.SGD(0.05), x, y)
    _same_history(kh, lh)
    _same_weights(km, lm)
    kernels = [w for w in lm.get_weights() if w.ndim == 2]
    assert all((k >= 0).all() for k in kernels) and any((k == 0).any() for k in kernels)


def test_constraints_with_ema_match_keras(keras):
    x, y = _data(sign=-1.0)
    km, lm = _pair(keras, "jax_train_step", kernel_constraint="non_neg")
    make = lambda K: K.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.8)  # noqa: E731
    kh, lh = _fit_both(keras, km, lm, make, x, y)
    _same_history(kh, lh)
    _same_weights(km, lm)  # averages of the unconstrained updates, as Keras keeps them


def test_optimizer_built_on_layer_variables_applies_their_constraints():
    dense = lamina.layers.Dense(3, kernel_constraint=lamina.constraints.NonNeg())
    dense.build((None, 2))
    opt = lamina.optimizers.SGD(1.0)
    opt.build(dense.trainable_variables)
    values = [jnp.asarray(v.value) for v in dense.trainable_variables]
    grads = [jnp.ones_like(v) * 10.0 for v in values]
    new, _ = opt.stateless_apply(opt.variables, grads, values)
    np.testing.assert_array_equal(np.asarray(new[0]), np.zeros((2, 3)))  # projected
    np.testing.assert_allclose(np.asarray(new[1]), np.asarray(values[1]) - 10.0)  # free bias


# ------------------------------------------------------------------------ learning rate
class SetRate:
    """A callback setting ``model.optimizer.learning_rate`` at the start of epoch 1."""

    @staticmethod
    def make(K):
        class Set(K.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    self.model.optimizer.learning_rate = 0.001

        return [Set()]


LR_CALLBACKS = {
    "scheduler": lambda K: [K.callbacks.LearningRateScheduler(lambda e, lr: 0.05 / (e + 1))],
    "plateau": lambda K: [
        K.callbacks.ReduceLROnPlateau("loss", factor=0.2, patience=0, min_delta=10.0)
    ],
    "assign": SetRate.make,
}


@pytest.mark.parametrize(
    "style, callback",
    [
        ("jax_train_step", "scheduler"),
        ("jax_train_step", "assign"),
        ("compute_loss", "plateau"),
        pytest.param("jax_train_step", "plateau", marks=SLOW),
        pytest.param("compute_loss", "scheduler", marks=SLOW),
        pytest.param("compute_loss", "assign", marks=SLOW),
    ],
)
def test_learning_rate_callbacks_reach_custom_steps(keras, style, callback):
    x, y = _data()
    km, lm = _pair(keras, style)
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.Adam(0.05), x, y,
                       callbacks=LR_CALLBACKS[callback], epochs=4)  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)
    with keras_ref():
        rate = float(np.asarray(km.optimizer.learning_rate))
    _close(lm.optimizer.learning_rate, rate, 1e-6, 0)
    assert rate != 0.05  # the callback changed it


def test_zero_learning_rate_freezes_custom_steps():
    x, y = _data()
    model = _functional(lamina, jax_step_class(lamina, lamina.Model))
    model.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    zero = lamina.callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    h = model.fit(x, y, epochs=3, shuffle=False, verbose=0, callbacks=[zero])
    assert h.history["learning_rate"] == [0.0, 0.0, 0.0]
    assert len(set(h.history["loss"])) == 1  # no step moved the weights
    model.optimizer.learning_rate = 0.1  # outside fit: the next fit trains again
    h = model.fit(x, y, epochs=2, verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]


# ------------------------------------------------------------- Sequential and functional
def _sequential(K, cls, features=6):
    return cls([K.Input((features,)), K.layers.Dense(5, activation="tanh"), K.layers.Dense(1)])


@pytest.mark.parametrize("style", ["jax_train_step", pytest.param("compute_loss", marks=SLOW)])
def test_sequential_subclass_runs_its_steps(keras, style):
    x, y = _data()
    vx, vy = _data(n=20, seed=1)
    with keras_ref():
        km = _sequential(keras, STYLES[style](keras, keras.Sequential))
    lm = _sequential(lamina, STYLES[style](lamina, lamina.Sequential))
    lm.set_weights(km.get_weights())
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.Adam(0.01), x, y,
                       validation_data=(vx, vy))  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)
    with keras_ref():
        ke = km.evaluate(vx, vy, verbose=0)
        kp = km.predict(vx, verbose=0)
    _close(ke, lm.evaluate(vx, vy, verbose=0))
    _close(kp, lm.predict(vx, verbose=0))


def test_sequential_subclass_override_is_not_ignored():
    class Refused(lamina.Sequential):
        def train_step(self, state, data):
            raise RuntimeError("the subclass's train_step ran")

    model = Refused([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError, match="subclass's train_step ran"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)

    class Plain(lamina.Sequential):  # no hook overridden: the built-in engine, as before
        pass

    assert Plain.__mro__[1] is lamina.Sequential
    plain = Plain([lamina.Input((3,)), lamina.layers.Dense(1)])
    plain.compile(optimizer="sgd", loss="mse")
    assert list(plain.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0).history) == ["loss"]


def functional_init_class(K):
    """``class M(keras.Model)`` whose ``__init__`` builds a graph and calls
    ``super().__init__(inputs=..., outputs=...)``, overriding ``train_step``/``test_step``."""

    class Graph(jax_step_class(K, K.Model)):
        def __init__(self, features=6, **kwargs):
            inputs = K.Input((features,))
            hidden = K.layers.Dense(5, activation="tanh")(inputs)
            super().__init__(inputs=inputs, outputs=K.layers.Dense(1)(hidden), **kwargs)

    return Graph


def test_functional_subclass_init_runs_its_steps(keras):
    x, y = _data()
    vx, vy = _data(n=20, seed=1)
    with keras_ref():
        km = functional_init_class(keras)()
    lm = functional_init_class(lamina)()
    lm.set_weights(km.get_weights())
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.Adam(0.01), x, y,
                       validation_data=(vx, vy))  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)
    with keras_ref():
        ke = km.evaluate(vx, vy, verbose=0)
    _close(ke, lm.evaluate(vx, vy, verbose=0))


def test_assigned_learning_rate_reaches_the_built_in_engine(keras):
    """``model.optimizer.learning_rate = x`` from a callback, on a plain ``Sequential``."""
    x, y = _data()
    with keras_ref():
        km = _sequential(keras, keras.Sequential)
    lm = _sequential(lamina, lamina.Sequential)
    lm.set_weights(km.get_weights())
    kh, lh = _fit_both(keras, km, lm, lambda K: K.optimizers.SGD(0.05), x, y,
                       callbacks=SetRate.make)  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)


def test_assigned_learning_rate_reaches_a_second_optimizer():
    """A model holding its own optimizer (a GAN's kind): assigning its ``learning_rate``
    between epochs changes the rate its ``stateless_apply`` uses."""

    class Two(lamina.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.second = lamina.optimizers.SGD(0.1)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data

            def loss_fn(tv):
                y_pred, _ = self.stateless_call(tv, ntv, x, training=True)
                return self.compute_loss(x, y, y_pred)

            loss, grads = jax.value_and_grad(loss_fn)(tv)
            tv, _ = self.second.stateless_apply(self.second.variables, grads, tv)
            return {"loss": loss}, (tv, ntv, ov, mv)

    class Freeze(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.second.learning_rate = 0.0

        def on_epoch_end(self, epoch, logs=None):
            weights.append(self.model.get_weights())

    weights = []
    x, y = _data()
    model = _functional(lamina, Two)
    model.compile(optimizer="sgd", loss="mse")
    initial = model.get_weights()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Freeze()])
    assert not np.allclose(weights[0][0], initial[0])  # epoch 0 trained at 0.1
    for later in weights[1:]:
        for a, b in zip(weights[0], later):
            _close(a, b, 0, 0)  # the rate is 0 from epoch 1: nothing moves


@pytest.mark.parametrize("swap_on_epoch", [False, pytest.param(True, marks=SLOW)])
def test_swap_ema_weights_with_custom_steps_matches_keras(keras, swap_on_epoch):
    x, y = _data()
    vx, vy = _data(n=20, seed=1)
    km, lm = _pair(keras, "jax_train_step")
    kh, lh = _fit_both(
        keras, km, lm, lambda K: K.optimizers.Adam(0.02, use_ema=True, ema_momentum=0.8), x, y,
        callbacks=lambda K: [K.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)],
        validation_data=(vx, vy),
    )  # fmt: skip
    _same_history(kh, lh)  # val_loss: the averaged weights evaluated
    _same_weights(km, lm)
