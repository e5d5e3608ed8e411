"""``lamina demo``: the seed's five-step life cycle on the shipped Pima Indians diabetes data.

No arguments, no network, a few seconds: standardize the inputs, hold out rows, then
1. define the network, 2. compile it, 3. fit it, 4. evaluate it on the held-out rows and
5. predict and round the probabilities to classes.

>>> from lamina.cli.demo import run_demo  # doctest: +SKIP
>>> accuracy = run_demo(epochs=5)          # doctest: +SKIP
"""

from __future__ import annotations

import time

import numpy as np

#: Rows held out for Step 4 (the last ones of the file).
HOLDOUT = 168


def run_demo(epochs: int = 100, seed: int = 7, print_fn=print) -> float:
    """Runs the five steps, printing each step's result; returns the held-out accuracy.

    Args:
        epochs: training epochs (Step 3).
        seed: the random seed (weights and shuffling).
        print_fn: where each line goes.
    """
    from lamina.datasets import load_pima
    from lamina.layers import Activation, Dense
    from lamina.models import Sequential
    from lamina.utils import set_random_seed

    start = time.perf_counter()
    set_random_seed(seed)
    X_all, y_all = load_pima()
    X_all = (X_all - X_all.mean(0)) / X_all.std(0)
    X, y = X_all[:-HOLDOUT], y_all[:-HOLDOUT]
    X_test, y_test = X_all[-HOLDOUT:], y_all[-HOLDOUT:]
    print_fn(
        f"Data: Pima Indians diabetes, {len(X_all)} rows x {X_all.shape[1]} inputs, "
        f"standardized; {len(X)} rows to train, {len(X_test)} held out."
    )

    print_fn("\nStep 1. Define Network")
    model = Sequential()
    model.add(Dense(12, input_dim=8))
    model.add(Activation("relu"))
    model.add(Dense(8))
    model.add(Activation("relu"))
    model.add(Dense(1))
    model.add(Activation("sigmoid"))
    model.summary(print_fn=print_fn)

    print_fn("\nStep 2. Compile Network")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    print_fn("  model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])")

    print_fn("\nStep 3. Fit Network")
    history = model.fit(X, y, batch_size=10, epochs=epochs, verbose=0)
    h = history.history
    print_fn(
        f"  {epochs} epochs, batch_size=10: loss {h['loss'][0]:.4f} -> {h['loss'][-1]:.4f}, "
        f"accuracy {h['accuracy'][0]:.4f} -> {h['accuracy'][-1]:.4f}"
    )

    print_fn("\nStep 4. Evaluate Network (on the held-out rows)")
    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    print_fn(f"  loss {loss:.4f} - accuracy {accuracy:.4f}")

    print_fn("\nStep 5. Make Predictions")
    predictions = model.predict(X_test, verbose=0)
    rounded = np.round(predictions).astype(int)[:, 0]
    print_fn(f"  probabilities: {[round(float(p), 3) for p in predictions[:5, 0]]}")
    print_fn(f"  rounded:       {rounded[:5].tolist()}   actual: {y_test[:5].tolist()}")
    held_out = float((rounded == y_test).mean())
    print_fn(
        f"\nHeld-out accuracy: {held_out:.4f} ({int((rounded == y_test).sum())}/{len(y_test)} "
        f"rows) in {time.perf_counter() - start:.1f}s"
    )
    return held_out
