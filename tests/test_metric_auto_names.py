"""Automatic metric names across models: ``compile(metrics=["auc"])`` makes one ``AUC`` when
its compiled metrics are built, as Keras does, so a later ``AUC()`` (a notebook's second model)
logs under Keras's name (``val_auc_3``, not a name further along).  Both libraries start from
``clear_session()``."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _run(K, functional):
    """Two models trained in a row; returns each fit's History keys and a later metric name."""
    K.backend.clear_session()  # automatic names count from the start in both libraries
    x = np.random.default_rng(0).random((40, 4)).astype("float32")
    y = (x[:, :1] > 0.5).astype("float32")
    x, y, x_test, y_test = x[:32], y[:32], x[32:], y[32:]
    out = []
    for _ in range(2):
        if functional:
            inputs = K.Input((4,))
            model = K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(inputs))
        else:
            model = K.Sequential([K.Input((4,)), K.layers.Dense(1, activation="sigmoid")])
        metrics = ["auc", "AUC", K.metrics.AUC(), "precision", K.metrics.Recall()]
        model.compile("adam", "binary_crossentropy", metrics=metrics)
        out.append(f"compiled {K.metrics.AUC().name}")
        history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
        out.append(sorted(history.history))
        model.evaluate(x_test, y_test, verbose=0)
        model.compile("adam", "binary_crossentropy", metrics=["auc"])
        out.append(f"recompiled {K.metrics.AUC().name}")
        model.evaluate(x_test, y_test, verbose=0)
        out.append(f"evaluated {K.metrics.AUC().name} {K.metrics.Precision().name}")
    return out


@pytest.mark.parametrize("functional", [False, True])
def test_string_metrics_count_one_automatic_name_per_compile(keras, functional):
    with keras_ref():
        want = _run(keras, functional)
    got = _run(lamina, functional)
    assert got == want
