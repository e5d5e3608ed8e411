"""Guardrail warnings: each fires with its fix, and the switches turn them off."""

import warnings

import numpy as np
import pytest

import lamina.config
from lamina.layers import Activation, Dense
from lamina.models import Sequential
from lamina.training.guardrails import GuardrailWarning


@pytest.fixture(autouse=True)
def _default_switch(monkeypatch):
    monkeypatch.delenv("LAMINA_GUARDRAILS", raising=False)
    lamina.config.set_guardrails(None)
    yield
    lamina.config.set_guardrails(None)


def _mlp(units, activation, as_layer=False):
    if as_layer:
        return Sequential([Dense(4, input_dim=3), Dense(units), Activation(activation)])
    return Sequential([Dense(4, input_dim=3), Dense(units, activation=activation)])


def _no_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error", GuardrailWarning)
        fn()


@pytest.mark.parametrize("as_layer", [False, True])
def test_softmax_over_one_unit(as_layer):
    model = _mlp(1, "softmax", as_layer)
    with pytest.warns(GuardrailWarning, match=r"softmax over 1 unit.*sigmoid"):
        model.compile(optimizer="adam", loss="binary_crossentropy")


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_categorical_crossentropy_without_softmax(activation):
    model = _mlp(3, activation)
    with pytest.warns(GuardrailWarning, match=f"categorical_crossentropy.*'{activation}'.*softmax"):
        model.compile(optimizer="adam", loss="categorical_crossentropy")


def test_linear_with_from_logits_is_fine():
    from lamina.losses import CategoricalCrossentropy

    model = _mlp(3, "linear")
    _no_warning(
        lambda: model.compile(optimizer="adam", loss=CategoricalCrossentropy(from_logits=True))
    )


def test_softmax_with_binary_crossentropy():
    model = _mlp(3, "softmax")
    with pytest.warns(GuardrailWarning, match="binary_crossentropy with a softmax over 3 units"):
        model.compile(optimizer="adam", loss="binary_crossentropy")


def test_mse_with_accuracy_names_the_accuracy():
    model = _mlp(1, "sigmoid", as_layer=True)
    with pytest.warns(GuardrailWarning, match="'accuracy' resolves to BinaryAccuracy"):
        model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    model = _mlp(3, "softmax")
    with pytest.warns(GuardrailWarning, match="SparseCategoricalAccuracy"):
        model.compile(optimizer="sgd", loss="mse", metrics=["acc"])


def test_good_models_compile_silently():
    _no_warning(
        lambda: _mlp(1, "sigmoid").compile(
            optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"]
        )
    )
    _no_warning(
        lambda: _mlp(3, "softmax").compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    )
    _no_warning(lambda: _mlp(1, "linear").compile(optimizer="adam", loss="mse", metrics=["mae"]))


def test_class_labels_with_regression_loss():
    model = _mlp(1, "linear")
    model.compile(optimizer="adam", loss="mse")
    X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = np.arange(40) % 3
    with pytest.warns(
        GuardrailWarning, match=r"look like class labels \(3 distinct integers: 0, 1, 2\)"
    ):
        model.fit(X, y, epochs=1, verbose=0)
    _no_warning(lambda: model.fit(X, X[:, 0] * 1.5, epochs=1, verbose=0))


def test_evaluate_on_training_data():
    model = _mlp(1, "sigmoid")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    model.fit(X, y, epochs=1, verbose=0)
    with pytest.warns(GuardrailWarning, match="this estimates fit, not performance on unseen data"):
        model.evaluate(X, y, verbose=0)
    _no_warning(lambda: model.evaluate(X[:20] + 1.0, y[:20], verbose=0))


def test_warning_points_at_the_callers_line():
    model = _mlp(1, "softmax")
    with pytest.warns(GuardrailWarning) as rec:
        model.compile(optimizer="adam", loss="binary_crossentropy")
    assert rec[0].filename == __file__


def test_switched_off_in_code():
    lamina.config.set_guardrails(False)
    assert not lamina.config.guardrails_enabled()
    _no_warning(lambda: _mlp(1, "softmax").compile(optimizer="adam", loss="binary_crossentropy"))


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv("LAMINA_GUARDRAILS", "0")
    _no_warning(lambda: _mlp(1, "softmax").compile(optimizer="adam", loss="binary_crossentropy"))
    lamina.config.set_guardrails(True)  # code wins over the environment
    with pytest.warns(GuardrailWarning):
        _mlp(1, "softmax").compile(optimizer="adam", loss="binary_crossentropy")


def test_set_guardrails_type_check():
    with pytest.raises(TypeError, match="True, False or None"):
        lamina.config.set_guardrails("off")
