"""The Keras 1/2 style examples (grid search, stateful LSTM, Keras 1 Convolution2D net) run
end to end in a fresh process and reach the result each script asserts for itself."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get(
        "PYTHONPATH", "")}  # fmt: skip
    return subprocess.run([sys.executable, str(ROOT / "examples" / "keras2" / script)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)  # fmt: skip


@pytest.mark.slow
def test_sklearn_grid_search_example():
    pytest.importorskip("sklearn")
    done = _run("sklearn_grid_search.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Standardized:" in done.stdout and "Best:" in done.stdout
    assert done.stdout.count(" with: {") == 4  # every grid point was scored


@pytest.mark.slow
def test_stateful_lstm_example():
    done = _run("stateful_lstm.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Test RMSE:" in done.stdout


@pytest.mark.slow
def test_keras1_convolution2d_example():
    done = _run("mnist_convolution2d.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "X_train shape: (1437, 1, 8, 8)" in done.stdout
    assert "Test accuracy:" in done.stdout
    assert "val_accuracy" in done.stdout  # validation_data ran every epoch
