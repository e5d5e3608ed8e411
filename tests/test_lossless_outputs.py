"""``compile(loss=[fn, None])``: an output without a loss takes no target (the keras.io
miniature GPT returns ``[logits, hidden]`` and fits on one target array)."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.arange(16 * 6).reshape(16, 6) % 20
Y = (X * 7 + 3) % 20


def _model(k):
    inputs = k.Input((6,), dtype="int32")
    hidden = k.layers.Embedding(20, 8)(inputs)
    logits = k.layers.Dense(20)(hidden)
    model = k.Model(inputs, [logits, hidden])
    model.compile(
        k.optimizers.SGD(0.1),
        loss=[k.losses.SparseCategoricalCrossentropy(from_logits=True), None],
    )
    return model


@pytest.mark.parametrize("targets", ["one", "with_none"])
def test_fit_and_evaluate_pair_targets_with_the_outputs_that_have_a_loss(keras, targets):
    y = Y if targets == "one" else [Y, None]
    with keras_ref():
        ref = _model(keras)
        weights = ref.get_weights()
        ref_hist = ref.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        ref_eval = ref.evaluate(X, Y, verbose=0)
    model = _model(lamina)
    model.set_weights(weights)
    hist = model.fit(X, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(hist) == sorted(ref_hist) == ["loss"]
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), ref_eval, rtol=1e-5)
