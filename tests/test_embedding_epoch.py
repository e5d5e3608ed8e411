"""Issue #16: an Embedding model's compiled epoch updates its table in place.

The training step's NaN guard used to decide from the new weights, so every step wrote the new
embedding table and its Adam slots to temporaries and copied them into the loop (three copies
of the table per step: an epoch 3-5x slower than Keras-JAX's).  These tests read the compiled
epoch program (XLA's HLO text) for those copies, check that the guard still keeps the last
finite weights, and that a fit compiles its epoch program once.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lamina as K
from lamina.data.epochs import ResidentEpochs

VOCAB, DIM, TOKENS, ROWS, BATCH = 2000, 16, 8, 64, 16


def _model(optimizer="adam", loss="binary_crossentropy"):
    L = K.layers
    model = K.Sequential(
        [K.Input((TOKENS,), dtype="int32"), L.Embedding(VOCAB, DIM),
         L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    metrics = ["accuracy"] if loss == "binary_crossentropy" else []
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(ROWS, TOKENS)).astype("int32")
    y = rng.integers(0, 2, size=(ROWS,)).astype("float32")
    return x, y


def _epoch_hlo(model, x, y):
    """The optimized HLO text of the model's whole-epoch program."""
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # builds the state
    program = model._get_program()
    source = ResidentEpochs((x, (y,), np.ones(ROWS, "float32")), batch_size=BATCH, shuffle=True)
    ts = model._train_state
    lowered = program.train_epoch.lower(
        ts, ts.rng, source.data, n=ROWS, batch_size=BATCH, shuffle=source._mode
    )
    return lowered.compile().as_text()


def _table_copies(hlo: str) -> int:
    """HLO ``copy`` instructions producing an array of the embedding table's shape."""
    pattern = re.compile(rf"= f32\[{VOCAB},{DIM}\]\{{[0-9,]*\}} copy\(")
    return sum(1 for line in hlo.splitlines() if pattern.search(line))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_epoch_program_does_not_copy_the_embedding_table(optimizer):
    x, y = _data()
    hlo = _epoch_hlo(_model(optimizer), x, y)
    assert "while" in hlo  # the epoch is one loop: the copies would sit in its body
    assert f"f32[{VOCAB},{DIM}]" in hlo
    # Before the fix: 3 with Adam (table, first and second moments), 1 with SGD.
    assert _table_copies(hlo) == 0


def test_a_non_finite_step_still_keeps_the_last_finite_table():
    """The guard now decides before the update: an infinite loss (and gradients) in the second
    batch leaves the weights after the first one, those of a fit stopped there."""
    x, y = _data()
    y_bad = y.copy()
    y_bad[BATCH + 3] = 1e30  # squares to inf in the second batch's loss

    K.utils.set_random_seed(3)
    reference = _model("sgd", "mse")
    reference.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    K.utils.set_random_seed(3)
    model = _model("sgd", "mse")
    with pytest.warns(RuntimeWarning, match=r"The loss became NaN or infinite at epoch 1, batch 1"):
        model.fit(x, y_bad, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_a_fit_compiles_its_epoch_program_once():
    """The first epoch's shuffle key (uncommitted) and the later ones (committed outputs of
    the epoch program) used to compile the epoch program twice per fit."""
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0)
    assert model._get_program().train_epoch._cache_size() == 1


def test_non_finite_weights_from_finite_gradients_stop_the_fit_and_say_so():
    """Non-finite weights from a finite loss and gradients (here a constraint dividing by
    zero) are found after the in-place update: the fit stops and the warning says the update
    was applied, not that the previous weights were kept."""
    L = K.layers

    class DivideByZero(K.constraints.Constraint):
        def __call__(self, w):
            return w / 0.0

    x, y = _data()
    model = K.Sequential(
        [K.Input((TOKENS,), dtype="int32"), L.Embedding(VOCAB, DIM),
         L.GlobalAveragePooling1D(),
         L.Dense(1, activation="sigmoid", kernel_constraint=DivideByZero())]
    )  # fmt: skip
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.warns(RuntimeWarning, match=r"updated weights became NaN .* batch 0: .* applied"):
        history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
    assert not np.isfinite(model.get_weights()[1]).all()
