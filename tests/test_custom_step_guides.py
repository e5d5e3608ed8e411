"""The custom-training examples under examples/keras_guides/ (custom_fit_jax.py, gan.py,
vae.py) run end to end with only ``import lamina as keras`` and reach what they print."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDES = Path(__file__).resolve().parents[1] / "examples" / "keras_guides"

pytestmark = pytest.mark.slow


def _run(script):
    done = subprocess.run(
        [sys.executable, str(GUIDES / script)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _drop(out, label):
    first, last = map(float, re.search(label + r" ([\d.]+) -> ([\d.]+)", out).groups())
    return first, last


def test_custom_fit_jax_guide():
    out = _run("custom_fit_jax.py")
    first, last = _drop(out, r"compute_loss override: loss")
    assert last < first
    assert "keys ['loss', 'mae']" in out
    first, last = _drop(out, r"train_step: loss")
    assert last < first
    assert "metrics ['loss', 'compile_metrics']" in out
    val, ev = map(float, re.search(r"val_loss ([\d.]+); evaluate loss ([\d.]+)", out).groups())
    assert abs(val - ev) < 1e-3  # the validation and evaluate() see the same rows
    assert "predict_step: (1000, 1), within [-1, 1]: True" in out


def test_gan_guide():
    out = _run("gan.py")
    assert "noise draws: 640 for 320 steps; optimizer steps: 320 320" in out
    radius = float(re.search(r"mean radius ([\d.]+)", out).group(1))
    assert 0.5 < radius < 1.5


def test_vae_guide():
    out = _run("vae.py")
    first, last = _drop(out, r"vae total_loss:")
    assert last < first / 2
    assert "noise draws: 240 for 240 steps" in out
    mse, var = map(float, re.search(r"latent means: ([\d.]+) \(signal variance ([\d.]+)",
                                    out).groups())  # fmt: skip
    assert mse < var / 2
