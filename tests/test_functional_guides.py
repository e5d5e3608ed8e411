"""The three Keras guides retold under examples/keras_guides/ run end to end with only
``import lamina as keras`` and reach what they print."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "examples" / "keras_guides"

pytestmark = pytest.mark.slow


def _run(script):
    done = subprocess.run(
        [sys.executable, str(GUIDES / script)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_guides_import_only_lamina():
    for path in GUIDES.glob("*.py"):
        text = path.read_text()
        assert "import lamina as keras" in text
        assert not re.search(r"^\s*(import|from) (keras|tensorflow)\b", text, re.M), path.name


def test_functional_api_guide():
    out = _run("functional_api.py")
    accuracy = float(re.search(r"first graph: held-out accuracy ([\d.]+)", out).group(1))
    assert accuracy > 0.9
    assert float(re.search(r"toy resnet: held-out accuracy ([\d.]+)", out).group(1)) > 0.9
    assert "one embedding table for both inputs: True" in out
    assert "feature shapes: [(2, 32), (2, 32), (2, 4)]" in out
    assert "router saved and restored: True" in out


def test_subclassing_guide():
    out = _run("subclassing.py")
    assert "running sum: [4. 4. 4. 4.] trainable weights: 0" in out
    assert "mlp block: (3, 1) weights: 4" in out
    assert "restored: True" in out
    first, last = map(float, re.search(r"vae: loss ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first
    assert float(re.search(r"held-out mse ([\d.]+)", out).group(1)) < 1.0


def test_training_and_evaluation_guide():
    out = _run("training_and_evaluation.py")
    acc = float(re.search(r"test loss, test acc: \[\s*[\d.]+\s+([\d.]+)\s*\]", out).group(1))
    assert acc > 0.9
    assert "class_output_categorical_accuracy" in out and "score_output_mae" in out
    assert "best model restored" in out
    first, last = map(float, re.search(r"first loss ([\d.]+), last loss ([\d.]+)", out).groups())
    assert last < first  # ten steps of Adam lower the loss
