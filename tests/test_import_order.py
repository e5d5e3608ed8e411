"""Every public subpackage imports first in a fresh process (no circular-import order)."""

import subprocess
import sys

import pytest

MODULES = [
    "activations", "applications", "callbacks", "constraints", "initializers", "layers",
    "losses", "metrics", "models", "ops", "optimizers", "regularizers", "saving", "utils",
    "wrappers",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_subpackage_imports_first(name):
    done = subprocess.run(
        [sys.executable, "-c", f"import lamina.{name}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
