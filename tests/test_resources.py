"""Resources: repeated predict/evaluate calls reuse compiled programs and do not grow memory.

``model._trace_counter`` counts traces per jitted function name ('predict', 'eval', 'train',
'train_chunk'); a retrace means a recompilation.
"""

import numpy as np
import pytest

from lamina.layers import Dense, Dropout, Input
from lamina.models import Sequential


def _model():
    model = Sequential(
        [Input((6,)), Dense(16, activation="relu"), Dropout(0.1), Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    pytest.skip("no VmRSS in /proc/self/status")


X = np.random.default_rng(0).normal(size=(100, 6)).astype("float32")
Y = (X[:, 0] > 0).astype("float32")
XE = X[:50] + np.float32(0.5)  # held-out rows (evaluating the training data warns)
YE = Y[:50]


def test_repeated_predict_and_evaluate_do_not_retrace():
    model = _model()
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    model.predict(X, verbose=0)
    model.evaluate(XE, YE, verbose=0)
    counts = dict(model._trace_counter)
    assert counts.get("predict", 0) >= 1 and counts.get("eval", 0) >= 1, counts
    for _ in range(20):
        model.predict(X, verbose=0)
        model.evaluate(XE, YE, verbose=0)
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)  # same shapes: no new train trace
    assert model._trace_counter == counts


def test_predict_on_many_sizes_compiles_few_shapes():
    model = _model()
    model.predict(X[:1], verbose=0)
    for n in range(1, 200, 3):
        x = np.random.default_rng(n).normal(size=(n, 6)).astype("float32")
        out = model.predict(x, verbose=0, batch_size=32)
        assert out.shape == (n, 1)
    # 67 sizes up to 199 rows: rows are bucketed to powers of two (1, 2, 4, ..., 256), so a
    # one-row predict runs one row (issue 14.2) and the shapes stay few.
    assert model._trace_counter.get("predict", 0) <= 9, model._trace_counter


def test_thousand_predicts_keep_memory_flat():
    model = _model()
    x = X[:32]
    for _ in range(100):  # warm up: compile, allocator pools, caches
        model.predict(x, verbose=0)
    before = _rss_kib()
    for _ in range(1000):
        model.predict(x, verbose=0)
    grown_mib = (_rss_kib() - before) / 1024
    assert grown_mib < 8, f"RSS grew {grown_mib:.1f} MiB over 1000 predict calls"
    assert model._trace_counter.get("predict") == 1
