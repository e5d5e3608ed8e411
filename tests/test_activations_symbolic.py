"""``keras.activations.*`` called on symbolic tensors build functional models as in Keras
(keras.io's memory-efficient embeddings: ``sigmoid(logits) * 5``), with the same outputs;
the ones Keras computes with one op save as that op and load in Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

CALLS = {
    "sigmoid": lambda A, t: A.sigmoid(t) * 5.0,
    "relu": lambda A, t: A.relu(t),
    "relu_max": lambda A, t: A.relu(t, max_value=0.5),
    "softmax": lambda A, t: A.softmax(t, axis=-1),
    "elu": lambda A, t: A.elu(t, alpha=0.5),
    "gelu": lambda A, t: A.gelu(t),
    "get_swish": lambda A, t: A.get("swish")(t),
    "leaky_relu": lambda A, t: A.leaky_relu(t, negative_slope=0.1),
    "log_softmax": lambda A, t: A.log_softmax(t),
    "linear": lambda A, t: A.linear(t),
}


def _model(K, call):
    inputs = K.Input((4,))
    return K.Model(inputs, call(K.activations, K.layers.Dense(3, name="d")(inputs)))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_activation_on_a_symbolic_tensor_matches_keras(keras, name):
    x = np.linspace(-2, 2, 8, dtype="float32").reshape(2, 4)
    with keras_ref():
        ref = _model(keras, CALLS[name])
        weights = ref.get_weights()
        want = ref.predict(x, verbose=0)
    ours = _model(lamina, CALLS[name])
    ours.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sigmoid", "elu", "softmax", "leaky_relu"])
def test_activation_nodes_save_as_keras_ops(keras, name, tmp_path):
    x = np.linspace(-2, 2, 8, dtype="float32").reshape(2, 4)
    ours = _model(lamina, CALLS[name])
    want = ours.predict(x, verbose=0)
    ours.save(tmp_path / "m.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_mish_on_a_symbolic_tensor_runs():
    """Keras's JAX backend refuses ``activations.mish(KerasTensor)``; here it records the
    activation (runs and predicts; not saveable as a Keras op)."""
    ours = _model(lamina, lambda A, t: A.mish(t))
    ours.set_weights([np.eye(4, 3, dtype="float32"), np.zeros(3, "float32")])
    x = np.linspace(-2, 2, 8, dtype="float32").reshape(2, 4)
    h = x[:, :3]
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), h * np.tanh(np.log1p(np.exp(h))), rtol=1e-5, atol=1e-6
    )
