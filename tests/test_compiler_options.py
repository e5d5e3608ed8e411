"""Small models compile with XLA's classic CPU emitters: faster compiles, identical numbers."""

import jax
import numpy as np
import pytest

import lamina
from lamina.training import compilation

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU-only choice")


def _model(units=12):
    model = lamina.Sequential(
        [lamina.Input((8,)), lamina.layers.Dense(units, activation="relu"),
         lamina.layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.build()
    return model


def test_small_models_get_the_classic_emitters_and_large_ones_the_defaults():
    assert _model(12)._compiler_options() == {"xla_cpu_use_fusion_emitters": False}
    big = _model(600)  # 8*600 + 600 + 600 + 1 weights: above the threshold
    assert big.count_params() > compilation.SMALL_MODEL_WEIGHTS
    assert big._compiler_options() is None


def test_user_xla_flags_win(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert compilation.program_compiler_options(10) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_evaluate_predict_agree_with_either_emitters(monkeypatch, seed):
    # The two emitters may order a reduction differently: equal to float32 rounding (some
    # initial weights gave a 1-ulp different evaluate loss), not always bit for bit.
    lamina.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    light = _model()
    weights = light.get_weights()
    h1 = light.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0).history
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")  # XLA's defaults
    default = _model()
    assert default._compiler_options() is None
    default.set_weights(weights)
    assert light._program is not default._program
    h2 = default.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0).history
    assert h1.keys() == h2.keys()
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-6)
    for a, b in zip(light.get_weights(), default.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        light.predict(x, verbose=0), default.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        light.evaluate(x, y, verbose=0), default.evaluate(x, y, verbose=0), rtol=1e-6
    )


def _conv_model(extra=()):
    model = lamina.Sequential(
        [lamina.Input((32, 3)), lamina.layers.Conv1D(128, 5, activation="relu"), *extra,
         lamina.layers.Flatten() if not extra else lamina.layers.Dense(4),
         lamina.layers.Dense(1)]
    )  # fmt: skip
    model.compile("adam", "mse")
    return model


def _fit(model, weights=None):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 32, 3)).astype("float32")
    y = rng.normal(size=(40, 1)).astype("float32")
    model.build((None, 32, 3))
    if weights is not None:
        model.set_weights(weights)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    return history, model._get_program()


def test_convolutional_models_train_with_the_classic_emitters_and_predict_with_the_defaults():
    model = _conv_model()
    assert model.count_params() > compilation.SMALL_MODEL_WEIGHTS
    _, program = _fit(model)
    assert program.train_epoch.compiler_options() == {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 2,  # level 3 took 26 s on the keras.io autoencoder
    }
    assert model._compiler_options() is None  # evaluate and predict: XLA's defaults


def test_recurrent_training_programs_keep_the_defaults():
    with_loop = _conv_model([lamina.layers.LSTM(8)])  # a convolution, then a loop
    _, program = _fit(with_loop)
    assert program.hints == {"compile_bound": True, "forward_kind": "loop"}
    assert program.train_epoch.compiler_options() is None


def test_attention_keeps_the_defaults_in_short_fits():
    inputs = lamina.Input((6,), dtype="int32")
    h = lamina.layers.Embedding(1000, 8)(inputs)
    h = lamina.layers.MultiHeadAttention(2, 4)(h, h)  # batched products: compiles no faster
    model = lamina.Model(inputs, lamina.layers.Dense(1)(lamina.layers.Flatten()(h)))
    model.compile("adam", "mse")
    assert model.count_params() > compilation.SMALL_MODEL_WEIGHTS
    model.fit(np.zeros((16, 6), "int32"), np.zeros(16, "float32"), epochs=1, verbose=0)
    program = model._get_program()
    assert program.hints == {"compile_bound": True, "forward_kind": "other"}
    assert program.train_epoch.compiler_options() is None


def test_short_dense_fits_train_at_llvm_level_2_and_long_ones_with_the_defaults(monkeypatch):
    from lamina.training import strategy

    x, y = np.zeros((16, 8), "float32"), np.zeros(16, "float32")
    short = _model(600)
    assert short.count_params() > compilation.SMALL_MODEL_WEIGHTS
    short.fit(x, y, epochs=1, verbose=0)
    program = short._get_program()
    assert program.hints == {"compile_bound": True, "forward_kind": "dense"}
    assert program.train_epoch.compiler_options() == {"xla_backend_optimization_level": 2}
    assert short._compiler_options() is None  # evaluate and predict: XLA's defaults
    monkeypatch.setattr(strategy, "DENSE_COMPILE_BOUND_FIT_SECONDS", 0.0)
    long = _model(600)
    long.fit(x, y, epochs=1, verbose=0)
    program = long._get_program()
    assert program.hints == {"compile_bound": False, "forward_kind": "dense"}
    assert program.train_epoch.compiler_options() is None


