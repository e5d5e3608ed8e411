"""Output masks (``Embedding(mask_zero=True)`` → ``LSTM`` → ``Dense``) weigh the loss in fit
and evaluate, and the mean metrics in evaluate, exactly as Keras 3 on JAX does.

Keras 3's JAX trainer loses ``y_pred``'s mask on the way out of the gradient function, so the
training metrics are unmasked while the loss is masked; evaluate masks both.
"""

import numpy as np
import pytest

from tests.test_loss_semantics import _assert_same, _fit_both

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

N, T, V, C = 10, 6, 12, 4


@pytest.fixture
def padded_tokens():
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, size=(N, T)).astype("int32")
    for i, length in enumerate(rng.integers(2, T + 1, size=N)):
        x[i, length:] = 0
    y = rng.integers(0, C, size=(N, T)).astype("int32")
    return x, y


def _sequential(lib, time_distributed=False):
    dense = lib.layers.Dense(C)
    return lib.Sequential(
        [
            lib.Input((T,)),
            lib.layers.Embedding(V, 5, mask_zero=True),
            lib.layers.LSTM(7, return_sequences=True),
            lib.layers.TimeDistributed(dense) if time_distributed else dense,
        ]
    )


def _functional(lib):
    inputs = lib.Input((T,))
    h = lib.layers.Embedding(V, 5, mask_zero=True)(inputs)
    h = lib.layers.LSTM(7, return_sequences=True)(h)
    return lib.Model(inputs, lib.layers.Dense(C)(h))


def _loss(lib):
    return lib.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize(
    "make, batch_size",
    [
        (_sequential, 4),
        pytest.param(_sequential, 5, marks=pytest.mark.slow),
        pytest.param(lambda lib: _sequential(lib, True), 4, marks=pytest.mark.slow),
        pytest.param(_functional, 4, marks=pytest.mark.slow),
        pytest.param(_functional, 5, marks=pytest.mark.slow),
    ],
    ids=["sequential-4", "sequential-5", "time_distributed-4", "functional-4", "functional-5"],
)
def test_masked_sequence_labelling_matches_keras(keras, padded_tokens, make, batch_size):
    x, y = padded_tokens
    assert (x == 0).any()  # the data has masked steps
    _assert_same(_fit_both(keras, make, _loss, x, y, None, batch_size, metrics=["accuracy"]))

