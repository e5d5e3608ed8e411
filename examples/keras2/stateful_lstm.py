"""One-step-ahead forecasting of a time series with a stateful LSTM, in the Keras 2 style of
the classic tutorials: ``batch_input_shape=(1, 1, 1)``, ``stateful=True``, one ``fit`` call
per epoch with ``shuffle=False`` followed by ``model.reset_states()``, then a walk-forward
forecast in which the state carries everything seen so far.

The series is generated (no download): a noisy sine with a slow trend.  As in the tutorials it
is differenced, scaled to [-1, 1], and framed as "previous change -> next change".

Expected: the forecast's RMSE beats the persistence forecast (tomorrow = today); this seed
gives about 0.09 against 0.38.

Run:  python examples/keras2/stateful_lstm.py
"""

import math

import numpy as np

from lamina.layers import LSTM, Dense
from lamina.models import Sequential
from lamina.utils import set_random_seed

batch_size = 1
nb_epoch = 12
neurons = 4

set_random_seed(7)
rng = np.random.default_rng(7)
t = np.arange(160)
series = 10 + 0.02 * t + np.sin(t * 2 * math.pi / 12) + rng.normal(0, 0.05, t.size)

diff = np.diff(series)  # stationary changes
scale = np.abs(diff).max()
scaled = diff / scale
X, y = scaled[:-1], scaled[1:]
n_test = 24
X_train, y_train = X[:-n_test].reshape(-1, 1, 1), y[:-n_test].reshape(-1, 1)
X_test, y_test = X[-n_test:].reshape(-1, 1, 1), y[-n_test:]

model = Sequential()
model.add(LSTM(neurons, batch_input_shape=(batch_size, X_train.shape[1], X_train.shape[2]),
               stateful=True))
model.add(Dense(1))
model.compile(loss="mean_squared_error", optimizer="adam")
for _epoch in range(nb_epoch):
    model.fit(X_train, y_train, epochs=1, batch_size=batch_size, verbose=0, shuffle=False)
    model.reset_states()

# Seed the state with the whole training series, then forecast one step at a time.
model.predict(X_train, batch_size=batch_size)
predictions = []
for i in range(len(X_test)):
    yhat = model.predict(X_test[i : i + 1], batch_size=batch_size)[0, 0]
    predictions.append(series[-n_test - 1 + i] + yhat * scale)  # invert scaling, differencing

actual = series[-n_test:]
rmse = math.sqrt(np.mean((np.array(predictions) - actual) ** 2))
persistence = math.sqrt(np.mean((series[-n_test - 1 : -1] - actual) ** 2))
print(f"Test RMSE: {rmse:.3f}  (persistence: {persistence:.3f})")
assert rmse < persistence, f"the LSTM ({rmse:.3f}) should beat persistence ({persistence:.3f})"
