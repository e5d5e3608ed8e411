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


def test_fit_evaluate_predict_are_identical_with_either_emitters(monkeypatch):
    rng = np.random.default_rng(0)
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
    assert h1 == h2
    for a, b in zip(light.get_weights(), default.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(light.predict(x, verbose=0), default.predict(x, verbose=0))
    assert light.evaluate(x, y, verbose=0) == default.evaluate(x, y, verbose=0)
