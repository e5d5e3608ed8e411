"""``evaluate()`` of a multi-output functional model returns its list in Keras 3's order
(issue #14): the loss, each output's loss, then the per-output metrics sorted by name
(``Trainer._flatten_metrics_in_order``).  Reference: real Keras 3 on JAX."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")


def _two_outputs(K):
    inp = K.Input((4,))
    h = K.layers.Dense(3, name="h")(inp)
    return K.Model(inp, [K.layers.Dense(1, name="a")(h), K.layers.Dense(2, name="b")(h)])


@pytest.mark.parametrize(
    "compile_kw",
    [
        {"loss": ["mse", "mae"], "metrics": [["mae"], ["mse", "mae"]]},
        {"loss": {"a": "mse", "b": "mae"}, "metrics": {"b": ["mse", "mae"], "a": ["mae"]}},
    ],
)
def test_multi_output_evaluate_list_is_in_keras_order(keras, compile_kw):
    rng = np.random.default_rng(0)
    x = rng.random((16, 4)).astype("float32")
    ys = [rng.random((16, 1)).astype("float32"), rng.random((16, 2)).astype("float32")]
    with keras_ref():
        km = _two_outputs(keras)
        km.compile("sgd", **compile_kw)
        expected = km.evaluate(x, ys, verbose=0)
    lm = _two_outputs(lamina)
    lm.set_weights(km.get_weights())
    lm.compile("sgd", **compile_kw)
    got = lm.evaluate(x, ys, verbose=0)
    assert len(got) == len(expected) == 6
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    by_name = lm.evaluate(x, ys, verbose=0, return_dict=True)
    np.testing.assert_allclose(got, [by_name[k] for k in lm.metrics_names], rtol=1e-6)
