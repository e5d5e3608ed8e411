"""Mixed-precision training against real Keras 3: fits under ``mixed_bfloat16`` and
``mixed_float16``, the ``LossScaleOptimizer``'s scale, and ``.keras`` files carrying policies."""

import warnings

import numpy as np
import pytest

import lamina
from lamina import dtype_policies, mixed_precision, optimizers
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


@pytest.fixture(autouse=True)
def _reset_policies():
    yield
    dtype_policies.set_dtype_policy("float32")
    try:
        import keras

        keras.config.set_dtype_policy("float32")
    except ImportError:
        pass


def _data(n=48, features=6, classes=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, rng.integers(0, classes, n)


def _model(m, policy):
    m.mixed_precision.set_global_policy(policy)
    return m.Sequential(
        [
            m.Input((6,)),
            m.layers.Dense(16, activation="relu"),
            m.layers.Dense(3),
            m.layers.Activation("softmax", dtype="float32"),
        ]
    )


@pytest.mark.parametrize(
    "policy,opt",
    [
        ("mixed_bfloat16", "sgd"),
        pytest.param("mixed_bfloat16", "adam", marks=pytest.mark.slow),
        pytest.param("mixed_float16", "sgd", marks=pytest.mark.slow),
        pytest.param("mixed_float16", "adam", marks=pytest.mark.slow),
    ],
)
def test_fit_history_matches_keras(keras, policy, opt):
    x, y = _data()
    make = {"sgd": lambda m: m.optimizers.SGD(0.1), "adam": lambda m: m.optimizers.Adam(0.01)}
    with keras_ref():
        km = _model(keras, policy)
        km.compile(make[opt](keras), "sparse_categorical_crossentropy")
    lm = _model(lamina, policy)
    lm.set_weights(km.get_weights())
    lm.compile(make[opt](lamina), "sparse_categorical_crossentropy")
    wrapped = policy == "mixed_float16"
    assert isinstance(lm.optimizer, optimizers.LossScaleOptimizer) == wrapped
    assert isinstance(km.optimizer, keras.optimizers.LossScaleOptimizer) == wrapped
    with keras_ref():
        kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
        k_eval = km.evaluate(x, y, verbose=0)
    lh = lm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    tol = 2e-2 if policy == "mixed_bfloat16" else 3e-3
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=tol)
    np.testing.assert_allclose(lm.evaluate(x, y, verbose=0), k_eval, rtol=tol)
    for a, b in zip(lm.get_weights(), km.get_weights()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=5 * tol, atol=5 * tol)
    if wrapped:
        assert float(lm.train_state.opt_state.scale) == float(km.optimizer.dynamic_scale)


def test_loss_scale_optimizer_scale_evolution_matches_keras(keras):
    """Growth every 2 finite steps; a non-finite gradient skips the step and halves."""
    steps = [[0.5, 1.0], [1.0, -2.0], [np.inf, 1.0], [np.nan, 0.0], [2.0, 2.0], [1.0, 1.0],
             [4.0, -4.0], [1e30, 1e30]]  # fmt: skip
    with keras_ref():
        kopt = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(0.1, momentum=0.5), initial_scale=8.0, dynamic_growth_steps=2
        )
        var = keras.Variable(np.array([1.0, 2.0], "float32"))
        kopt.build([var])
        opt_vars, value = [v.value for v in kopt.variables], var.value
        expected = []
        for g in steps:  # Keras's own fit path (its eager apply() trips over jax.lax.cond)
            (value,), opt_vars = kopt.stateless_apply(opt_vars, [np.array(g, "float32")], [value])
            state = {id(v): value for v, value in zip(kopt.variables, opt_vars)}
            scale = state[id(kopt.dynamic_scale)]
            iterations = state[id(kopt.inner_optimizer.iterations)]
            expected.append((float(scale), np.asarray(value), int(iterations)))
    opt = optimizers.LossScaleOptimizer(
        optimizers.SGD(0.1, momentum=0.5), initial_scale=8.0, dynamic_growth_steps=2
    )
    tx = opt.to_optax()
    params = {"w": np.array([1.0, 2.0], "float32")}
    state = tx.init(params)
    for g, (scale, value, iterations) in zip(steps, expected):
        updates, state = tx.update({"w": np.array(g, "float32")}, state, params)
        params = {"w": params["w"] + updates["w"]}
        assert float(state.scale) == scale
        assert int(optimizers.get_iterations(state)) == iterations
        np.testing.assert_allclose(params["w"], value, rtol=1e-6)


