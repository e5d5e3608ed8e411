"""Keras 3's APIs inside a JAX-style custom ``train_step``, and ``run_eagerly`` call counts,
against real Keras 3 (JAX backend).

* ``optimizer.stateless_apply``, ``compute_loss(x=, y=, y_pred=, sample_weight=,
  training=True)`` and the metrics' ``stateless_update_state``/``stateless_result``;
* ``StatelessScope(state_mapping=...)`` around ``optimizer.apply(grads)`` (reading
  ``optimizer.iterations``/``learning_rate``), around ``update_state``/``compute_metrics``
  (``get_metrics_result``), and around layer calls (``scope.get_current_value``);
* ``compile(run_eagerly=True)``: a custom loss is called once per batch, as in Keras.

Each model is written once, as a function of the library module, and run with ``lamina`` and
with ``keras``: same starting weights, ``shuffle=False``, same History and final weights.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _close(a, b, rtol=2e-4, atol=2e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _data(n=21, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    sw = rng.uniform(0.2, 1.0, size=(n,)).astype("float32")
    return x, y, sw


def _build(K, cls):
    inputs = K.Input((4,))
    hidden = K.layers.Dense(3, activation="tanh")(inputs)
    return cls(inputs, K.layers.Dense(1)(hidden))


def _fit_both(keras, make_cls, make_opt, fit, compile_kw=None):
    compile_kw = {"loss": "mse", "metrics": ["mae"], **(compile_kw or {})}
    with keras_ref():
        km = _build(keras, make_cls(keras))
        initial = km.get_weights()
        km.compile(optimizer=make_opt(keras), **compile_kw)
        kh = km.fit(**fit)
    lm = _build(lamina, make_cls(lamina))
    lm.set_weights(initial)
    lm.compile(optimizer=make_opt(lamina), **compile_kw)
    lh = lm.fit(**fit)
    assert sorted(kh.history) == sorted(lh.history)
    for k in kh.history:
        _close(kh.history[k], lh.history[k])
    for a, b in zip(km.get_weights(), lm.get_weights(), strict=True):
        _close(a, b)
    return kh, lh


# ------------------------------------------------------------------ stateless API
def _stateless_metrics(metrics, mv, loss, y, y_pred, sw):
    """The guide's metric update: each metric's slice of ``mv``; returns ``(logs, new mv)``."""
    new_mv, logs = [], {}
    for metric in metrics:
        this = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
        if metric.name == "loss":
            this = metric.stateless_update_state(this, loss)
        else:
            this = metric.stateless_update_state(this, y, y_pred, sw)
        result = metric.stateless_result(this)
        logs.update(result if isinstance(result, dict) else {metric.name: result})
        new_mv += this
    return logs, new_mv


def stateless_class(K):
    """The guide's step, with ``sample_weight`` and ``compute_loss``'s keywords."""

    class Stateless(K.Model):
        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y, sw = data

            def loss_fn(tv):
                y_pred, new_ntv = self.stateless_call(tv, ntv, x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
                return loss, (y_pred, new_ntv)

            (loss, (y_pred, ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            logs, new_mv = _stateless_metrics(self.metrics, mv, loss, y, y_pred, sw)
            return logs, (tv, ntv, ov, new_mv)

    return Stateless


OPTIMIZERS = {
    "sgd_momentum": lambda K: K.optimizers.SGD(0.05, momentum=0.9),
    "adam": lambda K: K.optimizers.Adam(0.02),
}


@pytest.mark.parametrize("opt", ["sgd_momentum", pytest.param("adam", marks=pytest.mark.slow)])
def test_stateless_apply_compute_loss_and_metrics_match_keras(keras, opt):
    x, y, sw = _data()
    vx, vy, _ = _data(9, seed=1)
    fit = dict(x=x, y=y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0,
               validation_data=(vx, vy))  # fmt: skip
    _fit_both(keras, stateless_class, OPTIMIZERS[opt], fit)


def stateless_compute_loss_class(K):
    """The JAX custom-fit guide's first step: ``stateless_compute_loss`` on the step's
    variables (it returns the metrics' variables as ``compute_loss`` left them)."""

    class StatelessLoss(K.Model):
        def compute_loss_and_updates(self, tv, ntv, mv, x, y, sw, training=False):
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=training)
            loss, (tv, ntv, mv) = self.stateless_compute_loss(
                tv, ntv, mv, x=x, y=y, y_pred=y_pred, sample_weight=sw, training=training
            )
            return loss, (y_pred, ntv, mv)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y, sw = data
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, ntv, mv)), grads = grad_fn(tv, ntv, mv, x, y, sw, training=True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            logs, new_mv = _stateless_metrics(self.metrics, mv, loss, y, y_pred, sw)
            return logs, (tv, ntv, ov, new_mv)

    return StatelessLoss


def test_stateless_compute_loss_matches_keras(keras):
    x, y, sw = _data()
    fit = dict(x=x, y=y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _fit_both(keras, stateless_compute_loss_class, OPTIMIZERS["sgd_momentum"], fit)


# ------------------------------------------------------------------ StatelessScope
def scope_class(K):
    """``optimizer.apply`` and the metrics' stateful API, each inside a ``StatelessScope``
    (Keras's own ``_update_metrics_variables`` pattern); logs the optimizer's iterations and
    learning rate read inside the scope."""

    class Scoped(K.Model):
        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y, sw = data

            def loss_fn(tv):
                y_pred, _ = self.stateless_call(tv, ntv, x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
                return loss, y_pred

            (loss, y_pred), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv)
            mapping = [*zip(self.trainable_variables, tv), *zip(self.optimizer.variables, ov)]
            with K.StatelessScope(state_mapping=mapping) as scope:
                self.optimizer.apply(grads)
                iterations = K.ops.convert_to_tensor(self.optimizer.iterations)
                rate = K.ops.convert_to_tensor(self.optimizer.learning_rate)
            tv = [scope.get_current_value(v) for v in self.trainable_variables]
            ov = [scope.get_current_value(v) for v in self.optimizer.variables]
            mapping = list(zip(self.metrics_variables, mv))
            with K.StatelessScope(state_mapping=mapping) as scope:
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                logs = dict(self.compute_metrics(x, y, y_pred, sw))
                logs["check"] = self.get_metrics_result()["mae"] - logs["mae"]
            mv = [scope.get_current_value(v) for v in self.metrics_variables]
            logs.update(iterations=iterations, rate=rate)
            return logs, (tv, ntv, ov, mv)

    return Scoped


@pytest.mark.parametrize("run_eagerly", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_stateless_scope_apply_and_metrics_match_keras(keras, run_eagerly):
    x, y, sw = _data()
    fit = dict(x=x, y=y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kh, lh = _fit_both(keras, scope_class, OPTIMIZERS["adam"], fit,
                       {"run_eagerly": run_eagerly})  # fmt: skip
    assert lh.history["iterations"] == [3.0, 6.0]  # updated inside the scope
    assert lh.history["check"] == [0.0, 0.0]


def test_stateless_scope_runs_layer_calls_like_keras(keras):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    results = []
    for K in (keras, lamina):
        with keras_ref():
            norm = K.layers.BatchNormalization()
            norm(x)
            dense = K.layers.Dense(2)
            dense(x)
            before = dense.get_weights()
            mapping = [(v, np.full(v.shape, 0.5, "float32")) for v in dense.weights]
            mapping.append((norm.moving_mean, np.ones(3, "float32")))
            with K.StatelessScope(state_mapping=mapping) as scope:
                out = dense(x)
                trained = norm(x, training=True)
                inferred = norm(x, training=False)  # reads the moving stats updated above
            results.append([
                out, trained, inferred,
                scope.get_current_value(norm.moving_mean),
                scope.get_current_value(norm.moving_variance),
                norm.moving_mean,
            ])  # fmt: skip
            for a, b in zip(before, dense.get_weights()):
                _close(a, b, 0, 0)  # nothing written outside the scope
    for a, b in zip(*results, strict=True):
        _close(a, b)


def test_optimizer_apply_outside_a_step_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    out = []
    for K in (keras, lamina):
        with keras_ref():
            dense = K.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
            dense(x)
            opt = K.optimizers.Adam(0.1)
            grads = [np.full(v.shape, 0.3, "float32") for v in dense.trainable_variables]
            opt.apply(grads, dense.trainable_variables)
            last = opt.apply_gradients(zip(grads, dense.trainable_variables))
            out.append([*dense.get_weights(), opt.iterations, last])
    for a, b in zip(*out, strict=True):
        _close(a, b)


def test_optimizer_apply_in_a_compiled_step_names_the_stateless_way():
    class InPlace(lamina.Model):
        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data

            def loss_fn(tv):
                return self.compute_loss(x, y, self.stateless_call(tv, ntv, x)[0])

            self.optimizer.apply(jax.grad(loss_fn)(tv))
            return {}, state

    model = _build(lamina, InPlace)
    model.compile(optimizer="sgd", loss="mse")
    x, y, _ = _data(8)
    with pytest.raises(ValueError, match="stateless_apply.*StatelessScope"):
        model.fit(x, y, verbose=0)


def test_stateless_scope_rejects_bad_mappings():
    dense = lamina.layers.Dense(2)
    dense(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match="must be a variable"):
        lamina.StatelessScope(state_mapping=[("kernel", np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"shape \(2, 3\); the variable has shape \(3, 2\)"):
        lamina.StatelessScope(state_mapping=[(dense.kernel, np.ones((2, 3)))])


# ------------------------------------------------------------------ run_eagerly counts
def _counted_loss(K, kind, calls):
    def loss(y_true, y_pred):
        calls[0] += 1  # a Python side effect: runs at every call under run_eagerly
        axis = None if kind == "scalar" else -1
        return K.ops.mean(K.ops.square(y_true - y_pred), axis=axis)

    return loss


@pytest.mark.parametrize("kind", ["scalar", "per_sample"])
@pytest.mark.parametrize(
    "n, validation",
    [
        (10, True),
        *(pytest.param(*c, marks=pytest.mark.slow) for c in [(8, False), (10, False), (8, True)]),
    ],
)
def test_run_eagerly_calls_a_custom_loss_once_per_batch(keras, kind, n, validation):
    x, y, _ = _data(n)
    vx, vy, _ = _data(7, seed=1)  # 7 rows: a partial validation batch
    fit = dict(x=x, y=y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    if validation:
        fit["validation_data"] = (vx, vy)
    counts, histories = [], []
    for K in (keras, lamina):
        calls = [0]
        with keras_ref():
            inputs = K.Input((4,))
            model = K.Model(inputs, K.layers.Dense(1, kernel_initializer="ones")(inputs))
            model.compile(optimizer="sgd", loss=_counted_loss(K, kind, calls), run_eagerly=True)
            model.fit(**fit)  # Keras also calls the loss once symbolically on its first fit
            calls[0] = 0
            histories.append(model.fit(**fit).history)
        counts.append(calls[0])
    steps = 2 * (-(-n // 4) + (2 if validation else 0))
    assert counts == [steps, steps]
    assert sorted(histories[0]) == sorted(histories[1])
    for k in histories[0]:
        _close(histories[0][k], histories[1][k])
