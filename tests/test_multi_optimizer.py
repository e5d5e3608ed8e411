"""``keras.optimizers.MultiOptimizer`` and ``OptimizerMap``, checked against real Keras 3."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import optimizers
from tests.helpers import keras_ref

X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = np.random.default_rng(1).random((16, 2)).astype("float32")


def _model(K, seed=0):
    model = K.Sequential(
        [K.Input((3,)), K.layers.Dense(4, name="dense"), K.layers.Dense(2, name="dense_1")],
        name="sequential",
    )
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _map_optimizer(K, pattern="sequential/dense_1/.*"):
    return K.optimizers.MultiOptimizer(
        K.optimizers.OptimizerMap(
            K.optimizers.SGD(0.1, momentum=0.5, name="sgd"),
            {pattern: K.optimizers.Adam(0.01, name="adam")},
        ),
        name="multi_optimizer",
    )


def _fit_both(keras, make_opt, epochs=2, callbacks=None, **fit_kwargs):
    with keras_ref():
        km = _model(keras)
        ko = make_opt(keras)
        km.compile(optimizer=ko, loss="mse")
        kh = km.fit(
            X,
            Y,
            batch_size=4,
            epochs=epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks(keras) if callbacks else None,
            **fit_kwargs,
        )
    lm = _model(lamina)
    lo = make_opt(lamina)
    lm.compile(optimizer=lo, loss="mse")
    lh = lm.fit(
        X,
        Y,
        batch_size=4,
        epochs=epochs,
        verbose=0,
        shuffle=False,
        callbacks=callbacks(lamina) if callbacks else None,
        **fit_kwargs,
    )
    return (km, ko, kh), (lm, lo, lh)


def _assert_same_weights(km, lm):
    for a, b in zip(km.get_weights(), lm.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _assert_same_variables(ko, lo):
    kv = [np.asarray(v.numpy()) for v in ko.variables]
    lv = [np.asarray(v) for v in lo.variables]
    assert [v.shape for v in lv] == [v.shape for v in kv]
    for a, b in zip(kv, lv):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- OptimizerMap
def test_optimizer_map_lookup_and_mapping_api():
    rms, adam, sgd = optimizers.RMSprop(), optimizers.Adam(), optimizers.SGD()
    m = optimizers.OptimizerMap(default_optimizer=rms)
    m["encoder/layer_0/dense"] = adam
    m["encoder/.*"] = sgd
    m["decoder"] = adam
    assert m["decoder"] is adam
    assert m["encoder/layer_0/dense"] is adam  # exact key first
    assert m["encoder/layer_0/attention/query"] is sgd
    assert m["decoder/layer_0/dense"] is rms  # fullmatch, not search
    assert len(m) == 3 and list(m) == ["encoder/layer_0/dense", "encoder/.*", "decoder"]
    m["enc.*"] = adam
    with pytest.raises(ValueError, match="Multiple optimizers assigned to variable encoder/x"):
        m["encoder/x"]  # noqa: B018
    del m["enc.*"]
    assert m["encoder/x"] is sgd
    with pytest.raises(ValueError, match="already exists in the OptimizerMap"):
        m["decoder"] = sgd
    with pytest.raises(ValueError, match="key must be a string"):
        m[3] = sgd
    with pytest.raises(ValueError, match="must be a Keras Optimizer instance"):
        m["x"] = "adam"
    with pytest.raises(ValueError, match="cannot be LossScaleOptimizer"):
        m["x"] = optimizers.LossScaleOptimizer(optimizers.SGD())
    with pytest.raises(ValueError, match="cannot be MultiOptimizer"):
        m["x"] = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    with pytest.raises(TypeError, match="default_optimizer must be a Keras Optimizer"):
        optimizers.OptimizerMap("sgd")
    with pytest.raises(TypeError, match="optimizer_map must be a dictionary"):
        optimizers.OptimizerMap(sgd, [("a", adam)])


def test_learning_rate_is_not_on_the_wrapper_and_inner_order_is_keras(keras):
    opt = _map_optimizer(lamina)
    with pytest.raises(AttributeError, match="cannot be accessed on a MultiOptimizer"):
        opt.learning_rate  # noqa: B018
    with pytest.raises(AttributeError, match="cannot be set on a MultiOptimizer"):
        opt.learning_rate = 0.1
    assert not hasattr(opt, "learning_rate")  # as Keras's callbacks test it
    with keras_ref():
        ko = _map_optimizer(keras)
    assert [o.name for o in opt.optimizers] == [o.name for o in ko.optimizers] == ["adam", "sgd"]
    assert int(opt.iterations) == 0
    with pytest.raises(TypeError, match="OptimizerMap or a function"):
        optimizers.MultiOptimizer("adam")


def test_loss_scale_factor_is_set_on_the_inner_optimizers():
    adam = optimizers.Adam(loss_scale_factor=4.0)
    opt = optimizers.MultiOptimizer(optimizers.OptimizerMap(adam), loss_scale_factor=2.0)
    assert adam.loss_scale_factor == 2.0
    opt.loss_scale_factor = 8.0
    assert adam.loss_scale_factor == 8.0 and opt.loss_scale_factor == 8.0


# ---------------------------------------------------------------------- training
def test_fit_with_an_optimizer_map_matches_keras(keras):
    (km, ko, _), (lm, lo, _) = _fit_both(keras, _map_optimizer)
    _assert_same_weights(km, lm)
    _assert_same_variables(ko, lo)
    assert int(lo.iterations) == int(ko.iterations) == 8
    assert [int(o.iterations) for o in lo.optimizers] == [8, 8]
    assert [v.path for v in lo.variables] == [v.path for v in ko.variables]


def test_fit_with_a_selector_function_matches_keras(keras):
    def make(K):
        made = []

        def select(variable):  # a fresh optimizer per variable, as Keras's docstring shows
            opt = K.optimizers.Adam(0.02) if "dense_1" in variable.path else K.optimizers.SGD(0.1)
            made.append(opt)
            return opt

        return K.optimizers.MultiOptimizer(select)

    (km, ko, _), (lm, lo, _) = _fit_both(keras, make)
    _assert_same_weights(km, lm)
    assert [type(o).__name__ for o in lo.optimizers] == [type(o).__name__ for o in ko.optimizers]
    assert len(lo.optimizers) == 4
    kv = [np.asarray(v.numpy()) for v in ko.variables]
    lv = [np.asarray(v) for v in lo.variables]
    assert len(kv) == len(lv)
    for a, b in zip(kv, lv):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_frozen_layer_and_recompile_after_trainable_change(keras):
    with keras_ref():
        km = _model(keras)
        km.layers[0].trainable = False
        km.compile(optimizer=_map_optimizer(keras), loss="mse")
        km.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        km.layers[0].trainable = True
        km.compile(optimizer=_map_optimizer(keras), loss="mse")
        km.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    lm = _model(lamina)
    frozen = lm.layers[0].get_weights()
    lm.layers[0].trainable = False
    opt = _map_optimizer(lamina)
    lm.compile(optimizer=opt, loss="mse")
    lm.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(frozen, lm.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [v.shape for v in opt.variables][4:8] == [(4, 2), (4, 2), (2,), (2,)]
    lm.layers[0].trainable = True
    lm.compile(optimizer=_map_optimizer(lamina), loss="mse")
    lm.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    _assert_same_weights(km, lm)


def test_learning_rate_scheduler_sets_each_inner_rate_as_keras(keras):
    def callbacks(K):
        return [K.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)]

    (km, ko, kh), (lm, lo, lh) = _fit_both(keras, _map_optimizer, epochs=3, callbacks=callbacks)
    _assert_same_weights(km, lm)
    for name in ("learning_rate_adam", "learning_rate_sgd"):
        np.testing.assert_allclose(lh.history[name], kh.history[name], rtol=1e-6)
    assert "learning_rate" not in lh.history
    assert float(lo.optimizers[0].learning_rate) == pytest.approx(0.01 / 8)


@pytest.mark.slow
def test_reduce_lr_on_plateau_reduces_each_inner_rate_as_keras(keras):
    def callbacks(K):
        return [
            K.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
        ]

    (km, ko, kh), (lm, lo, lh) = _fit_both(keras, _map_optimizer, epochs=3, callbacks=callbacks)
    _assert_same_weights(km, lm)
    for name in ("learning_rate_adam", "learning_rate_sgd"):
        np.testing.assert_allclose(lh.history[name], kh.history[name], rtol=1e-6)


# ---------------------------------------------------------------------- config and files
def test_config_round_trip_matches_keras(keras):
    opt = _map_optimizer(lamina)
    with keras_ref():
        kcfg = keras.optimizers.serialize(_map_optimizer(keras))
    cfg = optimizers.serialize(opt)
    assert cfg["class_name"] == kcfg["class_name"] == "MultiOptimizer"
    inner = cfg["config"]["optimizer_map"]
    assert inner["class_name"] == kcfg["config"]["optimizer_map"]["class_name"] == "OptimizerMap"
    assert list(inner["config"]["optimizer_map"]) == ["sequential/dense_1/.*"]
    assert set(cfg["config"]) == set(kcfg["config"])
    again = optimizers.deserialize(kcfg)
    assert isinstance(again, optimizers.MultiOptimizer)
    assert [type(o).__name__ for o in again.optimizers] == ["Adam", "SGD"]
    assert again.optimizers[1].momentum == 0.5
    assert optimizers.MultiOptimizer.from_config(opt.get_config()).get_config() == opt.get_config()


def test_selector_function_config_needs_custom_objects():
    def pick(variable):
        return sgd

    sgd = optimizers.SGD()
    cfg = optimizers.serialize(optimizers.MultiOptimizer(pick))
    assert cfg["config"]["optimizer_map"]["class_name"] == "function"
    with pytest.raises(ValueError, match="selector function 'pick'"):
        optimizers.deserialize(cfg)
    assert optimizers.deserialize(cfg, {"pick": pick})._optimizer_map is pick


@pytest.mark.slow
def test_keras_file_round_trips_with_real_keras(keras, tmp_path):
    # Keras's loaded models name their variables without the model's scope ("dense_1/kernel"):
    # a pattern matching both paths keeps Keras's own reload on the same optimizers.
    def make(K):
        return _map_optimizer(K, ".*dense_1/.*")

    (km, ko, _), (lm, lo, _) = _fit_both(keras, make, epochs=1)
    with keras_ref():
        km.save(tmp_path / "k.keras")
    loaded = lamina.models.load_model(tmp_path / "k.keras")
    _assert_same_variables(ko, loaded.optimizer)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
        kv = [np.asarray(v.numpy()) for v in back.optimizer.variables]
        inner = [[np.asarray(v.numpy()) for v in o.variables] for o in back.optimizer.optimizers]
    lv = [np.asarray(v) for v in lo.variables]
    assert len(kv) == len(lv)
    for a, b in zip(kv, lv):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert [len(v) for v in inner] == [6, 4]
    # Both continue from the loaded state to the same weights.
    with keras_ref():
        back.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    loaded.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    _assert_same_weights(back, loaded)


# ---------------------------------------------------------------------- stateless API
def test_build_and_stateless_apply_split_the_variables():
    class V:
        def __init__(self, path, value):
            self.path, self.value = path, np.asarray(value, "float32")

    sgd, adam = optimizers.SGD(0.5, name="sgd"), optimizers.Adam(0.1, name="adam")
    opt = optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd, {"b": adam}))
    variables = [V("a", [1.0, 2.0]), V("b", [3.0])]
    opt.build(variables)
    assert [np.shape(v) for v in opt.variables] == [(), (), (), (), (1,), (1,), (), ()]
    new, opt_vars = opt.stateless_apply(
        opt.variables, [np.ones(2), np.ones(1)], [v.value for v in variables]
    )
    np.testing.assert_allclose(new[0], [0.5, 1.5])
    np.testing.assert_allclose(new[1], [2.9], rtol=1e-5)  # Adam's first step: lr * sign
    assert int(opt_vars[0]) == 1 and int(opt_vars[2]) == 1 and int(opt_vars[6]) == 1


def test_eager_apply_builds_from_the_variables_paths():
    model = _model(lamina)
    opt = _map_optimizer(lamina)
    tv = model.trainable_variables
    before = model.get_weights()
    opt.apply([np.ones(v.shape, "float32") for v in tv], tv)
    steps = [np.abs(a - b).max() for a, b in zip(before, model.get_weights())]
    np.testing.assert_allclose(steps, [0.1, 0.1, 0.01, 0.01], rtol=1e-3)  # SGD, then Adam
    assert opt.apply_gradients(zip([np.ones(v.shape, "float32") for v in tv], tv)) == 2
    assert opt.apply([]) is None


def test_custom_train_step_with_stateless_apply():
    import jax

    class Custom(lamina.Model):
        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data

            def loss_fn(tv):
                y_pred, new_ntv = self.stateless_call(tv, ntv, x, training=True)
                return lamina.ops.mean((y_pred - y) ** 2), new_ntv

            (loss, ntv), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            return {"loss": loss}, (tv, ntv, ov, mv)

    inputs = lamina.Input((3,))
    outputs = lamina.layers.Dense(2, name="head")(lamina.layers.Dense(4)(inputs))
    model = Custom(inputs, outputs)
    sgd = optimizers.SGD(0.0, name="sgd")  # frozen by its rate: only the head moves
    opt = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(sgd, {".*head/.*": optimizers.Adam(0.1, name="adam")})
    )
    model.compile(optimizer=opt)
    before = model.get_weights()
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    moved = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert moved == [False, False, True, True]
    assert int(opt.iterations) == 4
    with pytest.raises(ValueError, match="picks each variable's optimizer from its `path`"):
        optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd)).build([np.zeros(2)])


def test_mixed_float16_wraps_it_in_a_loss_scale_optimizer(tmp_path):
    from lamina import mixed_precision

    mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model(lamina)
        opt = _map_optimizer(lamina)
        model.compile(optimizer=opt, loss="mse")
        assert isinstance(model.optimizer, optimizers.LossScaleOptimizer)
        before = model.get_weights()
        model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
        assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
        model.save(tmp_path / "m.keras")
        loaded = lamina.models.load_model(tmp_path / "m.keras")
    finally:
        mixed_precision.set_global_policy("float32")
    assert isinstance(loaded.optimizer.inner_optimizer, optimizers.MultiOptimizer)
