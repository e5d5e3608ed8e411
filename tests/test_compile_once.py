"""Compile means compile: each function is traced once, however many epochs, calls and sizes."""

import numpy as np
import pytest

from lamina.layers import Dense, Dropout
from lamina.models import Sequential

# Evaluating on the training data is the point here: silence that guardrail.
pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _model():
    model = Sequential(
        [
            Dense(12, input_dim=8, activation="relu"),
            Dropout(0.1),
            Dense(8, activation="relu"),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def test_fit_evaluate_and_two_predicts_compile_each_function_once():
    model = _model()
    x, y = _data(103)  # not a multiple of the batch size: the last batch is padded, not recompiled
    model.fit(x, y, batch_size=10, epochs=3, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    assert model._trace_counter == {"train": 1, "eval": 1, "predict": 1}


def test_second_fit_with_same_shapes_does_not_recompile():
    model = _model()
    x, y = _data(64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert model._trace_counter["train"] == 1


def test_predict_on_many_sizes_compiles_a_few_buckets():
    model = _model()
    model.build((None, 8))
    for n in range(1, 200, 7):  # 29 different sizes
        out = model.predict(_data(n)[0], batch_size=32, verbose=0)
        assert out.shape == (n, 1)
    # Rows are padded to powers of two (1, 8, 16, ..., 256 here): one shape per power of two,
    # and a one-row predict runs one row (issue 14.2), not a padded batch of 32.
    assert model._trace_counter["predict"] <= 7


def test_compile_time_is_reported_in_history_params():
    model = _model()
    history = model.fit(*_data(50), epochs=2, verbose=0)
    assert history.params["compile_time"] >= 0.0
    assert set(history.params) >= {"verbose", "epochs", "steps"}
