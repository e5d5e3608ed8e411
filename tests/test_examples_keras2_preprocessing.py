"""The Keras 2 style preprocessing examples run end to end and reach their stated accuracy.

Each script asserts its own accuracy floor; here it runs in a fresh process (as a user would
run it) and must exit 0 and print its result.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get(
        "PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "examples" / "keras2" / script)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


@pytest.mark.slow
def test_imdb_lstm_example():
    done = _run("imdb_lstm.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "x_train shape: (1500, 40)" in done.stdout
    assert "Test accuracy:" in done.stdout


@pytest.mark.slow
def test_image_generator_cnn_example():
    done = _run("image_generator_cnn.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Test accuracy:" in done.stdout
    assert done.stdout.count("val_accuracy") == 6  # validation ran after every epoch
