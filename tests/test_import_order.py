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


def test_lazy_featurespace_is_listed_and_loads():
    # FeatureSpace loads on first use (it builds on lamina.layers); dir() and documentation
    # tools must still see it, and attribute access must return the class.
    import lamina.utils

    assert "FeatureSpace" in dir(lamina.utils)
    assert "FeatureSpace" in lamina.utils.__all__
    assert lamina.utils.FeatureSpace.__name__ == "FeatureSpace"
