"""Subprocess script for tests/test_multiprocess.py: process 1 dies after joining the job,
process 0 then trains and must exit with an error instead of waiting forever."""

import os
import sys

from lamina import distribution

distribution.initialize()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lamina.layers import Dense  # noqa: E402
from lamina.models import Sequential  # noqa: E402

if jax.process_index() == 1:
    print("process 1: failing on purpose", file=sys.stderr, flush=True)
    os._exit(3)
model = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x = np.ones((64, 3), np.float32)
model.fit(x, x[:, :1], batch_size=8, epochs=1000, verbose=0)
print("process 0: finished training, which it should not have", flush=True)
