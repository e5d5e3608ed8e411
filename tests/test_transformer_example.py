"""examples/keras_guides/transformer_classifier.py runs end to end with only
``import lamina as keras`` and learns its stand-in counting task well above chance."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "keras_guides"


@pytest.mark.slow
def test_transformer_classifier_example_learns():
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "transformer_classifier.py")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first, last = map(float, re.search(r"train loss: ([\d.]+) -> ([\d.]+)", done.stdout).groups())
    assert last < first / 2
    accuracy = float(re.search(r"validation accuracy: ([\d.]+)", done.stdout).group(1))
    assert accuracy > 0.7
    assert "predict: (4, 2) rows sum to 1: True" in done.stdout
