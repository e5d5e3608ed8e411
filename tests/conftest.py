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


@pytest.fixture(autouse=True)
def _keras_seeding_off():
    """Each test starts as a fresh process does: Keras's seeding scheme (see
    ``lamina.utils.random.user_seeded``) is on only after the test calls ``set_random_seed``."""
    from lamina.utils import random as _random

    _random._STATE["user_seeded"] = False


@pytest.fixture
def rng():
    return np.random.default_rng(0)


#: Parity tables whose every case runs in the slow set; the default run takes a fixed quarter
#: of each table's parametrized cases (chosen by a stable hash of the test id), so it stays well
#: under ten minutes on two cores while every op and layer is still compared with Keras in CI.
SAMPLED_TABLES = {
    "test_ops_numpy.py",
    "test_ops_nn.py",
    "test_backend.py",
    "test_layers_merge_act.py",
    "test_layers_attention.py",
    "test_layers_random_augmentation.py",
    "test_layers_augment_more.py",
    "test_layers_augment_more_geo.py",
    "test_layers_augment_more_policy.py",
    "test_layers_lookup.py",
    "test_api_losses_metrics.py",
    "test_layers_3d.py",
    "test_layers_more.py",
    "test_rnn_api.py",
    "test_conv_speed_paths_lowerings.py",
    "test_mixed_precision.py",
    "test_conv_lstm.py",
    "test_conv_ops.py",
    "test_optimizers.py",
    "test_losses.py",
    "test_metrics.py",
    "test_layers_rnn.py",
    "test_layers_conv.py",
    "test_activations.py",
    "test_schedules.py",
    "test_layers_more_audio.py",
    "test_initializers.py",
    "test_functional_saving.py",
    "test_fit_parity.py",
    "test_random.py",
    "test_api_optimizers.py",
    "test_layers_einsum_norm.py",
    "test_fuzz_loaders.py",
    "test_engine_recompile.py",
    "test_engine_inputs.py",
    "test_host_init.py",
}

def pytest_collection_modifyitems(config, items):
    import zlib

    from tests._slow_list import read_list

    # Tests measured too slow for the default suite (tests/slow_tests.txt) run in the slow set.
    slow = read_list()
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)
            continue
        if getattr(item, "callspec", None) is None or item.fspath.basename not in SAMPLED_TABLES:
            continue
        if zlib.crc32(item.nodeid.encode()) % 4:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report):
    """With ``LAMINA_DURATIONS_LOG=path``, appends each test phase's seconds as it ends (the
    controller's copy under pytest-xdist): a profile of the suite that survives a killed run."""
    path = os.environ.get("LAMINA_DURATIONS_LOG")
    if path and "PYTEST_XDIST_WORKER" not in os.environ and report.duration > 0.05:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{report.duration:.2f} {report.when} {report.nodeid}\n")
