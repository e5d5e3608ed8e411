"""Tuning a Keras 2 model with scikit-learn, as the Keras 2 tutorials did it.

``KerasClassifier(build_fn=create_model, epochs=..., batch_size=..., verbose=0)`` inside a
``Pipeline`` with ``StandardScaler``; ``cross_val_score`` over stratified folds first, then a
``GridSearchCV`` over the optimizer and the hidden layer's size, whose ``sk_params`` reach
``create_model`` by name.  The data is the UCI sonar set shipped with Lamina (mines vs rocks,
60 inputs, string labels ``M``/``R`` encoded with ``LabelEncoder``).

Expected: a cross-validated accuracy of at least 0.65 (about 0.8) and a best grid score above
0.65.

Run:  python examples/keras2/sklearn_grid_search.py
"""

import csv

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler

from lamina.datasets import path
from lamina.layers import Dense
from lamina.models import Sequential
from lamina.utils import set_random_seed
from lamina.wrappers.scikit_learn import KerasClassifier

seed = 7
set_random_seed(seed)

with open(path("sonar"), newline="") as f:
    rows = [r for r in csv.reader(f) if r]
X = np.array([r[:60] for r in rows], dtype="float32")
encoder = LabelEncoder()
Y = encoder.fit_transform([r[60] for r in rows])  # 'M'/'R' -> 0/1


def create_model(optimizer="adam", hidden=30):
    model = Sequential()
    model.add(Dense(hidden, input_dim=60, kernel_initializer="normal", activation="relu"))
    model.add(Dense(1, kernel_initializer="normal", activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


estimators = [
    ("standardize", StandardScaler()),
    ("mlp", KerasClassifier(build_fn=create_model, epochs=40, batch_size=16, verbose=0)),
]
pipeline = Pipeline(estimators)
kfold = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
results = cross_val_score(pipeline, X, Y, cv=kfold)
print(f"Standardized: {results.mean() * 100:.2f}% ({results.std() * 100:.2f}%)")

param_grid = {"mlp__optimizer": ["rmsprop", "adam"], "mlp__hidden": [10, 30]}
grid = GridSearchCV(pipeline, param_grid=param_grid, cv=kfold, n_jobs=1)
grid_result = grid.fit(X, Y)
print(f"Best: {grid_result.best_score_:f} using {grid_result.best_params_}")
for mean, std, params in zip(grid_result.cv_results_["mean_test_score"],
                             grid_result.cv_results_["std_test_score"],
                             grid_result.cv_results_["params"]):
    print(f"{mean:f} ({std:f}) with: {params}")

assert results.mean() >= 0.65, f"cross-validated accuracy {results.mean():.3f} below 0.65"
assert grid_result.best_score_ > 0.65, f"best grid score {grid_result.best_score_:.3f}"