def test_loss_scale_optimizer_config_matches_keras(keras):
    ours = optimizers.LossScaleOptimizer(optimizers.Adam(0.01), initial_scale=1024.0)
    with keras_ref():
        theirs = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(0.01), initial_scale=1024.0
        )
        k_config = keras.optimizers.serialize(theirs)
    config = optimizers.serialize(ours)
    assert config["class_name"] == k_config["class_name"] == "LossScaleOptimizer"
    assert config["config"]["initial_scale"] == k_config["config"]["initial_scale"]
    assert config["config"]["inner_optimizer"]["config"]["learning_rate"] == pytest.approx(
        k_config["config"]["inner_optimizer"]["config"]["learning_rate"]
    )
    back = optimizers.deserialize(k_config)
    assert isinstance(back, optimizers.LossScaleOptimizer)
    assert optimizers.deserialize(config) == ours
    assert (back.initial_scale, back.dynamic_growth_steps) == (1024.0, 2000)
    assert type(back.inner_optimizer) is optimizers.Adam
    assert back.learning_rate == pytest.approx(0.01)
    with pytest.raises(ValueError, match="does not support `clipnorm`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="no longer supports `dynamic=False`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic=False)


def test_fit_float16_overflow_halves_the_scale_like_keras(keras):
    """A huge initial scale overflows float16 gradients: steps are skipped, the scale halves."""
    x, y = _data()
    with keras_ref():
        km = _model(keras, "mixed_float16")
        km.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), 2.0**40),
                   "sparse_categorical_crossentropy")  # fmt: skip
    lm = _model(lamina, "mixed_float16")
    lm.set_weights(km.get_weights())
    lm.compile(optimizers.LossScaleOptimizer(optimizers.SGD(0.1), 2.0**40),
               "sparse_categorical_crossentropy")  # fmt: skip
    with keras_ref():
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    lh = lm.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    scale = float(lm.train_state.opt_state.scale)
    assert scale < 2.0**40 and scale == float(km.optimizer.dynamic_scale)
    assert int(optimizers.get_iterations(lm.train_state.opt_state)) == int(km.optimizer.iterations)
    np.testing.assert_allclose(lh["loss"], kh["loss"], rtol=3e-3)


def test_keras_file_round_trip_keeps_policies(keras, tmp_path):
    x, y = _data()
    lm = _model(lamina, "mixed_float16")
    lm.compile("adam", "sparse_categorical_crossentropy")
    lm.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = lm.predict(x, verbose=0)
    config = lm.layers[0].get_config()
    assert config["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                               "config": {"name": "mixed_float16"}, "registered_name": None}  # fmt: skip
    mixed_precision.set_global_policy("float32")  # the files, not the global policy, decide
    with keras_ref():
        keras.mixed_precision.set_global_policy("float32")
    path = str(tmp_path / "ours.keras")
    lm.save(path)
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Keras loads the optimizer state whole
        km = keras.saving.load_model(path)
        np.testing.assert_allclose(km.predict(x, verbose=0), expected, rtol=4e-3, atol=4e-3)
    assert [la.dtype_policy.name for la in km.layers] == ["mixed_float16"] * 2 + ["float32"]
    assert isinstance(km.optimizer, keras.optimizers.LossScaleOptimizer)
    opt_state = lm.train_state.opt_state
    assert int(km.optimizer.inner_optimizer.iterations) == 3
    assert float(km.optimizer.dynamic_scale) == float(opt_state.scale) == 2.0**15
    assert int(km.optimizer.step_counter) == int(opt_state.counter) == 3
    path2 = str(tmp_path / "theirs.keras")
    with keras_ref():
        km.save(path2)
    back = lamina.models.load_model(path2)
    assert [la.dtype_policy.name for la in back.layers] == ["mixed_float16"] * 2 + ["float32"]
    assert isinstance(back.optimizer, optimizers.LossScaleOptimizer)
    assert int(back.train_state.opt_state.counter) == 3
    assert int(optimizers.get_iterations(back.train_state.opt_state)) == 3
    got = back.predict(x, verbose=0)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6)