def test_convolutional_fit_matches_xla_default_emitters(monkeypatch):
    light = _conv_model()
    light.build((None, 32, 3))
    weights = light.get_weights()
    h1, p1 = _fit(light, weights)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")  # the user's choice
    default = _conv_model()
    h2, p2 = _fit(default, weights)
    assert p1.train_epoch.compiler_options() is not None
    assert p2.train_epoch.compiler_options() is None
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)
    for a, b in zip(light.get_weights(), default.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dense_fit_at_llvm_level_2_matches_xla_defaults(monkeypatch):
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    light = _model(600)
    weights = light.get_weights()
    h1 = light.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")  # the user's choice
    default = _model(600)
    default.set_weights(weights)
    h2 = default.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert light._get_program().train_epoch.compiler_options() is not None
    assert default._get_program().train_epoch.compiler_options() is None
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(light.get_weights(), default.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_fit_traces_the_forward_pass_once_for_its_plan_and_its_options(monkeypatch):
    kinds = []

    def counted(closed):
        kinds.append(real(closed))
        return kinds[-1]

    real = compilation.forward_kind
    monkeypatch.setattr(compilation, "forward_kind", counted)
    x, y = np.zeros((16, 8), "float32"), np.zeros(16, "float32")
    model = _model(600)
    model.fit(x, y, epochs=1, verbose=0)
    program = model._get_program()
    assert kinds == ["dense"]  # the plan's profile; the options reuse it
    assert program.train_epoch.compiler_options() == {"xla_backend_optimization_level": 2}
    # Without a profiled kind (e.g. a program called outside a fit), the options trace it.

    def forward(params, state, row):
        return row @ params

    spec = jax.ShapeDtypeStruct((8, 2), np.float32)
    row = jax.ShapeDtypeStruct((1, 8), np.float32)
    assert compilation.train_compiler_options(forward, spec, None, row) == {
        "xla_backend_optimization_level": 2
    }
    assert kinds == ["dense", "dense"]
    assert compilation.train_compiler_options(forward, spec, None, row, kind="conv") == {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 2,
    }
    assert len(kinds) == 2


def test_a_user_optimization_level_is_kept(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    _, program = _fit(_conv_model())
    assert program.train_epoch.compiler_options() == {"xla_cpu_use_fusion_emitters": False}


def test_long_convolutional_fits_keep_the_default_emitters(monkeypatch):
    from lamina.training import strategy

    # Every fit estimated longer than the bound: not compile-bound, XLA's defaults.
    monkeypatch.setattr(strategy, "COMPILE_BOUND_FIT_SECONDS", 0.0)
    history, program = _fit(_conv_model())
    assert program.hints == {"compile_bound": False, "forward_kind": "conv"}
    assert program.train_epoch.compiler_options() is None


def test_the_plan_marks_short_convolutional_fits_compile_bound():
    from lamina.training import strategy

    short = strategy.plan(0, 128, 4, flops_per_sample=2e7, loop_sensitive=True, epochs=3)
    long = strategy.plan(0, 128, 469, flops_per_sample=2e7, loop_sensitive=True, epochs=15)
    unprofiled = strategy.plan(10**6, 128, 4, epochs=3)
    assert (short.compile_bound, long.compile_bound, unprofiled.compile_bound) == (
        True, False, False
    )  # fmt: skip


def test_the_plan_marks_short_dense_fits_compile_bound_by_a_shorter_bound():
    from lamina.training import strategy

    def bound(n_params, steps, epochs):
        return strategy.plan(n_params, 64, steps, epochs=epochs, profiled=True).compile_bound

    # 85k weights, 4 epochs of 64 steps: ~0.3 s estimated; 100 epochs: ~7 s (> 5 s).
    assert (bound(85_000, 64, 4), bound(85_000, 64, 100)) == (True, False)
    # 414k weights (bench_models' residual MLP): 4 epochs ~1.4 s estimated, 20 epochs ~7 s.
    assert (bound(414_000, 64, 4), bound(414_000, 64, 20)) == (True, False)
    # Unprofiled (streamed inputs, small models): never.
    assert not strategy.plan(85_000, 64, 64, epochs=4).compile_bound


def test_embedding_models_keep_the_defaults_in_short_fits():
    model = lamina.Sequential(
        [lamina.Input((6,), dtype="int32"), lamina.layers.Embedding(1000, 8),
         lamina.layers.Flatten(), lamina.layers.Dense(1)]
    )  # fmt: skip
    model.compile("adam", "mse")
    model.fit(np.zeros((16, 6), "int32"), np.zeros(16, "float32"), epochs=1, verbose=0)
    program = model._get_program()
    assert program.hints == {"compile_bound": True, "forward_kind": "other"}  # a gather
    assert program.train_epoch.compiler_options() is None
