"""``.numpy()`` on eager results, as tf.keras code reads them (TensorFlow's beginner
quickstart: ``predictions = model(x_train[:1]).numpy()``, ``loss_fn(y, predictions).numpy()``).

Keras 3 on JAX returns JAX arrays there, which have no ``numpy()``; the reference values are
Keras's arrays converted with ``np.asarray``.
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _quickstart(lib):
    lib.utils.set_random_seed(0)
    return lib.models.Sequential(
        [
            lib.layers.Flatten(input_shape=(28, 28)),
            lib.layers.Dense(128, activation="relu"),
            lib.layers.Dropout(0.2),
            lib.layers.Dense(10),
        ]
    )


def test_tensorflow_quickstart_reads_eager_results_with_numpy(keras):
    rng = np.random.default_rng(0)
    x_train = rng.random((4, 28, 28)).astype("float32")
    y_train = np.array([3, 1, 4, 1])
    model = _quickstart(lamina)
    predictions = model(x_train[:1]).numpy()
    assert isinstance(predictions, np.ndarray) and predictions.shape == (1, 10)
    loss_fn = lamina.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss = loss_fn(y_train[:1], predictions).numpy()
    probs = lamina.activations.softmax(lamina.ops.convert_to_tensor(predictions)).numpy()
    with keras_ref():
        ref = _quickstart(keras)
        ref.set_weights(model.get_weights())
        ref_pred = np.asarray(ref(x_train[:1]))
        ref_loss = np.asarray(
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_train[:1], ref_pred)
        )
    np.testing.assert_allclose(predictions, ref_pred, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(loss, -np.log(probs[0, 3]), rtol=1e-5)


def test_layers_ops_metrics_and_backend_results_have_numpy():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    norm = lamina.layers.Normalization(mean=1.0, variance=4.0)
    np.testing.assert_allclose(norm(x).numpy(), (x - 1.0) / 2.0)
    assert lamina.ops.sum(x).numpy() == 15.0
    metric = lamina.metrics.Mean()
    metric.update_state(x)
    assert metric.result().numpy() == pytest.approx(2.5)
    assert lamina.backend.constant([1.0, 2.0]).numpy().tolist() == [1.0, 2.0]


def test_traced_values_have_no_numpy_as_inside_a_tf_function():
    @jax.jit
    def f(v):
        return v.numpy()

    with pytest.raises(AttributeError, match="numpy"):
        f(np.ones(2, "float32"))


def test_import_leaves_the_backend_unstarted_for_distributed_initialize():
    """``jax.distributed.initialize`` (multi-process training) and device-count settings must
    come before JAX starts its backend; ``import lamina`` (which adds ``numpy()``) must not
    start it, nor may importing its modules.  ``jax_num_cpu_devices`` raises once the backend has started."""
    import subprocess
    import sys

    code = (
        "import lamina, jax, numpy as np\n"
        "import lamina.utils, lamina.layers, lamina.models, lamina.distribution\n"
        "jax.config.update('jax_num_cpu_devices', 3)\n"
        "out = lamina.layers.Dense(2, kernel_initializer='ones')(np.ones((1, 3), 'float32'))\n"
        "print(jax.device_count(), type(out.numpy()).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "ndarray"]
