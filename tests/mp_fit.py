"""Subprocess script for tests/test_multiprocess.py: one small fit, results printed as JSON.

Run alone it trains on one device; run as several processes (``lamina launch -n 2`` or the
LAMINA_* environment) it joins them first and trains data-parallel.  Prints one JSON line
(or writes it to ``--out DIR/result-<process>.json``).
"""

import argparse
import json
import os

import lamina
from lamina import distribution

distribution.initialize()

import jax
import numpy as np

from lamina.layers import Dense, Dropout
from lamina.models import Sequential

jax.config.update("jax_numpy_rank_promotion", "raise")
parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--epochs", type=int, default=3)
opts = parser.parse_args()

rng = np.random.default_rng(0)
x = rng.normal(size=(203, 6)).astype("float32")
y = (x[:, :3].sum(1) > 0).astype("float32") + (x[:, 3] > 0.5)
lamina.utils.set_random_seed(1)
model = Sequential(
    [Dense(12, activation="relu", input_shape=(6,)), Dropout(0.25), Dense(3, activation="softmax")]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=16, epochs=opts.epochs, validation_split=0.2, shuffle=True)
result = {
    "process": jax.process_index(),
    "process_count": jax.process_count(),
    "devices": jax.device_count(),
    "weights": [w.tolist() for w in model.get_weights()],
    "history": history.history,
    "evaluate": model.evaluate(x, y, batch_size=32, verbose=0),
    "predict": model.predict(x, batch_size=32, verbose=0).tolist(),
}
text = json.dumps(result)
if opts.out:
    with open(os.path.join(opts.out, f"result-{jax.process_index()}.json"), "w") as f:
        f.write(text)
else:
    print("RESULT " + text, flush=True)
