"""``lamina.training.strategy``: the cost model gives a conv net and an MLP different strategies,
a forced strategy is honoured, and forcing one changes the dispatch, never the numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina.callbacks import Callback, progress
from lamina.layers import Conv2D, Dense, Flatten, MaxPooling2D
from lamina.models import Sequential
from lamina.training import strategy
from lamina.training.step import forward


def _flops_per_sample(layers, sample_shape):
    """XLA's forward FLOPs of ``layers`` on one row (weights from the layers' own ``init``)."""
    params, states, shape = [], [], (1, *sample_shape)
    for i, layer in enumerate(layers):
        p, s = layer.init(jax.random.key(i), shape)
        params.append(p)
        states.append(s)
        shape = layer.compute_output_shape(shape)

    def run(p, s, x):
        return forward(tuple(layers), p, s, x, training=False)[0]

    x = jax.ShapeDtypeStruct((1, *sample_shape), jnp.float32)
    return strategy.forward_flops(run, tuple(params), tuple(states), x)


def test_conv_net_and_mlp_get_different_strategies(monkeypatch):
    monkeypatch.delenv(strategy.ENV, raising=False)
    conv = [
        Conv2D(32, 3, activation="relu"),
        Conv2D(64, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ]
    mlp = [Dense(12, activation="relu"), Dense(8, activation="relu"), Dense(1)]
    conv_flops = _flops_per_sample(conv, (28, 28, 1))
    mlp_flops = _flops_per_sample(mlp, (8,))
    # The analytic count: two convolutions and two dense layers, 2 FLOPs per multiply-add.
    analytic = 2 * (26 * 26 * 9 * 32 + 24 * 24 * 288 * 64 + 12 * 12 * 64 * 128 + 1280)
    assert conv_flops == pytest.approx(analytic, rel=0.05)
    conv_plan = strategy.plan(1_199_882, 128, 47, flops_per_sample=conv_flops)
    mlp_plan = strategy.plan(221, 10, 77, flops_per_sample=mlp_flops)
    assert conv_plan.name == "step" and conv_plan.steps_per_call == 1
    assert mlp_plan.name == "epoch" and mlp_plan.steps_per_call == 77
    # Nothing to show between steps: the fused epoch, whatever the cost.
    assert strategy.plan(1, 128, 47, flops_per_sample=conv_flops, live=False).name == "epoch"


def test_chunks_split_the_epoch_evenly():
    # ~0.01 s per step: calls of at most TARGET_CHUNK_SECONDS, padding less than one per call.
    p = strategy.plan(0, 100, 100, flops_per_sample=1e6)
    per_step = strategy.step_seconds(0, 100, flops_per_sample=1e6)
    calls = -(-100 // p.steps_per_call)
    assert p.name == "chunk" and 1 < p.steps_per_call < 100
    assert p.steps_per_call * per_step <= strategy.TARGET_CHUNK_SECONDS
    assert calls * p.steps_per_call - 100 < calls
    assert p.history_params() == {"strategy": "chunk", "steps_per_call": p.steps_per_call}


@pytest.mark.parametrize(
    "forced, want",
    [("epoch", ("epoch", 47)), ("step", ("step", 1)), ("5", ("chunk", 5)), (64, ("epoch", 47))],
)
def test_forcing_a_strategy(monkeypatch, forced, want):
    monkeypatch.setenv(strategy.ENV, str(forced))
    assert tuple(strategy.plan(10, 32, 47))[:2] == want
    monkeypatch.setenv(strategy.ENV, "auto")
    assert tuple(strategy.plan(10, 32, 47, requested=forced))[:2] == want


@pytest.mark.parametrize("bad", ["fast", 0, -2, 1.5, True])
def test_bad_strategy_names_the_choices(monkeypatch, bad):
    monkeypatch.setenv(strategy.ENV, "auto")
    with pytest.raises(ValueError, match="one of 'auto', 'epoch', 'chunk', 'step'"):
        strategy.plan(10, 32, 47, requested=bad)
    monkeypatch.setenv(strategy.ENV, str(bad))
    with pytest.raises(ValueError, match="LAMINA_STRATEGY"):
        strategy.resolve()


def _conv_model():
    model = Sequential(
        [Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(), Dense(3)]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 6, 6, 1))
    model.set_weights([np.full(w.shape, 0.05 * (i + 1), np.float32)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def _conv_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(70, 6, 6, 1)).astype("float32"), rng.integers(0, 3, size=(70,))


def _fit_weights(monkeypatch, forced):
    monkeypatch.setenv(strategy.ENV, forced)
    monkeypatch.setattr(progress, "is_live", lambda *a, **k: True)  # the engine asks for chunks
    x, y = _conv_data()
    model = _conv_model()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=1)
    assert history.params["strategy"] == forced  # recorded for the user, as the issue asks
    return model.get_weights(), history.history


def test_forced_strategies_give_identical_numbers(monkeypatch, capsys):
    weights_epoch, hist_epoch = _fit_weights(monkeypatch, "epoch")
    weights_step, hist_step = _fit_weights(monkeypatch, "step")
    capsys.readouterr()
    for a, b in zip(weights_epoch, weights_step):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key in hist_epoch:
        np.testing.assert_allclose(hist_epoch[key], hist_step[key], rtol=1e-6)


def test_forward_profile_finds_convolutions_nested_or_not():
    from lamina.layers import LSTM, TimeDistributed

    row = jax.ShapeDtypeStruct((1, 6, 6, 1), jnp.float32)
    assert _conv_model()._forward_profile(row)[0] is True
    wrapped = Sequential([TimeDistributed(Conv2D(2, 3), input_shape=(3, 6, 6, 1))])
    wrapped.build((None, 3, 6, 6, 1))
    conv, flops, _ = wrapped._forward_profile(jax.ShapeDtypeStruct((1, 3, 6, 6, 1), jnp.float32))
    assert conv and flops == pytest.approx(2 * 3 * 16 * 9 * 2, rel=0.2)
    mlp = Sequential([Dense(4, input_shape=(5,)), Dense(1)])
    mlp.build((None, 5))
    assert mlp._forward_profile(jax.ShapeDtypeStruct((1, 5), jnp.float32)) == (
        False,
        None,
        "dense",
    )
    rnn = Sequential([LSTM(3, input_shape=(4, 2))])
    rnn.build((None, 4, 2))
    assert rnn._forward_profile(jax.ShapeDtypeStruct((1, 4, 2), jnp.float32)) == (
        False,
        None,
        "loop",
    )


def test_trial_picks_a_dispatch_by_timing_and_keeps_the_numbers(monkeypatch):
    """A long conv fit times per-step calls against scans, records both, and trains the same
    numbers as the whole-epoch program (XLA's and the taps' convolution gradients differ only
    by float32 rounding)."""
    monkeypatch.delenv(strategy.ENV, raising=False)
    monkeypatch.setattr(strategy, "TRIAL_MIN_FIT_SECONDS", 0.0)
    monkeypatch.setattr(strategy, "TRIAL_MIN_STEP_SECONDS", 0.0)
    monkeypatch.setattr(strategy, "TRIAL_MIN_EPOCHS", 3)
    x, y = _conv_data()
    model = _conv_model()
    seen = []

    class Epochs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(self.params))

    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                        callbacks=[Epochs()])  # fmt: skip
    params = history.params
    assert seen[0]["strategy"] == "trial"  # undecided during the two timed epochs
    assert params["strategy"] in ("step", "chunk")
    assert set(params["strategy_trial"]) == {"step", "chunk"}
    assert all(t > 0 for t in params["strategy_trial"].values())
    assert params["steps_per_call"] == (1 if params["strategy"] == "step" else 3)

    monkeypatch.setenv(strategy.ENV, "epoch")
    reference = _conv_model()
    ref_history = reference.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    assert ref_history.params["strategy"] == "epoch"
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for key in ref_history.history:
        np.testing.assert_allclose(history.history[key], ref_history.history[key], rtol=1e-5)


def test_no_trial_for_short_fits_or_models_without_convolutions(monkeypatch):
    monkeypatch.delenv(strategy.ENV, raising=False)
    x, y = _conv_data()
    short = _conv_model().fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert short.params["strategy"] == "epoch"  # ~0.1 ms steps: a trial would cost more
    monkeypatch.setattr(strategy, "TRIAL_MIN_FIT_SECONDS", 0.0)
    monkeypatch.setattr(strategy, "TRIAL_MIN_STEP_SECONDS", 0.0)
    mlp = Sequential([Dense(4, activation="relu", input_shape=(36,)), Dense(3, activation="softmax")])
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert mlp.fit(x.reshape(70, 36), y, batch_size=16, epochs=4, verbose=0).params[
        "strategy"
    ] == "epoch"
    four = _conv_model().fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert four.params["strategy"] == "epoch"  # too few epochs left to use the choice
    monkeypatch.setenv(strategy.ENV, "trial")  # forced: any fit of 3 epochs of 3 steps
    assert _conv_model().fit(x, y, batch_size=16, epochs=3, verbose=0).params["strategy"] in (
        "step",
        "chunk",
    )
    assert _conv_model().fit(x, y, batch_size=16, epochs=2, verbose=0).params["strategy"] == (
        "epoch"
    )
