"""Strict JAX settings for every test, and the real-Keras reference used by parity tests.

Two host CPU devices (so data-parallel code paths run), rank promotion raising, and Keras 3 on
its JAX backend as the reference implementation.  Keras's own code is run with rank promotion
allowed (it relies on it), through ``keras_ref()``.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=2").strip()
os.environ.setdefault("LAMINA_COMPILATION_CACHE", "0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def keras():
    """The real Keras 3 package on the JAX backend (test-only reference).

    Wrap calls into Keras in ``tests.helpers.keras_ref()``: Keras relies on rank promotion,
    which these tests otherwise forbid.
    """
    return pytest.importorskip("keras")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
