"""Optimizer and variable gaps against real Keras 3: ``optimizer.variables`` (order, names,
paths) of a built optimizer, hand-applied gradients, ``set_weights``/``get_weights``,
``bool(variable)``, and the moving averages of a ``MultiOptimizer``'s inner optimizer."""

import re

import jax
import numpy as np
import pytest

import lamina
from lamina import optimizers
from tests.helpers import keras_ref

X = np.random.RandomState(0).rand(8, 3).astype("float32")
Y = np.random.RandomState(1).rand(8, 2).astype("float32")
W0 = [np.random.RandomState(2).rand(3, 2).astype("float32"), np.full(2, 0.1, "float32")]


def _model(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="d")], name="net")
    model.set_weights(W0)
    return model


def _described(opt):
    # Keras numbers its unnamed variables per process (Nadam's ``variable``, ``variable_1``).
    def plain(s):
        return re.sub(r"^variable_\d+$", "variable", s)

    return [(plain(v.path), plain(v.name), tuple(np.shape(v))) for v in opt.variables]


CASES = [
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("SGD", {"momentum": 0.9}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adadelta", {}),
    ("Nadam", {}),
    ("Ftrl", {}),
    ("Adafactor", {}),
    ("Adafactor", {"use_ema": True}),
    ("Adam", {"use_ema": True}),
    ("SGD", {"momentum": 0.9, "use_ema": True, "gradient_accumulation_steps": 2}),
]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_built_optimizer_variables_are_keras_order_and_names(keras, name, kwargs):
    with keras_ref():
        kopt = getattr(keras.optimizers, name)(name="opt", **kwargs)
        kopt.build(_model(keras).trainable_variables)
        want = _described(kopt)
    opt = getattr(optimizers, name)(name="opt", **kwargs)
    opt.build(_model(lamina).trainable_variables)
    assert _described(opt) == want


@pytest.mark.slow
def test_fitted_nadam_and_adafactor_variables_are_named_as_keras(keras):
    for name in ("Nadam", "Adafactor"):
        with keras_ref():
            km = _model(keras)
            km.compile(getattr(keras.optimizers, name)(name="o"), "mse")
            km.fit(X, Y, batch_size=4, verbose=0)
            want = _described(km.optimizer)
        m = _model(lamina)
        m.compile(getattr(optimizers, name)(name="o"), "mse")
        m.fit(X, Y, batch_size=4, verbose=0)
        assert _described(m.optimizer) == want


def test_state_leaves_interleave_slots_and_keep_the_weight_path_tail():
    tx = optimizers.Adam().to_optax()
    params = ({"bias": np.zeros(2, "float32"), "kernel": np.zeros((3, 2), "float32")},)
    state = tx.init(params)
    paths = [
        jax.tree_util.keystr(p[-2:]) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]
    ]
    assert paths[2:] == ["[0]['bias']", "[0]['bias']", "[0]['kernel']", "[0]['kernel']"]
    again = jax.tree_util.tree_map(lambda a: a + 1, state)
    assert set(again.slots) == {"momentum", "velocity"}
    assert again.slots["velocity"][0]["kernel"].shape == (3, 2)


@pytest.mark.parametrize(
    "name,kwargs",
    [("Adam", {}), ("SGD", {"momentum": 0.9}), ("RMSprop", {"momentum": 0.5, "centered": True})],
)
def test_build_then_apply_gradients_by_hand_matches_keras(keras, name, kwargs):
    grads = [np.random.RandomState(s).randn(*w.shape).astype("float32") for s, w in enumerate(W0)]

    def run(lib):
        model = _model(lib)
        opt = getattr(lib.optimizers, name)(learning_rate=0.05, **kwargs)
        opt.build(model.trainable_variables)
        for _ in range(3):
            opt.apply_gradients(zip(grads, model.trainable_variables))
        return model.get_weights(), [np.asarray(v) for v in opt.variables], int(opt.iterations)

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    assert got[2] == want[2] == 3
    for a, b in zip(got[0], want[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_set_weights_and_get_weights(keras):
    with keras_ref():
        kopt = keras.optimizers.Adam()
        kopt.build(_model(keras).trainable_variables)
        values = [
            np.full(np.shape(v), i + 1, np.asarray(v).dtype) for i, v in enumerate(kopt.variables)
        ]
        kopt.set_weights(values)
        want = [np.asarray(v) for v in kopt.variables]
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="not yet been built"):
        opt.set_weights(values)
    opt.build(_model(lamina).trainable_variables)
    opt.set_weights(values)
    for a, b in zip(opt.get_weights(), want, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not compatible"):
        opt.set_weights([*values[:3], values[4], values[3], values[5]])
    with pytest.raises(ValueError, match=r"expected 6 arrays .* received 5"):
        opt.set_weights(values[:5])
    # After fit: the model's optimizer state, as Keras lists it.
    m = _model(lamina)
    m.compile(optimizers.SGD(0.1, momentum=0.9), "mse")
    m.fit(X, Y, batch_size=4, verbose=0)
    weights = m.optimizer.get_weights()
    m.optimizer.set_weights([weights[0], weights[1], weights[2] * 0, weights[3] * 0])
    assert not np.any(m.optimizer.get_weights()[2])


def test_bool_of_a_variable_raises_as_keras(keras):
    with keras_ref(), pytest.raises(TypeError, match="cannot be used as a boolean"):
        bool(keras.Variable(1.0))
    v = lamina.Variable(1.0)
    with pytest.raises(TypeError, match="cannot be used as a boolean"):
        bool(v)
    layer = lamina.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(TypeError, match="cannot be used as a boolean"):
        bool(layer.kernel)
    assert bool(v.numpy()) and float(v) == 1.0


def _fit_multi(lib):
    model = _model(lib)
    ema = lib.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    plain = lib.optimizers.SGD(0.1)
    opt = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(plain, {".*kernel": ema}))
    model.compile(opt, "mse")
    model.fit(X, Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    return model.get_weights()


@pytest.mark.slow
def test_multi_optimizer_inner_ema_is_written_back_at_the_end_of_fit(keras):
    with keras_ref():
        want = _fit_multi(keras)
    got = _fit_multi(lamina)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_loss_scale_optimizer_inner_ema_is_written_back(keras):
    def run(lib):
        model = _model(lib)
        inner = lib.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
        model.compile(lib.optimizers.LossScaleOptimizer(inner), "mse")
        model.fit(X, Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
        return model.get_weights()

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
