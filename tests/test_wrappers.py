"""scikit-learn wrappers: parameters, Pipeline, cross_val_score, GridSearchCV."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lamina.datasets import load_iris, load_pima
from lamina.layers import Dense
from lamina.models import Sequential
from lamina.utils import set_random_seed
from lamina.wrappers import SKLearnClassifier, SKLearnRegressor


@pytest.fixture(autouse=True)
def _seeded():
    """A fixed start for every test: the accuracy bounds must not depend on luck."""
    set_random_seed(0)


def build_softmax(hidden=8, n_classes=3):
    model = Sequential([Dense(hidden, activation="relu"), Dense(n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_sigmoid(X, y, hidden=8):  # Keras 3 style: receives the data first
    model = Sequential(
        [Dense(hidden, input_dim=X.shape[1], activation="relu"), Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_regressor(hidden=8):
    model = Sequential([Dense(hidden, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_params_route_and_clone():
    clf = SKLearnClassifier(build_softmax, hidden=4, epochs=3, batch_size=16)
    params = clf.get_params()
    assert params["hidden"] == 4 and params["epochs"] == 3 and params["model"] is build_softmax
    clf.set_params(hidden=16, verbose=0)
    _, build, fit = clf._routed()
    assert build == {"hidden": 16} and fit == {"epochs": 3, "batch_size": 16, "verbose": 0}
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin is not clf


def test_string_labels_predict_and_proba():
    X, y = load_iris()
    names = np.array(load_iris.classes)[y]
    X = (X - X.mean(0)) / X.std(0)
    clf = SKLearnClassifier(build_softmax, epochs=40, batch_size=8).fit(X, names)
    assert list(clf.classes_) == sorted(set(names))
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(names)
    assert clf.score(X, names) > 0.7


def test_binary_sigmoid_proba_has_two_columns():
    X, y = load_pima()
    clf = make_pipeline(StandardScaler(), SKLearnClassifier(build_sigmoid, epochs=20))
    clf.fit(X[:400], y[:400])
    proba = clf.predict_proba(X[400:])
    assert proba.shape == (368, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert 0.5 < clf.score(X[400:], y[400:]) <= 1.0


def test_cross_val_score_regressor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype("float32")
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    scores = cross_val_score(
        SKLearnRegressor(build_regressor, hidden=16, epochs=60, batch_size=8), X, y, cv=KFold(2)
    )
    assert scores.shape == (2,) and np.all(scores > 0.5)  # R^2


@pytest.mark.slow
def test_grid_search_over_hidden_sizes():
    X, y = load_iris()
    pipe = make_pipeline(
        StandardScaler(), SKLearnClassifier(build_softmax, epochs=15, batch_size=8)
    )
    search = GridSearchCV(pipe, {"sklearnclassifier__hidden": [2, 16]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["sklearnclassifier__hidden"] in (2, 16)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.score(X, y) > 0.5


def test_builder_must_compile():
    def raw(hidden=4):
        return Sequential([Dense(hidden), Dense(1)])

    with pytest.raises(ValueError, match="compiled model"):
        SKLearnRegressor(raw).fit(np.ones((4, 2)), np.ones(4))
